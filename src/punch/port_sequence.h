// The order in which the spraying side probes the other side's ports: first a window around the
// predicted next ports when the peer's NAT allocates sequentially, then distinct random ports of
// the range. Deterministic for a given seed.
#pragma once

#include <cstdint>
#include <random>
#include <unordered_set>
#include <vector>

#include "wire/nat_behavior.h"

namespace natpunch {

class PortSequence {
 public:
  // `base`: the peer's last known public port; `peer`: its NAT behaviour (may be unknown).
  // `forward_only`: `base` is fresh (the peer's counter just before its sockets), so only the ports
  // after it are predicted.
  PortSequence(std::uint16_t lo, std::uint16_t hi, std::uint64_t seed, std::uint16_t base,
               const std::optional<NatBehavior>& peer, int window, bool forward_only = false);
  // Next port, or 0 when the range is exhausted.
  std::uint16_t next();
  std::size_t predicted() const { return predicted_.size(); }
  // The window probed (at random, without repeats) before the rest of the range: the peer's port
  // pool as it registered it (nat/nat_discovery.h registered_behavior), within [lo, hi].
  std::pair<std::uint16_t, std::uint16_t> window() const { return {win_lo_, win_hi_}; }

 private:
  std::uint16_t lo_, hi_;
  std::mt19937_64 rng_;
  std::vector<std::uint16_t> predicted_;
  std::size_t predicted_pos_ = 0;
  std::unordered_set<std::uint16_t> used_;
  std::uint16_t win_lo_ = 0, win_hi_ = 0;
  std::size_t used_in_window_ = 0;
};

}  // namespace natpunch
