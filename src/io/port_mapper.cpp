#include "io/port_mapper.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "io/port_mapper_protocols.h"
#include "portmap/default_route.h"

namespace natpunch {

namespace portmap_driver {

std::string seconds_text(std::chrono::milliseconds d) {
  char buf[32];
  if (d.count() % 1000 == 0) {
    std::snprintf(buf, sizeof buf, "%lld s", static_cast<long long>(d.count() / 1000));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(d.count()) / 1000.0);
  }
  return buf;
}

SocketAddress to_socket_address(const asio::ip::address_v4& a, std::uint16_t port) {
  auto b = a.to_bytes();
  return SocketAddress::v4({b[0], b[1], b[2], b[3]}, port);
}

}  // namespace portmap_driver

using namespace portmap_driver;

std::string_view to_string(MapProtocol p) {
  switch (p) {
    case MapProtocol::Pcp: return "pcp";
    case MapProtocol::NatPmp: return "nat-pmp";
    case MapProtocol::UpnpIgd: return "upnp-igd";
  }
  return "?";
}

std::optional<MapProtocol> parse_map_protocol(std::string_view text) {
  if (text == "pcp") return MapProtocol::Pcp;
  if (text == "nat-pmp") return MapProtocol::NatPmp;
  if (text == "upnp-igd") return MapProtocol::UpnpIgd;
  return std::nullopt;
}

Result<asio::ip::address_v4, std::string> default_gateway() {
  std::ifstream in("/proc/net/route");
  if (!in) return fail(std::string("cannot read /proc/net/route"));
  std::string text(256 * 1024, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  auto route = parse_default_route(text);
  if (!route) return fail(std::string("no IPv4 default route (/proc/net/route): give the gateway"));
  const auto& ip = route->gateway.ip;
  return asio::ip::address_v4({ip[0], ip[1], ip[2], ip[3]});
}

Result<PortMapping, std::vector<MapAttempt>> map_port(const PortMapRequest& request) {
  std::vector<MapProtocol> order{MapProtocol::Pcp, MapProtocol::NatPmp, MapProtocol::UpnpIgd};
  if (request.only) order = {*request.only};
  std::vector<MapAttempt> attempts;
  auto give_up = [&](const std::string& why) {
    for (auto p : order) attempts.push_back({p, why});
    return fail(attempts);
  };
  if (request.internal_port == 0) return give_up("no internal port to map");
  if (request.lifetime.count() <= 0 || request.lifetime.count() > 0xffffffffLL) {
    return give_up("the lifetime must be 1 s to 2^32-1 s");
  }
  asio::ip::address_v4 gateway;
  if (request.gateway) {
    gateway = *request.gateway;
  } else {
    auto gw = default_gateway();
    if (!gw) return give_up(gw.error());
    gateway = *gw;
  }
  for (auto p : order) {
    Result<PortMapping, std::string> r = fail(std::string());
    switch (p) {
      case MapProtocol::Pcp: r = pcp_map(gateway, request); break;
      case MapProtocol::NatPmp: r = natpmp_map(gateway, request); break;
      case MapProtocol::UpnpIgd: r = upnp_map(gateway, request); break;
    }
    if (r) {
      r->failed_first = std::move(attempts);
      return std::move(r).value();
    }
    attempts.push_back({p, r.error()});
  }
  return fail(attempts);
}

Result<std::monostate, std::string> renew(PortMapping& m) {
  switch (m.protocol) {
    case MapProtocol::Pcp: return pcp_renew(m);
    case MapProtocol::NatPmp: return natpmp_renew(m);
    case MapProtocol::UpnpIgd: return upnp_renew(m);
  }
  return fail(std::string("unknown protocol"));
}

Result<std::monostate, std::string> unmap(const PortMapping& m) {
  switch (m.protocol) {
    case MapProtocol::Pcp: return pcp_unmap(m);
    case MapProtocol::NatPmp: return natpmp_unmap(m);
    case MapProtocol::UpnpIgd: return upnp_unmap(m);
  }
  return fail(std::string("unknown protocol"));
}

}  // namespace natpunch
