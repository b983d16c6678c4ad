#include "sim/nat_model.h"

namespace natpunch::sim {

namespace {
constexpr std::uint64_t kIpOnly = ~std::uint64_t{0xffff};
std::uint64_t mix(std::uint64_t x) {  // splitmix64 finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
}  // namespace

NatBehavior reported_behavior(const NatConfig& c) {
  NatBehavior b;
  if (!c.behind_nat) {
    b.behind_nat = false;
    b.mapping = b.filtering = Dependence::EndpointIndependent;
    b.port_preserved = true;
    b.allocation = Allocation::Preserved;
    return b;
  }
  b.mapping = c.mapping;
  b.filtering = c.filtering;
  switch (c.allocation) {
    case PortAllocation::Preserving:
      b.port_preserved = true;
      b.allocation = Allocation::Preserved;
      break;
    case PortAllocation::PreserveFirst:
      b.port_preserved = true;
      b.allocation = Allocation::Random;
      break;
    case PortAllocation::Random: b.allocation = Allocation::Random; break;
    case PortAllocation::Sequential:
      b.allocation = Allocation::Sequential;
      b.port_delta = static_cast<std::int16_t>(c.increment);
      break;
  }
  // Discovery reports a pool when the translated ports fall within 1024 of each other
  // (nat/port_allocation.h AllocationLimits::narrow_span); ideally, the pool itself.
  if ((c.allocation == PortAllocation::Random || c.allocation == PortAllocation::Sequential) &&
      c.port_hi - c.port_lo < 1024) {
    b.pool_lo = c.port_lo;
    b.pool_hi = c.port_hi;
  }
  return b;
}

std::size_t NatModel::KeyHash::operator()(const Key& k) const noexcept {
  return static_cast<std::size_t>(mix(k.inside * 0x9e3779b97f4a7c15ULL ^ k.remote));
}

NatModel::NatModel(const NatConfig& config, std::array<std::uint8_t, 4> public_ip, std::uint64_t seed)
    : config_(config), public_ip_(public_ip), rng_(seed) {
  if (config_.port_lo == 0) config_.port_lo = 1;
  if (config_.port_hi < config_.port_lo) config_.port_hi = config_.port_lo;
  if (config_.increment == 0) config_.increment = 1;
  last_sequential_ = static_cast<std::uint16_t>(config_.port_hi);  // the first sequential port is port_lo
}

std::uint64_t NatModel::mask_for_mapping(const SocketAddress& remote) const {
  switch (config_.mapping) {
    case Dependence::AddressDependent: return endpoint_key(remote) & kIpOnly;
    case Dependence::AddressAndPortDependent: return endpoint_key(remote);
    default: return 0;  // endpoint-independent (and unknown, treated as a cone)
  }
}

std::uint64_t NatModel::mask_for_filter(std::uint16_t public_port, const SocketAddress& remote) const {
  std::uint64_t r =
      config_.filtering == Dependence::AddressDependent ? endpoint_key(remote) & kIpOnly : endpoint_key(remote);
  return (std::uint64_t{public_port} << 48) | r;
}

void NatModel::drop(std::uint16_t port) {
  auto it = by_port_.find(port);
  if (it == by_port_.end()) return;
  by_key_.erase(it->second.key);
  by_port_.erase(it);
}

bool NatModel::port_free(std::uint16_t port, TimePoint now) {
  auto it = by_port_.find(port);
  if (it == by_port_.end()) return true;
  if (it->second.expires > now) return false;
  drop(port);
  return true;
}

std::optional<std::uint16_t> NatModel::random_free(TimePoint now) {
  std::uniform_int_distribution<int> pick(config_.port_lo, config_.port_hi);
  for (int i = 0; i < 64; ++i) {
    auto p = static_cast<std::uint16_t>(pick(rng_));
    if (port_free(p, now)) return p;
  }
  // Nearly full: sweep from a random start.
  int span = config_.port_hi - config_.port_lo + 1;
  int start = pick(rng_) - config_.port_lo;
  for (int i = 0; i < span; ++i) {
    auto p = static_cast<std::uint16_t>(config_.port_lo + (start + i) % span);
    if (port_free(p, now)) return p;
  }
  return std::nullopt;
}

std::optional<std::uint16_t> NatModel::allocate(const SocketAddress& inside, TimePoint now) {
  switch (config_.allocation) {
    case PortAllocation::Preserving:
      if (port_free(inside.port, now)) return inside.port;
      return random_free(now);
    case PortAllocation::PreserveFirst:
      if (seen_inside_.insert(endpoint_key(inside)).second && port_free(inside.port, now)) return inside.port;
      return random_free(now);
    case PortAllocation::Random: return random_free(now);
    case PortAllocation::Sequential: {
      int span = config_.port_hi - config_.port_lo + 1;
      int pos = last_sequential_ - config_.port_lo;
      if (config_.background_flows_per_s > 0 && last_allocation_ && now > *last_allocation_) {
        // The foreign flows since our last one, each a step of the counter (busy ports skipped too).
        double seconds = std::chrono::duration<double>(now - *last_allocation_).count();
        std::poisson_distribution<long> flows(config_.background_flows_per_s * seconds);
        long k = flows(rng_) % span;
        pos = static_cast<int>(((pos + k * config_.increment) % span + span) % span);
      }
      last_allocation_ = now;
      for (int i = 0; i < span; ++i) {
        pos = ((pos + config_.increment) % span + span) % span;
        auto p = static_cast<std::uint16_t>(config_.port_lo + pos);
        if (port_free(p, now)) {
          last_sequential_ = p;
          return p;
        }
      }
      return std::nullopt;
    }
  }
  return std::nullopt;
}

std::optional<std::uint16_t> NatModel::outbound(const SocketAddress& inside, const SocketAddress& remote,
                                                TimePoint now) {
  if (!config_.behind_nat) return inside.port;
  Key key{endpoint_key(inside), mask_for_mapping(remote)};
  std::uint16_t port = 0;
  auto it = by_key_.find(key);
  if (it != by_key_.end() && by_port_.at(it->second).expires > now) {
    port = it->second;
  } else {
    if (it != by_key_.end()) drop(it->second);
    auto p = allocate(inside, now);
    if (!p) {
      ++exhausted_;
      return std::nullopt;
    }
    port = *p;
    by_key_.emplace(key, port);
    by_port_[port] = Mapping{key, ++generation_, now};
    ++created_;
  }
  auto& m = by_port_.at(port);
  m.expires = now + config_.mapping_timeout;
  if (config_.filtering != Dependence::EndpointIndependent)
    permits_[mask_for_filter(port, remote)] = Permit{m.generation, m.expires};
  return port;
}

std::optional<SocketAddress> NatModel::inbound(std::uint16_t public_port, const SocketAddress& remote, TimePoint now) {
  if (!config_.behind_nat) return std::nullopt;
  auto it = by_port_.find(public_port);
  if (it == by_port_.end()) return std::nullopt;
  if (it->second.expires <= now) {
    drop(public_port);
    return std::nullopt;
  }
  if (config_.filtering != Dependence::EndpointIndependent) {
    auto p = permits_.find(mask_for_filter(public_port, remote));
    if (p == permits_.end() || p->second.generation != it->second.generation || p->second.expires <= now)
      return std::nullopt;
    p->second.expires = now + config_.mapping_timeout;
  }
  it->second.expires = now + config_.mapping_timeout;
  std::uint64_t k = it->second.key.inside;
  return SocketAddress::v4({static_cast<std::uint8_t>(k >> 40), static_cast<std::uint8_t>(k >> 32),
                            static_cast<std::uint8_t>(k >> 24), static_cast<std::uint8_t>(k >> 16)},
                           static_cast<std::uint16_t>(k));
}

std::optional<std::uint16_t> NatModel::peek(const SocketAddress& inside, const SocketAddress& remote,
                                            TimePoint now) const {
  if (!config_.behind_nat) return inside.port;
  auto it = by_key_.find(Key{endpoint_key(inside), mask_for_mapping(remote)});
  if (it == by_key_.end() || by_port_.at(it->second).expires <= now) return std::nullopt;
  return it->second;
}

void NatModel::flush() {
  by_key_.clear();
  by_port_.clear();
  permits_.clear();
  seen_inside_.clear();
}

std::size_t NatModel::live_mappings(TimePoint now) const {
  std::size_t n = 0;
  for (const auto& [port, m] : by_port_) n += m.expires > now;
  return n;
}

}  // namespace natpunch::sim
