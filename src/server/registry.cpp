#include "server/registry.h"

namespace natpunch {

Registry::Upsert Registry::upsert(Registration r) {
  auto it = entries_.find(r.id.value);
  if (it == entries_.end()) {
    if (entries_.size() >= max_entries_) return Upsert::Full;
    entries_.emplace(r.id.value, std::move(r));
    return Upsert::Created;
  }
  bool moved = it->second.mapped != r.mapped;
  it->second = std::move(r);
  return moved ? Upsert::Moved : Upsert::Refreshed;
}

Lookup Registry::lookup(const std::string& id, TimePoint now) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return {};
  if (it->second.expires <= now) {
    entries_.erase(it);
    return {LookupStatus::Expired, nullptr};
  }
  return {LookupStatus::Found, &it->second};
}

std::size_t Registry::sweep(TimePoint now) {
  return std::erase_if(entries_, [&](const auto& kv) { return kv.second.expires <= now; });
}

}  // namespace natpunch
