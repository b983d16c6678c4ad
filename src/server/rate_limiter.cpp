#include "server/rate_limiter.h"

#include <algorithm>

namespace natpunch {

RateLimiter::RateLimiter(const std::array<RateLimit, kRequestKinds>& limits, std::size_t max_sources)
    : limits_(limits), max_sources_(std::max<std::size_t>(max_sources, 1)) {
  double longest = 0;
  for (auto& l : limits_) {
    l.burst = std::max(l.burst, 1.0);  // a limited kind lets at least one request through
    if (l.per_second > 0) longest = std::max(longest, l.burst / l.per_second);
  }
  refill_time_ = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(longest));
}

bool RateLimiter::allow(const SocketAddress& source, RequestKind kind, TimePoint now) {
  const auto& limit = limits_[static_cast<std::size_t>(kind)];
  if (limit.per_second <= 0) return true;
  SocketAddress ip = source;
  ip.port = 0;
  auto it = sources_.find(ip);
  if (it == sources_.end()) {
    if (sources_.size() >= max_sources_) {
      sources_.erase(sources_.begin());  // arbitrary: O(1), and no order an attacker can steer
      ++evictions_;
    }
    Source fresh;
    for (std::size_t k = 0; k < kRequestKinds; ++k) fresh.buckets[k] = Bucket{limits_[k].burst, now};
    it = sources_.emplace(ip, fresh).first;
  }
  it->second.last_seen = now;
  auto& b = it->second.buckets[static_cast<std::size_t>(kind)];
  if (now > b.last) {
    b.tokens = std::min(limit.burst, b.tokens + limit.per_second * std::chrono::duration<double>(now - b.last).count());
    b.last = now;
  }
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

void RateLimiter::expire(TimePoint now) {
  std::erase_if(sources_, [&](const auto& kv) { return now - kv.second.last_seen >= refill_time_; });
}

}  // namespace natpunch
