// What fuzz targets of natpunch's clients share: a fuzzed STUN-looking answer is given the
// transaction ID of a request the client has pending (else the client drops it at the transaction
// check, and the code behind it is never reached), and its FINGERPRINT, when it ends with one, is
// computed again for the new bytes.
#pragma once

#include <algorithm>

#include "wire/bytes.h"
#include "wire/fingerprint.h"
#include "wire/message.h"

namespace natpunch::fuzz {

// `d` is at least a STUN header (20 bytes).
inline void answer_transaction(Bytes& d, const TransactionId& t) {
  std::copy(t.begin(), t.end(), d.begin() + 8);
  if (d.size() >= 28 && d[d.size() - 8] == std::byte{0x80} && d[d.size() - 7] == std::byte{0x28}) {
    auto fp = fingerprint_value(ByteView(d).first(d.size() - 8), static_cast<std::uint16_t>(d.size() - 20));
    for (int k = 0; k < 4; ++k) d[d.size() - 4 + k] = std::byte(static_cast<std::uint8_t>(fp >> (24 - 8 * k)));
  }
}

}  // namespace natpunch::fuzz
