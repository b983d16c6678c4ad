#include "server/proven_sources.h"

#include <algorithm>

namespace natpunch {

ProvenSources::ProvenSources(std::size_t max_entries, std::chrono::seconds lifetime)
    : max_entries_(std::max<std::size_t>(max_entries, 1)), lifetime_(lifetime) {}

void ProvenSources::prove(const SocketAddress& source, TimePoint now) {
  auto it = until_.find(source);
  if (it != until_.end()) {
    it->second = now + lifetime_;
    return;
  }
  if (until_.size() >= max_entries_) {
    until_.erase(until_.begin());
    ++evictions_;
  }
  until_.emplace(source, now + lifetime_);
}

bool ProvenSources::proven(const SocketAddress& source, TimePoint now) const {
  auto it = until_.find(source);
  return it != until_.end() && now < it->second;
}

void ProvenSources::expire(TimePoint now) {
  std::erase_if(until_, [&](const auto& kv) { return kv.second <= now; });
}

}  // namespace natpunch
