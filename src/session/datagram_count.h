// Numbered DATAGRAMs (a test stream: each payload starts with its 8-byte big-endian sequence
// number) as counted on arrival, to show a path, or a change of path, loses and repeats none.
#pragma once

#include <cstdint>
#include <vector>

#include "wire/bytes.h"

namespace natpunch {

// How many distinct ones, how many came twice, the highest sequence number seen + 1 (so missing =
// highest - received). Sequence numbers from kMaxCountedDatagrams up, and payloads shorter than 8
// bytes, are not counted (memory stays bounded).
struct DatagramCount {
  std::uint64_t sent = 0;      // the sender's side: accepted by the session
  std::uint64_t refused = 0;   // the sender's side: refused (queue full, no DATAGRAM support)
  std::uint64_t received = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t highest = 0;
  std::vector<bool> seen;      // by sequence number (bounded: kMaxCountedDatagrams)
  void count(ByteView payload);
};
inline constexpr std::uint64_t kMaxCountedDatagrams = 1u << 20;
// The payload of datagram `seq` (8 bytes).
Bytes numbered_datagram(std::uint64_t seq);

}  // namespace natpunch
