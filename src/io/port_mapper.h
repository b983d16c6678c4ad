// Router port mapping for the agent: asks the gateway to forward a public UDP port to one of this
// host's ports, with PCP (RFC 6887), then NAT-PMP (RFC 6886), then UPnP-IGD, and renews or deletes
// that mapping. Blocking and bounded: each protocol gives up after `timeout` (UPnP-IGD: SSDP
// discovery up to `timeout`, then miniupnpc's HTTP calls, each bounded by its 3 s socket timeouts).
// Meant for agent start and renewals, off the event loop. A mapping helps inbound traffic only: on
// a symmetric NAT, outbound flows to new destinations still get other ports (docs/lab.md).
#pragma once

#include <asio/ip/address_v4.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "portmap/pcp_message.h"
#include "wire/address.h"
#include "wire/result.h"

namespace natpunch {

enum class MapProtocol { Pcp, NatPmp, UpnpIgd };
std::string_view to_string(MapProtocol p);  // "pcp", "nat-pmp", "upnp-igd"
std::optional<MapProtocol> parse_map_protocol(std::string_view text);

struct PortMapRequest {
  std::uint16_t internal_port = 0;              // the local UDP port to reach from outside (required)
  std::chrono::seconds lifetime{3600};          // asked for; the gateway may grant less (see PortMapping)
  std::optional<asio::ip::address_v4> gateway;  // default: the default route's (/proc/net/route)
  std::optional<MapProtocol> only;              // default: PCP, then NAT-PMP, then UPnP-IGD
  std::chrono::milliseconds timeout{2000};      // per protocol
  std::uint16_t suggested_external = 0;         // 0: the internal port for UPnP-IGD, none otherwise
};

struct MapAttempt {
  MapProtocol protocol = MapProtocol::Pcp;
  std::string error;  // why it failed, for a person ("no PCP server answered at …:5351 within 2 s")
};

struct PortMapping {
  MapProtocol protocol = MapProtocol::Pcp;
  SocketAddress external;                // public IP:port the gateway forwards
  SocketAddress internal;                // this host's LAN IP:internal_port
  SocketAddress gateway;                 // the PCP/NAT-PMP server (port 5351) or the IGD's control host (port 0)
  std::chrono::seconds lifetime{0};      // granted; renew before it runs out (e.g. at half)
  std::vector<MapAttempt> failed_first;  // map_port: the protocols tried before this one, and why

  // Opaque: what renew() and unmap() need.
  std::chrono::seconds requested_lifetime{0};
  std::chrono::milliseconds timeout{2000};
  pcp::Nonce pcp_nonce{};         // PCP: the mapping's nonce (§11.1), repeated on renew/delete
  std::string upnp_control_url;   // UPnP-IGD: the WAN*Connection service's control URL
  std::string upnp_service_type;  // and its service type
};

// Tries the protocols in order until one maps; the error lists every attempt.
Result<PortMapping, std::vector<MapAttempt>> map_port(const PortMapRequest& request);

// Asks the same gateway, with the same protocol, to extend the mapping for its requested lifetime.
// Updates `mapping` (external address and granted lifetime) on success.
Result<std::monostate, std::string> renew(PortMapping& mapping);

// Deletes the mapping (PCP/NAT-PMP: lifetime 0; UPnP-IGD: DeletePortMapping). A mapping made by
// another process can be described by hand: protocol, gateway (IP; port 5351 for PCP/NAT-PMP),
// internal port, external port (UPnP-IGD), the nonce (PCP, which refuses any other), timeout; an
// empty UPnP control URL is found again by discovery on the gateway.
Result<std::monostate, std::string> unmap(const PortMapping& mapping);

// The default IPv4 gateway from /proc/net/route, or an error saying why there is none.
Result<asio::ip::address_v4, std::string> default_gateway();

}  // namespace natpunch
