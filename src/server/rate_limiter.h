// Per-source-IP token buckets, one per request kind (stuntman's rate limiter, STYLE.md example 8):
// a source may send `burst` requests of a kind at once and `per_second` a second after that.
// Bounded: when the table is full a new source evicts an arbitrary entry (counted), and tick()
// forgets sources whose buckets have refilled. Told the time; reads no clock.
#pragma once

#include <unordered_map>

#include "server/server_config.h"
#include "wire/address.h"
#include "wire/clock.h"

namespace natpunch {

class RateLimiter {
 public:
  RateLimiter(const std::array<RateLimit, kRequestKinds>& limits, std::size_t max_sources);

  // True when `source`'s IP may send one more request of `kind` now (and takes its token).
  bool allow(const SocketAddress& source, RequestKind kind, TimePoint now);
  // Forgets sources idle long enough for every bucket to be full again.
  void expire(TimePoint now);
  std::size_t size() const { return sources_.size(); }
  std::uint64_t evictions() const { return evictions_; }

 private:
  struct Bucket {
    double tokens = 0;
    TimePoint last{};
  };
  struct Source {
    std::array<Bucket, kRequestKinds> buckets{};
    TimePoint last_seen{};
  };
  std::array<RateLimit, kRequestKinds> limits_;
  std::size_t max_sources_;
  Clock::duration refill_time_{};  // the longest time any bucket takes to fill from empty
  std::unordered_map<SocketAddress, Source, SocketAddressHash> sources_;  // keyed by IP (port 0)
  std::uint64_t evictions_ = 0;
};

}  // namespace natpunch
