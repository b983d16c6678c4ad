// The port mapper's protocol drivers (io/port_mapper.cpp picks among them). One file each:
// pcp_port_mapper.cpp, natpmp_port_mapper.cpp, upnp_port_mapper.cpp.
#pragma once

#include <string>
#include <variant>

#include "io/port_mapper.h"

namespace natpunch::portmap_driver {

using Done = Result<std::monostate, std::string>;

// "2 s", "2.5 s": for error messages.
std::string seconds_text(std::chrono::milliseconds d);
SocketAddress to_socket_address(const asio::ip::address_v4& a, std::uint16_t port);

Result<PortMapping, std::string> pcp_map(const asio::ip::address_v4& gateway, const PortMapRequest& r);
Done pcp_renew(PortMapping& m);
Done pcp_unmap(const PortMapping& m);

Result<PortMapping, std::string> natpmp_map(const asio::ip::address_v4& gateway, const PortMapRequest& r);
Done natpmp_renew(PortMapping& m);
Done natpmp_unmap(const PortMapping& m);

Result<PortMapping, std::string> upnp_map(const asio::ip::address_v4& gateway, const PortMapRequest& r);
Done upnp_renew(PortMapping& m);
Done upnp_unmap(const PortMapping& m);

}  // namespace natpunch::portmap_driver
