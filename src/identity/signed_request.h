// Signed natpunch requests (NP-REGISTER, NP-CONNECT): the sender appends, before FINGERPRINT,
//   [NONCE]          the server's nonce for this source address (RFC 8489 §14.10 syntax), which
//                    proves the sender receives at the address it sends from and stops replays
//                    from anywhere else
//   NP-PUBLIC-KEY    its Ed25519 identity key (32 bytes)
//   NP-SIGNATURE     Ed25519 over the message up to this attribute, with the header's length field
//                    counting through NP-SIGNATURE (as MESSAGE-INTEGRITY, RFC 8489 §14.5)
// Only FINGERPRINT may follow NP-SIGNATURE: anything else would not be covered.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "identity/device_key.h"
#include "wire/bytes.h"
#include "wire/message.h"

namespace natpunch {

// Re-finishes a complete request (ending in FINGERPRINT) as a signed one. Empty when `finished`
// does not end in a FINGERPRINT attribute or the nonce is longer than RFC 8489 allows (763 bytes).
Bytes sign_request(ByteView finished, const DeviceKey& key, std::optional<std::string_view> nonce);

enum class SignatureState : std::uint8_t {
  Unsigned,  // no NP-SIGNATURE
  Valid,     // NP-PUBLIC-KEY and NP-SIGNATURE present, and the signature verifies
  Invalid,   // malformed key or signature, something other than FINGERPRINT after it, or no match
};

struct SignatureCheck {
  SignatureState state = SignatureState::Unsigned;
  PublicKey key{};                   // when Valid
  std::optional<std::string> nonce;  // the NONCE the signature covers, when Valid and present
};

SignatureCheck check_signature(const MessageView& m);

}  // namespace natpunch
