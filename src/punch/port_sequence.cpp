#include "punch/port_sequence.h"

#include <cstdlib>

namespace natpunch {

PortSequence::PortSequence(std::uint16_t lo, std::uint16_t hi, std::uint64_t seed, std::uint16_t base,
                           const std::optional<NatBehavior>& peer, int window)
    : lo_(std::min(lo, hi)), hi_(std::max(lo, hi)), rng_(seed) {
  if (!peer || peer->allocation != Allocation::Sequential || peer->port_delta == 0 || window <= 0) return;
  // Next ports after `base` first (+d, +2d, …), interleaved with the ports just before it (a NAT
  // that cycles through a small pool wraps around below the base).
  int d = peer->port_delta;
  for (int k = 1; k <= window; ++k) {
    for (int sign : {1, -1}) {
      int p = base + sign * k * d;
      if (p >= lo_ && p <= hi_) predicted_.push_back(static_cast<std::uint16_t>(p));
    }
  }
}

std::uint16_t PortSequence::next() {
  while (predicted_pos_ < predicted_.size()) {
    auto p = predicted_[predicted_pos_++];
    if (used_.insert(p).second) return p;
  }
  std::size_t range = static_cast<std::size_t>(hi_ - lo_) + 1;
  if (used_.size() >= range) return 0;
  std::uniform_int_distribution<int> pick(lo_, hi_);
  // Rejection sampling is fine while M << R (the tuning caps M at the range size).
  for (;;) {
    auto p = static_cast<std::uint16_t>(pick(rng_));
    if (used_.insert(p).second) return p;
  }
}

}  // namespace natpunch
