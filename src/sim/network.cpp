#include "sim/network.h"

#include <algorithm>

namespace natpunch::sim {

namespace {
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
constexpr std::uint16_t kFirstEphemeral = 32768;  // Linux's default ip_local_port_range
}  // namespace

Network::Network(NetworkConfig config) : config_(config), now_(config.start), rng_(mix(config.seed)) {
  events_.reserve(1024);
}

std::array<std::uint8_t, 4> Network::next_public_ip() {
  std::uint32_t i = ++public_ips_;  // 198.18.0.0/15 (RFC 2544 benchmarking space)
  return {198, static_cast<std::uint8_t>(18 + ((i >> 16) & 1)), static_cast<std::uint8_t>(i >> 8),
          static_cast<std::uint8_t>(i)};
}

SiteId Network::add_site(const NatConfig& nat) {
  SiteId id = static_cast<SiteId>(sites_.size());
  Site s;
  if (nat.behind_nat) {
    s.public_ip = next_public_ip();
    s.nat = std::make_unique<NatModel>(nat, s.public_ip, mix(config_.seed ^ mix(id + 1)));
    nat_by_public_ip_[ip_key(s.public_ip)] = id;
  } else {
    s.nat = std::make_unique<NatModel>(nat, std::array<std::uint8_t, 4>{}, 0);
  }
  sites_.push_back(std::move(s));
  return id;
}

HostId Network::add_host(SiteId site) {
  HostId id = static_cast<HostId>(hosts_.size());
  auto& s = sites_[site];
  Host h;
  h.site = site;
  h.is_public = !s.nat->config().behind_nat;
  std::uint32_t n = ++s.hosts;
  h.ip = h.is_public ? next_public_ip()
                     : std::array<std::uint8_t, 4>{10, static_cast<std::uint8_t>(site >> 8),
                                                   static_cast<std::uint8_t>(site), static_cast<std::uint8_t>(1 + n)};
  h.next_ephemeral = static_cast<std::uint16_t>(kFirstEphemeral + (mix(config_.seed + id) % 16384));
  host_by_ip_[ip_key(h.ip)] = id;
  hosts_.push_back(h);
  return id;
}

HostId Network::add_public_host(std::array<std::uint8_t, 4> ip) {
  NatConfig open;
  open.behind_nat = false;
  SiteId site = add_site(open);
  HostId id = static_cast<HostId>(hosts_.size());
  Host h;
  h.site = site;
  h.is_public = true;
  h.ip = ip;
  h.next_ephemeral = kFirstEphemeral;
  host_by_ip_[ip_key(ip)] = id;
  hosts_.push_back(h);
  return id;
}

std::optional<SocketId> Network::bind(HostId host, std::uint16_t port) {
  auto& h = hosts_[host];
  auto key_of = [&](std::uint16_t p) { return endpoint_key(SocketAddress::v4(h.ip, p)); };
  if (port == 0) {
    for (int i = 0; i < 65536 && port == 0; ++i) {
      std::uint16_t p = h.next_ephemeral;
      h.next_ephemeral = p >= 60999 ? kFirstEphemeral : static_cast<std::uint16_t>(p + 1);
      if (!socket_by_endpoint_.count(key_of(p))) port = p;
    }
    if (port == 0) return std::nullopt;
  } else if (socket_by_endpoint_.count(key_of(port))) {
    return std::nullopt;
  }
  SocketId id = static_cast<SocketId>(sockets_.size());
  sockets_.push_back({host, SocketAddress::v4(h.ip, port)});
  socket_by_endpoint_[key_of(port)] = id;
  return id;
}

std::optional<SocketAddress> Network::public_address(SocketId s, const SocketAddress& remote) const {
  const auto& sock = sockets_[s];
  const auto& site = sites_[hosts_[sock.host].site];
  if (!site.nat->config().behind_nat) return sock.local;
  auto peer = host_by_ip_.find(ip_key(remote));
  if (peer != host_by_ip_.end() && hosts_[peer->second].site == hosts_[sock.host].site) return sock.local;  // LAN
  auto port = site.nat->peek(sock.local, remote, now_);
  if (!port) return std::nullopt;
  return site.nat->public_address(*port);
}

bool Network::lose(double p) { return p > 0 && unit_(rng_) < p; }

void Network::send(SocketId from, const SocketAddress& to, Bytes bytes) {
  ++stats_.sent;
  const auto& sock = sockets_[from];
  const auto& host = hosts_[sock.host];
  auto& site = sites_[host.site];
  Event ev;
  ev.seq = ++seq_;
  ev.to = to;
  ev.bytes = std::move(bytes);
  if (to.family != Family::V4) {
    ++stats_.unreachable;
    return;
  }
  auto dst = host_by_ip_.find(ip_key(to));
  if (!host.is_public && dst != host_by_ip_.end() && hosts_[dst->second].site == host.site) {
    ev.at = now_ + config_.lan;  // same LAN: straight to the other host
    ev.from = sock.local;
    ev.lan = true;
  } else {
    const auto& cfg = site.nat->config();
    if (lose(cfg.loss)) {
      ++stats_.lost;
      return;
    }
    if (cfg.behind_nat) {
      auto port = site.nat->outbound(sock.local, to, now_);
      if (!port) {
        ++stats_.no_port;
        return;
      }
      ev.from = site.nat->public_address(*port);
    } else {
      ev.from = sock.local;
    }
    ev.at = now_ + config_.one_way;
    if (config_.jitter.count() > 0)
      ev.at += std::chrono::microseconds(std::uniform_int_distribution<std::int64_t>(0, config_.jitter.count())(rng_));
  }
  events_.push_back(std::move(ev));
  std::push_heap(events_.begin(), events_.end(), Later{});
}

std::optional<TimePoint> Network::next_event_time() const {
  if (events_.empty()) return std::nullopt;
  return events_.front().at;
}

std::optional<Arrival> Network::next_arrival(TimePoint limit) {
  while (!events_.empty() && events_.front().at <= limit) {
    std::pop_heap(events_.begin(), events_.end(), Later{});
    Event ev = std::move(events_.back());
    events_.pop_back();
    now_ = std::max(now_, ev.at);
    SocketAddress inside = ev.to;
    if (!ev.lan) {
      std::uint32_t ip = ip_key(ev.to);
      if (auto n = nat_by_public_ip_.find(ip); n != nat_by_public_ip_.end()) {
        auto& nat = *sites_[n->second].nat;
        if (lose(nat.config().loss)) {
          ++stats_.lost;
          continue;
        }
        auto in = nat.inbound(ev.to.port, ev.from, now_);
        if (!in) {
          ++stats_.filtered;
          continue;
        }
        inside = *in;
      } else if (auto h = host_by_ip_.find(ip); h != host_by_ip_.end() && hosts_[h->second].is_public) {
        if (lose(sites_[hosts_[h->second].site].nat->config().loss)) {
          ++stats_.lost;
          continue;
        }
      } else {
        ++stats_.unreachable;  // a private address seen from the internet, or nobody there
        continue;
      }
    }
    auto s = socket_by_endpoint_.find(endpoint_key(inside));
    if (s == socket_by_endpoint_.end()) {
      ++stats_.unreachable;
      continue;
    }
    ++stats_.delivered;
    return Arrival{s->second, ev.from, std::move(ev.bytes)};
  }
  now_ = std::max(now_, limit);
  return std::nullopt;
}

}  // namespace natpunch::sim
