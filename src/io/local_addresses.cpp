#include "io/local_addresses.h"

#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <cstring>

namespace natpunch {

std::vector<SocketAddress> local_addresses(std::uint16_t port, bool include_loopback) {
  std::vector<SocketAddress> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (auto* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr || !(i->ifa_flags & IFF_UP)) continue;
    if ((i->ifa_flags & IFF_LOOPBACK) && !include_loopback) continue;
    SocketAddress a;
    a.port = port;
    if (i->ifa_addr->sa_family == AF_INET) {
      a.family = Family::V4;
      std::memcpy(a.ip.data(), &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, 4);
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      auto* s6 = reinterpret_cast<sockaddr_in6*>(i->ifa_addr);
      if (IN6_IS_ADDR_LINKLOCAL(&s6->sin6_addr)) continue;  // needs a scope id to be usable
      a.family = Family::V6;
      std::memcpy(a.ip.data(), &s6->sin6_addr, 16);
    } else {
      continue;
    }
    out.push_back(a);
  }
  freeifaddrs(list);
  return out;
}

}  // namespace natpunch
