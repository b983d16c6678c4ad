// NAT-PMP (RFC 6886) over a GatewaySocket: the no-I/O NatPmpMapper (external address, then the
// mapping, each retransmitted at 250 ms, doubling) is told the time and the gateway's answers until
// it holds the mapping, gives up, or the caller's timeout passes.
#include "io/gateway_socket.h"
#include "io/port_mapper_protocols.h"
#include "portmap/natpmp_mapper.h"

namespace natpunch::portmap_driver {

namespace {

struct NatPmpRun {
  NatPmpMapper::State state;
  std::string error;
  std::optional<SocketAddress> external;
  std::uint32_t lifetime_s = 0;
  SocketAddress local;
};

// Runs one NatPmpMapper exchange (a mapping, or a delete when config.lifetime_s is 0).
Result<NatPmpRun, std::string> run_natpmp(const SocketAddress& gateway, NatPmpMapperConfig config,
                                          std::chrono::milliseconds timeout) {
  auto sock = GatewaySocket::open(gateway);
  if (!sock) return fail(sock.error());
  config.gateway = gateway;
  // More sends than the timeout allows are cut by it; fewer would end before it.
  config.max_sends = 16;
  NatPmpMapper mapper(config);
  auto now = Clock::now();
  const auto deadline = now + timeout;
  auto send_all = [&](const std::vector<Bytes>& out) -> std::optional<std::string> {
    for (const auto& d : out) {
      if (auto e = sock->send(d)) return e;
    }
    return std::nullopt;
  };
  if (auto e = send_all(mapper.start(now))) return fail(*e);
  while (mapper.requesting()) {
    auto wake = std::min(deadline, mapper.next_deadline().value_or(deadline));
    auto got = sock->receive_until(wake);
    now = Clock::now();
    if (got.port_unreachable) {
      return fail("no NAT-PMP server at " + gateway.to_string() + " (ICMP port unreachable)");
    }
    std::vector<Bytes> out;
    if (got.datagram) {
      out = mapper.on_datagram(*got.datagram, now);
    } else if (now >= deadline) {
      break;
    } else {
      out = mapper.on_timer(now);
    }
    if (auto e = send_all(out)) return fail(*e);
  }
  if (mapper.requesting() || mapper.state() == NatPmpMapper::State::NoServer) {
    std::string e = "no NAT-PMP server answered at " + gateway.to_string() + " within " + seconds_text(timeout);
    if (mapper.ignored() > 0) {
      e += " (" + std::to_string(mapper.ignored()) + " other datagrams ignored, the last: " + mapper.last_ignored() +
           ")";
    }
    return fail(e);
  }
  return NatPmpRun{mapper.state(), mapper.error(), mapper.external(), mapper.lifetime_s(), sock->local()};
}

// The external address and the mapping (§3.2, §3.3): a new one, or a renewal suggesting its port.
Result<PortMapping, std::string> map_and_address(const SocketAddress& gateway, std::uint16_t internal_port,
                                                 std::uint16_t suggested, std::chrono::seconds lifetime,
                                                 std::chrono::milliseconds timeout) {
  NatPmpMapperConfig c;
  c.internal_port = internal_port;
  c.suggested_external = suggested;
  c.lifetime_s = static_cast<std::uint32_t>(lifetime.count());
  auto run = run_natpmp(gateway, c, timeout);
  if (!run) return fail(run.error());
  if (run->state != NatPmpMapper::State::Mapped || !run->external) return fail(run->error);
  PortMapping m;
  m.protocol = MapProtocol::NatPmp;
  m.external = *run->external;
  m.internal = run->local;
  m.internal.port = internal_port;
  m.gateway = gateway;
  m.lifetime = std::chrono::seconds(run->lifetime_s);
  m.requested_lifetime = lifetime;
  m.timeout = timeout;
  return m;
}

}  // namespace

Result<PortMapping, std::string> natpmp_map(const asio::ip::address_v4& gw, const PortMapRequest& r) {
  return map_and_address(to_socket_address(gw, natpmp::kServerPort), r.internal_port, r.suggested_external, r.lifetime,
                         r.timeout);
}

Done natpmp_renew(PortMapping& m) {
  // §3.3: a renewal is the same request, suggesting the port we hold.
  auto renewed = map_and_address(m.gateway, m.internal.port, m.external.port, m.requested_lifetime, m.timeout);
  if (!renewed) return fail(renewed.error());
  m.external = renewed->external;
  m.lifetime = renewed->lifetime;
  return std::monostate{};
}

Done natpmp_unmap(const PortMapping& m) {
  // §3.4: lifetime 0 and suggested external port 0 delete the mapping of this internal port.
  NatPmpMapperConfig c;
  c.internal_port = m.internal.port;
  c.lifetime_s = 0;
  auto run = run_natpmp(m.gateway, c, m.timeout);
  if (!run) return fail(run.error());
  if (run->state != NatPmpMapper::State::Closed) return fail(run->error);
  return std::monostate{};
}

}  // namespace natpunch::portmap_driver
