// Port allocation analysis: from the mappings a NAT created, in the order it created them, whether
// it keeps the inside port, counts up (or down) by a constant step, or picks ports at random — the
// part of a NAT's behaviour that port prediction and the birthday method depend on. Logic only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "wire/address.h"
#include "wire/nat_behavior.h"

namespace natpunch {

// One flow (inside socket → destination) and the outside address the server saw it from.
struct MappingSample {
  std::size_t socket = 0;        // inside socket (index of the caller's choosing)
  std::uint16_t local_port = 0;  // the socket's inside port
  SocketAddress destination;
  SocketAddress mapped;
};

struct AllocationLimits {
  // Successive new ports at most this far apart (and all in one direction) count as sequential: a
  // busy NAT hands ports to other hosts between ours, so the step need not be 1 (lab selftest: 1–8).
  int max_sequential_step = 8;
  // Translated ports all within this many ports of each other (with at least 4 of them) make a
  // narrow pool: a birthday spray can cover it whole.
  int narrow_span = 1024;
};

struct PortAllocationProfile {
  Allocation allocation = Allocation::Unknown;
  std::int16_t port_delta = 0;    // Sequential: the most common step between successive new mappings
  bool first_preserved = false;   // every socket's first mapping kept its inside port
  std::size_t new_mappings = 0;   // distinct mappings (a socket's repeated mapping counts once)
  std::size_t translated = 0;     // new mappings whose port differs from the inside port
  std::uint16_t lowest_port = 0;  // of the translated ports (0 when none)
  std::uint16_t highest_port = 0;
  bool narrow = false;  // translated ports fall in a small pool (AllocationLimits::narrow_span)
};

// `samples` in the order their flows were created (the first datagram of each sent). A sample
// whose mapped address equals an earlier one of the same socket is not a new mapping: that is what
// an endpoint-independent mapping looks like, and it must not read as "step 0".
PortAllocationProfile analyze_port_allocation(const std::vector<MappingSample>& samples,
                                              const AllocationLimits& limits = {});

}  // namespace natpunch
