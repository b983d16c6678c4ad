#include "server/socket_plan.h"

namespace natpunch {

std::vector<SocketRole> plan_sockets(const std::vector<SocketAddress>& listen, std::optional<SocketAddress> alternate) {
  std::vector<SocketRole> out;
  bool alternate_used = false;
  for (std::size_t g = 0; g < listen.size(); ++g) {
    auto group = static_cast<std::uint8_t>(g);
    const auto& primary = listen[g];
    out.push_back({group, false, false, primary});
    if (!alternate || alternate_used || alternate->family != primary.family) continue;
    alternate_used = true;
    auto primary_ip_alt_port = primary;
    primary_ip_alt_port.port = alternate->port;
    auto alt_ip_primary_port = *alternate;
    alt_ip_primary_port.port = primary.port;
    out.push_back({group, false, true, primary_ip_alt_port});
    out.push_back({group, true, false, alt_ip_primary_port});
    out.push_back({group, true, true, *alternate});
  }
  return out;
}

}  // namespace natpunch
