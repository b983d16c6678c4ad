#include "nat/port_allocation.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>

namespace natpunch {

namespace {

// Sequential when every step between successive new mappings is small and in one direction; the
// delta reported is the most common step (ties: the smallest), which is the NAT's own increment
// when other hosts' flows took some of the ports in between.
std::optional<std::int16_t> sequential_step(const std::vector<const MappingSample*>& fresh, int max_step) {
  if (fresh.size() < 3) return std::nullopt;  // two points make any step look constant
  std::map<int, int> count;
  int sign = 0;
  for (std::size_t i = 1; i < fresh.size(); ++i) {
    int d = static_cast<int>(fresh[i]->mapped.port) - static_cast<int>(fresh[i - 1]->mapped.port);
    if (d == 0 || std::abs(d) > max_step) return std::nullopt;
    int s = d > 0 ? 1 : -1;
    if (sign != 0 && s != sign) return std::nullopt;
    sign = s;
    ++count[d];
  }
  auto best = count.begin();
  for (auto it = count.begin(); it != count.end(); ++it) {
    if (it->second > best->second || (it->second == best->second && std::abs(it->first) < std::abs(best->first)))
      best = it;
  }
  return static_cast<std::int16_t>(best->first);
}

}  // namespace

PortAllocationProfile analyze_port_allocation(const std::vector<MappingSample>& samples,
                                              const AllocationLimits& limits) {
  PortAllocationProfile p;
  std::vector<const MappingSample*> fresh;
  for (const auto& s : samples) {
    bool repeated = std::any_of(fresh.begin(), fresh.end(),
                                [&](const MappingSample* f) { return f->socket == s.socket && f->mapped == s.mapped; });
    if (!repeated) fresh.push_back(&s);
  }
  p.new_mappings = fresh.size();
  if (fresh.empty()) return p;

  bool all_preserved = true;
  p.first_preserved = true;
  std::set<std::size_t> sockets_seen;
  for (const auto* s : fresh) {
    const bool kept = s->mapped.port == s->local_port;
    all_preserved = all_preserved && kept;
    if (sockets_seen.insert(s->socket).second) p.first_preserved = p.first_preserved && kept;
    if (kept) continue;
    p.lowest_port = p.translated == 0 ? s->mapped.port : std::min(p.lowest_port, s->mapped.port);
    p.highest_port = p.translated == 0 ? s->mapped.port : std::max(p.highest_port, s->mapped.port);
    ++p.translated;
  }
  p.narrow = p.translated >= 4 && p.highest_port - p.lowest_port < limits.narrow_span;

  if (all_preserved) {
    p.allocation = Allocation::Preserved;
  } else if (auto step = sequential_step(fresh, limits.max_sequential_step)) {
    p.allocation = Allocation::Sequential;
    p.port_delta = *step;
  } else if (fresh.size() >= 3) {
    p.allocation = Allocation::Random;
  }  // else: too few mappings to tell a pattern from chance (Unknown)
  return p;
}

}  // namespace natpunch
