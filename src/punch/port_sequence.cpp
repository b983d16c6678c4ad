#include "punch/port_sequence.h"

#include <cstdlib>

namespace natpunch {

PortSequence::PortSequence(std::uint16_t lo, std::uint16_t hi, std::uint64_t seed, std::uint16_t base,
                           const std::optional<NatBehavior>& peer, int window, bool forward_only)
    : lo_(std::min(lo, hi)), hi_(std::max(lo, hi)), rng_(seed) {
  if (peer && peer->pool_hi != 0 && peer->pool_hi >= peer->pool_lo) {
    // The pool as registered (already widened from the ports discovery saw: registered_behavior).
    win_lo_ = std::max(lo_, peer->pool_lo);
    win_hi_ = std::min(hi_, peer->pool_hi);
    if (win_lo_ > win_hi_) win_lo_ = win_hi_ = 0;
  }
  if (!peer || peer->allocation != Allocation::Sequential || peer->port_delta == 0 || window <= 0) return;
  // Next ports after `base` first (+d, +2d, …), interleaved with the ports just before it (a NAT
  // that cycles through a small pool wraps around below the base).
  int d = peer->port_delta;
  // As many predictions either way: 2·window forward from a fresh base, ±window around a stale one.
  auto add = [&](int p) {
    if (p >= lo_ && p <= hi_) predicted_.push_back(static_cast<std::uint16_t>(p));
  };
  for (int k = 1; k <= (forward_only ? 2 * window : window); ++k) {
    add(base + k * d);
    if (!forward_only) add(base - k * d);
  }
}

std::uint16_t PortSequence::next() {
  while (predicted_pos_ < predicted_.size()) {
    auto p = predicted_[predicted_pos_++];
    if (used_.insert(p).second) {
      if (win_hi_ != 0 && p >= win_lo_ && p <= win_hi_) ++used_in_window_;
      return p;
    }
  }
  if (win_hi_ != 0) {
    std::size_t wrange = static_cast<std::size_t>(win_hi_ - win_lo_) + 1;
    std::uniform_int_distribution<int> in_window(win_lo_, win_hi_);
    while (used_in_window_ < wrange) {
      // Rejection sampling while the window is mostly unused; then sweep what is left in order.
      std::uint16_t p = 0;
      if (used_in_window_ * 2 < wrange) {
        p = static_cast<std::uint16_t>(in_window(rng_));
      } else {
        for (int q = win_lo_; q <= win_hi_; ++q)
          if (!used_.count(static_cast<std::uint16_t>(q))) {
            p = static_cast<std::uint16_t>(q);
            break;
          }
      }
      if (p == 0) break;
      if (used_.insert(p).second) {
        ++used_in_window_;
        return p;
      }
    }
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
