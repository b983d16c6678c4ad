#include "server/duplicate_cache.h"

namespace natpunch {

std::size_t DuplicateCache::KeyHash::operator()(const Key& k) const noexcept {
  std::size_t h = SocketAddressHash{}(k.source) ^ (static_cast<std::size_t>(k.socket) << 20) ^
                  (static_cast<std::size_t>(k.method) << 28);
  for (auto b : k.txid) h = h * 31 + static_cast<std::size_t>(b);
  return h;
}

const std::vector<Reply>* DuplicateCache::find(const Key& key, TimePoint now) {
  auto it = map_.find(key);
  if (it == map_.end() || now - it->second.stored > window_) return nullptr;
  return &it->second.replies;
}

void DuplicateCache::store(const Key& key, std::vector<Reply> replies, TimePoint now) {
  if (max_entries_ == 0) return;
  expire(now);
  while (map_.size() >= max_entries_ && !order_.empty()) {
    auto [key, stored] = order_.front();
    order_.pop_front();
    auto it = map_.find(key);
    if (it != map_.end() && it->second.stored == stored) map_.erase(it);
  }
  map_[key] = Entry{std::move(replies), now};
  order_.emplace_back(key, now);
}

void DuplicateCache::expire(TimePoint now) {
  while (!order_.empty() && now - order_.front().second > window_) {
    auto it = map_.find(order_.front().first);
    if (it != map_.end() && it->second.stored == order_.front().second) map_.erase(it);
    order_.pop_front();
  }
}

}  // namespace natpunch
