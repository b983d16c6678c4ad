// The default IPv4 gateway, read from the kernel's routing table as /proc/net/route prints it:
//   Iface  Destination  Gateway   Flags  RefCnt  Use  Metric  Mask      MTU  Window  IRTT
//   eth0   00000000     0101A8C0  0003   0       0    0       00000000  0    0       0
// Addresses are the kernel's network-order 32-bit words printed with %08X on this host, so their
// bytes read in host order (0101A8C0 is 192.168.1.1 on a little-endian machine). Pure: io/ reads the
// file. The gateway is where PCP and NAT-PMP requests go (RFC 6887 §8.1, RFC 6886 §3).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "wire/address.h"

namespace natpunch {

struct DefaultRoute {
  std::string interface;
  SocketAddress gateway;  // port 0
  std::uint32_t metric = 0;
};

// The up (RTF_UP) gateway (RTF_GATEWAY) route to 0.0.0.0/0 with the lowest metric; nullopt if none.
// Malformed lines are skipped; at most `max_lines` lines are read.
std::optional<DefaultRoute> parse_default_route(std::string_view proc_net_route, std::size_t max_lines = 4096);

}  // namespace natpunch
