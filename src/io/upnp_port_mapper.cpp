// UPnP-IGD with miniupnpc (API 17, Debian's 2.2.4): SSDP discovery, then natpunch reads the root
// description of the IGD on the gateway itself (portmap/upnp_reply.h) instead of UPNP_GetValidIGD,
// which rejects an IGD whose external address is private or reserved as "not connected" (the lab's
// is; `upnpc -i` accepts it too), then GetExternalIPAddress and AddPortMapping with a lease.
// Bounds: discovery waits up to the timeout (at most 5 s); every HTTP call has miniupnpc's 3 s
// socket timeouts.
#include <miniupnpc/miniupnpc.h>
#include <miniupnpc/miniwget.h>
#include <miniupnpc/upnpcommands.h>

#include <algorithm>
#include <cstdlib>
#include <memory>

#include "io/port_mapper_protocols.h"
#include "portmap/upnp_reply.h"
#include "wire/random_source.h"

namespace natpunch::portmap_driver {

namespace {

constexpr int kUpnpConflict = 718;         // ConflictInMappingEntry
constexpr int kOnlyPermanentLeases = 725;  // OnlyPermanentLeasesSupported

struct FreeDevlist {
  void operator()(UPNPDev* d) const { ::freeUPNPDevlist(d); }
};

struct Igd {
  upnp::IgdControl control;
  std::string lan_address;  // ours, as miniwget saw it toward the IGD
};

Result<Igd, std::string> find_igd(const asio::ip::address_v4& gateway, std::chrono::milliseconds timeout) {
  int error = 0;
  const int delay_ms = static_cast<int>(std::clamp<long long>(timeout.count(), 100, 5000));
  // One search, for the IGD device type: upnpDiscover() searches four types in turn, each waiting
  // the whole delay, so a network without an IGD cost four times the timeout. An IGD:2 answers an
  // IGD:1 search too (UPnP Device Architecture: a device answers searches for earlier versions).
  static const char* const kTypes[] = {"urn:schemas-upnp-org:device:InternetGatewayDevice:1", nullptr};
  std::unique_ptr<UPNPDev, FreeDevlist> devices(
      ::upnpDiscoverDevices(kTypes, delay_ms, nullptr, nullptr, UPNP_LOCAL_PORT_ANY, 0, 2, &error, 0));
  if (!devices) {
    std::string e = "UPnP-IGD: no answer to SSDP discovery within " + seconds_text(std::chrono::milliseconds(delay_ms));
    if (error != UPNPDISCOVER_SUCCESS) e += " (discovery error " + std::to_string(error) + ")";
    return fail(e);
  }
  const std::string gw = gateway.to_string();
  int seen = 0;
  std::string why;
  for (UPNPDev* d = devices.get(); d != nullptr; d = d->pNext) {
    ++seen;
    if (!d->descURL || upnp::url_host(d->descURL) != gw) {
      why = "none on the gateway " + gw;
      continue;
    }
    int size = 0;
    int status = 0;
    char lan[64] = {};
    std::unique_ptr<char, decltype(&std::free)> xml(
        static_cast<char*>(::miniwget_getaddr(d->descURL, &size, lan, sizeof lan, d->scope_id, &status)), &std::free);
    if (!xml || size <= 0) {
      why = "its description could not be fetched (HTTP status " + std::to_string(status) + ")";
      continue;
    }
    auto control = upnp::read_root_description(std::string_view(xml.get(), static_cast<std::size_t>(size)), d->descURL,
                                               d->scope_id);
    if (!control) {
      why = control.error();
      continue;
    }
    return Igd{*control, std::string(lan, ::strnlen(lan, sizeof lan))};
  }
  return fail("UPnP-IGD: SSDP found " + std::to_string(seen) + " device(s), no usable IGD: " + why);
}

Result<SocketAddress, std::string> external_ip(const upnp::IgdControl& c) {
  char ip[40] = {};
  int rc = ::UPNP_GetExternalIPAddress(c.control_url.c_str(), c.service_type.c_str(), ip);
  if (rc != UPNPCOMMAND_SUCCESS) return fail("UPnP-IGD: GetExternalIPAddress failed: " + upnp::describe_error(rc));
  auto a = upnp::parse_external_ip(std::string_view(ip, ::strnlen(ip, sizeof ip)));
  if (!a) return fail("UPnP-IGD: " + a.error());
  return *a;
}

// AddPortMapping of UDP external → lan:internal; an IGD that only takes permanent leases (725) gets
// lease 0 (natpunch deletes it on unmap).
int add_mapping(const upnp::IgdControl& c, std::uint16_t external, const std::string& lan, std::uint16_t internal,
                std::chrono::seconds lifetime) {
  auto ext = std::to_string(external);
  auto in = std::to_string(internal);
  auto lease = std::to_string(lifetime.count());
  int rc = ::UPNP_AddPortMapping(c.control_url.c_str(), c.service_type.c_str(), ext.c_str(), in.c_str(), lan.c_str(),
                                 "natpunch", "UDP", nullptr, lease.c_str());
  if (rc == kOnlyPermanentLeases) {
    rc = ::UPNP_AddPortMapping(c.control_url.c_str(), c.service_type.c_str(), ext.c_str(), in.c_str(), lan.c_str(),
                               "natpunch", "UDP", nullptr, "0");
  }
  return rc;
}

}  // namespace

Result<PortMapping, std::string> upnp_map(const asio::ip::address_v4& gateway, const PortMapRequest& r) {
  auto igd = find_igd(gateway, r.timeout);
  if (!igd) return fail(igd.error());
  auto ip = external_ip(igd->control);
  if (!ip) return fail(ip.error());
  auto lan = parse_ip(igd->lan_address);
  if (!lan || lan->family != Family::V4) return fail(std::string("UPnP-IGD: no local address toward the IGD"));
  // UPnP has no "any port": ask for the suggested (or the internal) port; when another host holds
  // it (718), two random ports in 1024–65535.
  std::uint16_t external = r.suggested_external != 0 ? r.suggested_external : r.internal_port;
  const auto random = system_random();
  int rc = add_mapping(igd->control, external, igd->lan_address, r.internal_port, r.lifetime);
  for (int i = 0; i < 2 && rc == kUpnpConflict; ++i) {
    external = static_cast<std::uint16_t>(1024 + random_u64(random) % (65536 - 1024));
    rc = add_mapping(igd->control, external, igd->lan_address, r.internal_port, r.lifetime);
  }
  if (rc != UPNPCOMMAND_SUCCESS) {
    return fail("UPnP-IGD: gateway " + gateway.to_string() + " refused AddPortMapping: " + upnp::describe_error(rc));
  }
  PortMapping m;
  m.protocol = MapProtocol::UpnpIgd;
  m.external = *ip;
  m.external.port = external;
  m.internal = *lan;
  m.internal.port = r.internal_port;
  m.gateway = to_socket_address(gateway, 0);
  m.lifetime = r.lifetime;  // UPnP does not say what it granted: the lease asked for
  m.requested_lifetime = r.lifetime;
  m.timeout = r.timeout;
  m.upnp_control_url = igd->control.control_url;
  m.upnp_service_type = igd->control.service_type;
  return m;
}

Done upnp_renew(PortMapping& m) {
  // Renewing is adding the same mapping again (UPnP-IGD 2.0 §2.4.16: same entry, new lease).
  upnp::IgdControl c{m.upnp_control_url, m.upnp_service_type};
  int rc = add_mapping(c, m.external.port, m.internal.ip_string(), m.internal.port, m.requested_lifetime);
  if (rc != UPNPCOMMAND_SUCCESS) return fail("UPnP-IGD: renewing failed: " + upnp::describe_error(rc));
  m.lifetime = m.requested_lifetime;
  return std::monostate{};
}

Done upnp_unmap(const PortMapping& m) {
  upnp::IgdControl c{m.upnp_control_url, m.upnp_service_type};
  if (c.control_url.empty()) {  // a mapping made by another process: find the gateway's IGD again
    std::array<unsigned char, 4> b{};
    std::copy_n(m.gateway.ip.begin(), 4, b.begin());
    auto igd = find_igd(asio::ip::address_v4(b), m.timeout);
    if (!igd) return fail(igd.error());
    c = igd->control;
  }
  auto ext = std::to_string(m.external.port);
  int rc = ::UPNP_DeletePortMapping(c.control_url.c_str(), c.service_type.c_str(), ext.c_str(), "UDP", nullptr);
  if (rc != UPNPCOMMAND_SUCCESS) return fail("UPnP-IGD: DeletePortMapping failed: " + upnp::describe_error(rc));
  return std::monostate{};
}

}  // namespace natpunch::portmap_driver
