// One NAT box as RFC 4787 describes it: mapping behaviour (§4.1: endpoint-independent, address-
// dependent, address-and-port-dependent), filtering behaviour (§5: the same three), port
// assignment (§4.2.1: preserving with fallback, random over a range, sequential with an increment
// and wrap-around in a pool), and a mapping timer (§4.3). IPv4 only; logic only, no clock: every
// call is told `now`. The simulated network (network.h) puts one in front of each site.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <unordered_map>
#include <unordered_set>

#include "wire/address.h"
#include "wire/clock.h"
#include "wire/nat_behavior.h"

namespace natpunch::sim {

enum class PortAllocation : std::uint8_t {
  Preserving,     // public port = inside port; on collision a random free port of [port_lo, port_hi]
  PreserveFirst,  // an inside endpoint's first mapping keeps its port, later ones are random
  Random,         // uniform over [port_lo, port_hi]
  Sequential,     // previous + increment, wrapping within [port_lo, port_hi] (a pool)
};

struct NatConfig {
  bool behind_nat = true;  // false: no NAT at all (hosts have public addresses)
  Dependence mapping = Dependence::EndpointIndependent;
  Dependence filtering = Dependence::AddressAndPortDependent;
  PortAllocation allocation = PortAllocation::Preserving;
  std::uint16_t port_lo = 1024;
  std::uint16_t port_hi = 65535;
  int increment = 1;  // Sequential
  // RFC 4787 REQ-5 asks for ≥ 2 min; many home routers use 30 s. Refreshed by outbound traffic
  // and by inbound traffic the filter admits (as Linux conntrack does).
  std::chrono::milliseconds mapping_timeout{120'000};
  double loss = 0;  // probability of dropping each packet crossing the NAT's outside link, each way
  // Other hosts behind the same NAT opening new flows, per second (a Poisson process). On a
  // Sequential NAT each one takes the next port, so the ports our flows get jump ahead by the
  // number of foreign flows in between — what defeats naive port prediction on a busy CGNAT.
  // (On the other allocations foreign flows only occupy ports, which is not modelled.)
  double background_flows_per_s = 0;
};

// What an ideal RFC 5780 discovery reports for this NAT (what the agent registers).
NatBehavior reported_behavior(const NatConfig& c);

class NatModel {
 public:
  NatModel(const NatConfig& config, std::array<std::uint8_t, 4> public_ip, std::uint64_t seed);

  // A packet from `inside` to `remote` leaves: the public port it leaves from (creating or
  // refreshing the mapping), or nullopt when no port is free (the packet is dropped).
  std::optional<std::uint16_t> outbound(const SocketAddress& inside, const SocketAddress& remote, TimePoint now);
  // A packet from `remote` arrives at `public_port`: the inside endpoint it is forwarded to, or
  // nullopt when there is no live mapping or the filter rejects it.
  std::optional<SocketAddress> inbound(std::uint16_t public_port, const SocketAddress& remote, TimePoint now);
  // The public port an existing live mapping gives `inside` toward `remote`, without creating one.
  std::optional<std::uint16_t> peek(const SocketAddress& inside, const SocketAddress& remote, TimePoint now) const;

  const NatConfig& config() const { return config_; }
  SocketAddress public_address(std::uint16_t port) const { return SocketAddress::v4(public_ip_, port); }
  std::size_t live_mappings(TimePoint now) const;
  // Forgets every mapping and filter permission (a router reboot, or its table flushed): the next
  // packet of each flow gets a new mapping, on a new port unless the allocation preserves it.
  void flush();
  std::uint64_t mappings_created() const { return created_; }
  std::uint64_t port_exhaustions() const { return exhausted_; }

 private:
  struct Key {
    std::uint64_t inside = 0;  // ip << 16 | port
    std::uint64_t remote = 0;  // masked by the mapping behaviour
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const noexcept;
  };
  struct Mapping {
    Key key;
    std::uint32_t generation = 0;
    TimePoint expires{};
  };

  std::uint64_t mask_for_mapping(const SocketAddress& remote) const;
  std::uint64_t mask_for_filter(std::uint16_t public_port, const SocketAddress& remote) const;
  bool port_free(std::uint16_t port, TimePoint now);
  std::optional<std::uint16_t> allocate(const SocketAddress& inside, TimePoint now);
  std::optional<std::uint16_t> random_free(TimePoint now);
  void drop(std::uint16_t port);

  NatConfig config_;
  std::array<std::uint8_t, 4> public_ip_;
  std::mt19937_64 rng_;
  std::unordered_map<Key, std::uint16_t, KeyHash> by_key_;
  std::unordered_map<std::uint16_t, Mapping> by_port_;  // no port overloading (RFC 4787 REQ-4)
  // Filter permissions: (public port, remote masked by the filtering behaviour) → the mapping's
  // generation that created it (a port reused by a later mapping does not inherit them) and its
  // own timer: like a conntrack entry per flow, a hole opened toward one remote closes after the
  // timeout even while the mapping is kept alive by traffic to other remotes.
  struct Permit {
    std::uint32_t generation = 0;
    TimePoint expires{};
  };
  std::unordered_map<std::uint64_t, Permit> permits_;
  std::unordered_set<std::uint64_t> seen_inside_;  // PreserveFirst
  std::uint16_t last_sequential_ = 0;
  std::optional<TimePoint> last_allocation_;  // for the background flows in between
  std::uint32_t generation_ = 0;
  std::uint64_t created_ = 0;
  std::uint64_t exhausted_ = 0;
};

// Packs an IPv4 address and port into 48 bits (the simulator's address key).
inline std::uint64_t endpoint_key(const SocketAddress& a) {
  return (std::uint64_t{a.ip[0]} << 40) | (std::uint64_t{a.ip[1]} << 32) | (std::uint64_t{a.ip[2]} << 24) |
         (std::uint64_t{a.ip[3]} << 16) | a.port;
}

}  // namespace natpunch::sim
