// PCP (RFC 6887) over a GatewaySocket: the no-I/O PcpMapper is told the time and the gateway's
// answers until it holds the mapping, gives up, or the caller's timeout passes.
#include "io/gateway_socket.h"
#include "io/port_mapper_protocols.h"
#include "portmap/pcp_mapper.h"
#include "wire/random_source.h"

namespace natpunch::portmap_driver {

namespace {

struct PcpRun {
  PcpMapper::State state;
  std::string error;
  std::optional<SocketAddress> external;
  std::uint32_t lifetime_s = 0;
  SocketAddress client;
};

// Runs one PcpMapper exchange (a request, or a delete when config.lifetime_s is 0).
Result<PcpRun, std::string> run_pcp(const SocketAddress& gateway, PcpMapperConfig config,
                                    std::chrono::milliseconds timeout) {
  auto sock = GatewaySocket::open(gateway);
  if (!sock) return fail(sock.error());
  config.client = sock->local();
  // More sends than the timeout allows are cut by it; fewer would end before it.
  config.max_sends = 16;
  PcpMapper mapper(config);
  auto now = Clock::now();
  const auto deadline = now + timeout;
  auto send_all = [&](const std::vector<Bytes>& out) -> std::optional<std::string> {
    for (const auto& d : out) {
      if (auto e = sock->send(d)) return e;
    }
    return std::nullopt;
  };
  if (auto e = send_all(mapper.start(now))) return fail(*e);
  int ignored = 0;
  while (mapper.state() == PcpMapper::State::Requesting) {
    auto wake = std::min(deadline, mapper.next_deadline().value_or(deadline));
    auto got = sock->receive_until(wake);
    now = Clock::now();
    if (got.port_unreachable) {
      return fail("no PCP server at " + gateway.to_string() + " (ICMP port unreachable)");
    }
    std::vector<Bytes> out;
    if (got.datagram) {
      out = mapper.on_datagram(*got.datagram, now);
      if (mapper.state() == PcpMapper::State::Requesting) ++ignored;
    } else if (now >= deadline) {
      break;
    } else {
      out = mapper.on_timer(now);
    }
    if (auto e = send_all(out)) return fail(*e);
  }
  if (mapper.state() == PcpMapper::State::Requesting) {
    std::string e = "no PCP server answered at " + gateway.to_string() + " within " + seconds_text(timeout);
    if (ignored > 0) e += " (" + std::to_string(ignored) + " datagrams that were not our answer ignored)";
    return fail(e);
  }
  return PcpRun{mapper.state(), mapper.error(), mapper.external(), mapper.lifetime_s(), config.client};
}

std::string refused(const SocketAddress& gateway, const PcpRun& run) {
  if (run.state == PcpMapper::State::NatPmpOnly)
    return "PCP: the gateway " + gateway.to_string() + " speaks only NAT-PMP";
  return "PCP: gateway " + gateway.to_string() + " refused: " + run.error;
}

Result<PcpRun, std::string> request(const PortMapping& m, std::uint32_t lifetime) {
  PcpMapperConfig c;
  c.internal_port = m.internal.port;
  c.lifetime_s = lifetime;
  c.nonce = m.pcp_nonce;
  if (lifetime > 0 && !m.external.is_unspecified()) c.suggested_external = m.external;
  return run_pcp(m.gateway, c, m.timeout);
}

}  // namespace

Result<PortMapping, std::string> pcp_map(const asio::ip::address_v4& gw, const PortMapRequest& r) {
  const auto gateway = to_socket_address(gw, pcp::kServerPort);
  PcpMapperConfig c;
  c.internal_port = r.internal_port;
  c.lifetime_s = static_cast<std::uint32_t>(r.lifetime.count());
  // §11.1: the nonce is random, so that only we can renew or delete the mapping.
  system_random()(std::span<std::byte>(c.nonce));
  if (r.suggested_external != 0) {
    SocketAddress any;  // port only: ::ffff:0.0.0.0 says "any address"
    any.port = r.suggested_external;
    c.suggested_external = any;
  }
  auto run = run_pcp(gateway, c, r.timeout);
  if (!run) return fail(run.error());
  if (run->state != PcpMapper::State::Mapped || !run->external) return fail(refused(gateway, *run));
  PortMapping m;
  m.protocol = MapProtocol::Pcp;
  m.external = *run->external;
  m.internal = run->client;
  m.internal.port = r.internal_port;
  m.gateway = gateway;
  m.lifetime = std::chrono::seconds(run->lifetime_s);
  m.requested_lifetime = r.lifetime;
  m.timeout = r.timeout;
  m.pcp_nonce = c.nonce;
  return m;
}

Done pcp_renew(PortMapping& m) {
  auto run = request(m, static_cast<std::uint32_t>(m.requested_lifetime.count()));
  if (!run) return fail(run.error());
  if (run->state != PcpMapper::State::Mapped || !run->external) return fail(refused(m.gateway, *run));
  m.external = *run->external;
  m.lifetime = std::chrono::seconds(run->lifetime_s);
  return std::monostate{};
}

Done pcp_unmap(const PortMapping& m) {
  auto run = request(m, 0);  // §15: lifetime 0 deletes
  if (!run) return fail(run.error());
  if (run->state != PcpMapper::State::Mapped) return fail(refused(m.gateway, *run));
  return std::monostate{};
}

}  // namespace natpunch::portmap_driver
