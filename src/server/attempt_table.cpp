#include "server/attempt_table.h"

namespace natpunch {

void AttemptTable::add(const AttemptToken& token, const std::string& a, const std::string& b, TimePoint now) {
  expire(now);
  while (map_.size() >= max_ && !order_.empty()) {
    map_.erase(order_.front().first);
    order_.pop_front();
  }
  auto k = key(token);
  map_[k] = Attempt{a, b, now + lifetime_};
  order_.emplace_back(k, now + lifetime_);
}

bool AttemptTable::allows(const AttemptToken& token, const std::string& from, const std::string& to,
                          TimePoint now) const {
  auto it = map_.find(key(token));
  if (it == map_.end() || it->second.expires <= now) return false;
  const auto& at = it->second;
  return (at.a == from && at.b == to) || (at.a == to && at.b == from);
}

void AttemptTable::expire(TimePoint now) {
  while (!order_.empty() && order_.front().second <= now) {
    auto it = map_.find(order_.front().first);
    if (it != map_.end() && it->second.expires <= now) map_.erase(it);
    order_.pop_front();
  }
}

}  // namespace natpunch
