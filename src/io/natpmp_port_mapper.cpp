// NAT-PMP (RFC 6886) over a GatewaySocket with natpunch's own codec (portmap/natpmp_message.h says
// why not libnatpmp): the external address (§3.2), then the UDP mapping (§3.3), each retransmitted
// at 250 ms, doubling (§3.1), until the answer or the caller's timeout.
#include "io/gateway_socket.h"
#include "io/port_mapper_protocols.h"
#include "portmap/natpmp_message.h"

namespace natpunch::portmap_driver {

namespace {

// Sends `request` until the gateway answers it or `deadline` passes. Answers to anything else are
// ignored (counted, with the last reason, for the error message).
Result<natpmp::Response, std::string> transact(GatewaySocket& sock, const Bytes& request, std::uint16_t internal_port,
                                               TimePoint deadline, std::chrono::milliseconds timeout) {
  const auto opcode = static_cast<std::uint8_t>(request[1]);
  auto retry = std::chrono::milliseconds(250);
  auto next_send = Clock::now();
  int ignored = 0;
  std::string last_bad;
  for (;;) {
    auto now = Clock::now();
    if (now >= deadline) break;
    if (now >= next_send) {
      if (auto e = sock.send(request)) return fail(*e);
      next_send = now + retry;
      retry *= 2;
    }
    auto got = sock.receive_until(std::min(deadline, next_send));
    if (got.port_unreachable)
      return fail("no NAT-PMP server at " + sock.gateway().to_string() + " (ICMP port unreachable)");
    if (!got.datagram) continue;
    auto r = natpmp::parse_response(*got.datagram);
    if (!r) {
      ++ignored;
      last_bad = std::string(natpmp::to_string(r.error()));
      continue;
    }
    if (!natpmp::answers(*r, opcode, internal_port)) {
      ++ignored;
      last_bad = "an answer to another request";
      continue;
    }
    return *r;
  }
  std::string e = "no NAT-PMP server answered at " + sock.gateway().to_string() + " within " + seconds_text(timeout);
  if (ignored > 0) e += " (" + std::to_string(ignored) + " other datagrams ignored, the last: " + last_bad + ")";
  return fail(e);
}

std::string refused(const GatewaySocket& sock, natpmp::ResultCode code) {
  return "NAT-PMP: gateway " + sock.gateway().to_string() + " refused: " + std::string(natpmp::describe(code)) +
         " (result code " + std::to_string(static_cast<unsigned>(code)) + ")";
}

// The mapping request (lifetime 0 deletes); fills the external port and granted lifetime.
Result<natpmp::Response, std::string> map_request(GatewaySocket& sock, std::uint16_t internal_port,
                                                  std::uint16_t suggested, std::uint32_t lifetime, TimePoint deadline,
                                                  std::chrono::milliseconds timeout) {
  auto r =
      transact(sock, natpmp::encode_map_request(internal_port, suggested, lifetime), internal_port, deadline, timeout);
  if (!r) return r;
  if (r->result != natpmp::ResultCode::Success) return fail(refused(sock, r->result));
  // §3.3: a mapped external port of 0 is not a mapping (except in the answer to a delete).
  if (lifetime > 0 && (r->external_port == 0 || r->lifetime_s == 0)) {
    return fail("NAT-PMP: gateway " + sock.gateway().to_string() + " answered with no port or no lifetime");
  }
  return r;
}

Result<PortMapping, std::string> map_and_address(const SocketAddress& gateway, std::uint16_t internal_port,
                                                 std::uint16_t suggested, std::chrono::seconds lifetime,
                                                 std::chrono::milliseconds timeout) {
  auto sock = GatewaySocket::open(gateway);
  if (!sock) return fail(sock.error());
  const auto deadline = Clock::now() + timeout;
  auto addr = transact(*sock, natpmp::encode_external_address_request(), internal_port, deadline, timeout);
  if (!addr) return fail(addr.error());
  if (addr->result != natpmp::ResultCode::Success) return fail(refused(*sock, addr->result));
  if (!addr->external_address || addr->external_address->is_unspecified()) {
    return fail("NAT-PMP: gateway " + gateway.to_string() + " has no external address (0.0.0.0)");
  }
  auto map =
      map_request(*sock, internal_port, suggested, static_cast<std::uint32_t>(lifetime.count()), deadline, timeout);
  if (!map) return fail(map.error());
  PortMapping m;
  m.protocol = MapProtocol::NatPmp;
  m.external = *addr->external_address;
  m.external.port = map->external_port;
  m.internal = sock->local();
  m.internal.port = internal_port;
  m.gateway = gateway;
  m.lifetime = std::chrono::seconds(map->lifetime_s);
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
  auto sock = GatewaySocket::open(m.gateway);
  if (!sock) return fail(sock.error());
  // §3.4: lifetime 0 and suggested external port 0 delete the mapping of this internal port.
  auto r = map_request(*sock, m.internal.port, 0, 0, Clock::now() + m.timeout, m.timeout);
  if (!r) return fail(r.error());
  return std::monostate{};
}

}  // namespace natpunch::portmap_driver
