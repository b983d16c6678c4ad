#include "server/registry.h"

namespace natpunch {

static SocketAddress ip_of(SocketAddress a) {
  a.port = 0;
  return a;
}

void Registry::count(const SocketAddress& mapped, int delta) {
  auto ip = ip_of(mapped);
  if (delta > 0) {
    ++per_ip_[ip];
  } else if (auto it = per_ip_.find(ip); it != per_ip_.end() && --it->second == 0) {
    per_ip_.erase(it);
  }
}

std::size_t Registry::count_for_ip(const SocketAddress& a) const {
  auto it = per_ip_.find(ip_of(a));
  return it == per_ip_.end() ? 0 : it->second;
}

Registry::Upsert Registry::upsert(Registration r) {
  auto it = entries_.find(r.id.value);
  if (it == entries_.end()) {
    if (entries_.size() >= max_entries_) return Upsert::Full;
    if (count_for_ip(r.mapped) >= max_per_ip_) return Upsert::IpCapReached;
    count(r.mapped, +1);
    entries_.emplace(r.id.value, std::move(r));
    return Upsert::Created;
  }
  bool moved = it->second.mapped != r.mapped;
  if (!it->second.mapped.same_ip(r.mapped)) {
    if (count_for_ip(r.mapped) >= max_per_ip_) return Upsert::IpCapReached;
    count(it->second.mapped, -1);
    count(r.mapped, +1);
  }
  it->second = std::move(r);
  return moved ? Upsert::Moved : Upsert::Refreshed;
}

Lookup Registry::lookup(const std::string& id, TimePoint now) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return {};
  if (it->second.expires <= now) {
    count(it->second.mapped, -1);
    entries_.erase(it);
    return {LookupStatus::Expired, nullptr};
  }
  return {LookupStatus::Found, &it->second};
}

std::size_t Registry::sweep(TimePoint now) {
  return std::erase_if(entries_, [&](const auto& kv) {
    if (kv.second.expires > now) return false;
    count(kv.second.mapped, -1);
    return true;
  });
}

}  // namespace natpunch
