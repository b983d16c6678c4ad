#include "punch/spray_budget.h"

namespace natpunch {

bool SprayBudget::take(const std::string& peer, TimePoint now) {
  if (per_minute_ <= 0) return false;
  auto it = used_.find(peer);
  if (it == used_.end()) {
    if (used_.size() >= max_peers_) forget_idle(now);
    // Still full of peers active within the minute: refuse newcomers rather than grow.
    if (used_.size() >= max_peers_) return false;
    it = used_.emplace(peer, std::deque<TimePoint>{}).first;
  }
  auto& times = it->second;
  while (!times.empty() && now - times.front() >= kWindow) times.pop_front();
  if (times.size() >= static_cast<std::size_t>(per_minute_)) return false;
  times.push_back(now);
  return true;
}

void SprayBudget::forget_idle(TimePoint now) {
  std::erase_if(used_, [&](const auto& kv) { return kv.second.empty() || now - kv.second.back() >= kWindow; });
}

}  // namespace natpunch
