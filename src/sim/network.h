// An in-memory IPv4 network on a virtual clock: sites (a NAT with one public address in front of
// private hosts, or no NAT: hosts with public addresses), hosts with UDP sockets, and a public
// "internet" between sites. Datagrams are events ordered by virtual time with a fixed one-way
// delay (LAN delivery has its own, shorter delay). Deterministic for a seed: the only randomness
// is each NAT's port choice and loss, from seeded generators.
//
// The outbound NAT translation happens when a datagram is sent, the inbound one (mapping lookup
// and filtering) when it arrives, as on a real path. Packets between hosts of one site go directly
// (no NAT, no loss); a packet to the site's own public address goes out and back in (hairpinning
// with the external source address, RFC 4787 REQ-9).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <unordered_map>
#include <vector>

#include "sim/nat_model.h"
#include "wire/bytes.h"
#include "wire/clock.h"

namespace natpunch::sim {

using SiteId = std::uint32_t;
using HostId = std::uint32_t;
using SocketId = std::uint32_t;

struct NetworkConfig {
  std::uint64_t seed = 1;
  std::chrono::microseconds one_way{10'000};  // across the internet, per datagram
  std::chrono::microseconds lan{500};         // between hosts of one site
  // Extra delay per internet datagram, uniform in [0, jitter]: datagrams may overtake each other.
  std::chrono::microseconds jitter{0};
  TimePoint start{std::chrono::seconds(1'000'000)};
};

struct NetworkStats {
  std::uint64_t sent = 0;
  std::uint64_t delivered = 0;
  std::uint64_t lost = 0;         // random loss
  std::uint64_t filtered = 0;     // no mapping, or the NAT's filter said no
  std::uint64_t no_port = 0;      // the NAT had no free port for a new mapping
  std::uint64_t unreachable = 0;  // no such address, or no socket bound there
};

struct Arrival {
  SocketId to = 0;
  SocketAddress from;
  Bytes bytes;
};

class Network {
 public:
  explicit Network(NetworkConfig config);

  // A site behind `nat` (or with no NAT when !nat.behind_nat), with a fresh public address.
  SiteId add_site(const NatConfig& nat);
  // A host of `site`: a private address behind a NAT, a public one otherwise.
  HostId add_host(SiteId site);
  // A host on the internet at a given address (e.g. the rendezvous server).
  HostId add_public_host(std::array<std::uint8_t, 4> ip);
  // Binds a UDP socket; port 0 picks the host's next ephemeral port. nullopt when taken.
  std::optional<SocketId> bind(HostId host, std::uint16_t port = 0);

  SocketAddress local_address(SocketId s) const { return sockets_[s].local; }
  HostId host_of(SocketId s) const { return sockets_[s].host; }
  SiteId site_of(HostId h) const { return hosts_[h].site; }
  const NatModel& nat(SiteId s) const { return *sites_[s].nat; }
  // The site's NAT forgets its mappings (NatModel::flush).
  void flush_nat(SiteId s) { sites_[s].nat->flush(); }
  SocketAddress site_public_ip(SiteId s) const { return SocketAddress::v4(sites_[s].public_ip, 0); }
  // The address a peer on the internet sees for socket `s` when it sends to `remote` (an existing
  // mapping only), or nullopt. Toward a host of the same site: its local address (the LAN path).
  std::optional<SocketAddress> public_address(SocketId s, const SocketAddress& remote) const;

  // Sends at now(): translation on the way out, loss, then an arrival event after the delay.
  void send(SocketId from, const SocketAddress& to, Bytes bytes);
  // The next datagram that reaches a socket no later than `limit`, advancing now() to its time;
  // nullopt (with now() = limit) when there is none. Datagrams dropped on arrival are consumed.
  std::optional<Arrival> next_arrival(TimePoint limit);
  std::optional<TimePoint> next_event_time() const;

  TimePoint now() const { return now_; }
  const NetworkStats& stats() const { return stats_; }

 private:
  struct Site {
    std::unique_ptr<NatModel> nat;
    std::array<std::uint8_t, 4> public_ip{};
    std::uint32_t hosts = 0;
  };
  struct Host {
    SiteId site = 0;
    std::array<std::uint8_t, 4> ip{};
    bool is_public = false;
    std::uint16_t next_ephemeral = 0;
  };
  struct Socket {
    HostId host = 0;
    SocketAddress local;
  };
  struct Event {
    TimePoint at;
    std::uint64_t seq = 0;
    SocketAddress to;
    SocketAddress from;
    bool lan = false;  // delivered inside one site
    Bytes bytes;
  };
  struct Later {
    bool operator()(const Event& a, const Event& b) const { return a.at != b.at ? a.at > b.at : a.seq > b.seq; }
  };

  std::array<std::uint8_t, 4> next_public_ip();
  bool lose(double p);
  static std::uint32_t ip_key(const SocketAddress& a) {
    return (std::uint32_t{a.ip[0]} << 24) | (std::uint32_t{a.ip[1]} << 16) | (std::uint32_t{a.ip[2]} << 8) | a.ip[3];
  }
  static std::uint32_t ip_key(const std::array<std::uint8_t, 4>& a) {
    return (std::uint32_t{a[0]} << 24) | (std::uint32_t{a[1]} << 16) | (std::uint32_t{a[2]} << 8) | a[3];
  }

  NetworkConfig config_;
  TimePoint now_;
  std::mt19937_64 rng_;
  std::uniform_real_distribution<double> unit_{0.0, 1.0};
  std::vector<Site> sites_;
  std::vector<Host> hosts_;
  std::vector<Socket> sockets_;
  std::unordered_map<std::uint32_t, SiteId> nat_by_public_ip_;
  std::unordered_map<std::uint32_t, HostId> host_by_ip_;  // public hosts and private hosts (one map: no overlap)
  std::unordered_map<std::uint64_t, SocketId> socket_by_endpoint_;
  std::vector<Event> events_;  // a heap ordered by Later
  std::uint64_t seq_ = 0;
  std::uint32_t public_ips_ = 0;
  NetworkStats stats_;
};

}  // namespace natpunch::sim
