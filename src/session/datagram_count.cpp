#include "session/datagram_count.h"

#include <algorithm>

namespace natpunch {

void DatagramCount::count(ByteView payload) {
  if (payload.size() < 8) return;  // not one of the numbered ones
  std::uint64_t seq = 0;
  for (int i = 0; i < 8; ++i) seq = (seq << 8) | static_cast<std::uint8_t>(payload[static_cast<std::size_t>(i)]);
  if (seq >= kMaxCountedDatagrams) return;
  if (seen.size() <= seq) seen.resize(seq + 1, false);
  if (seen[seq]) {
    ++duplicates;
    return;
  }
  seen[seq] = true;
  ++received;
  highest = std::max(highest, seq + 1);
}

Bytes numbered_datagram(std::uint64_t seq) {
  Bytes out(8);
  for (std::size_t i = 0; i < 8; ++i) out[i] = std::byte(seq >> (56 - 8 * i));
  return out;
}

}  // namespace natpunch
