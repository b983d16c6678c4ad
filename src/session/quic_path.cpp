#include "session/quic_path.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <array>
#include <cstring>

#include "session/stun_demux.h"

namespace natpunch::quic {

SockAddr::SockAddr(const SocketAddress& a) {
  if (a.family == Family::V4) {
    u.in.sin_family = AF_INET;
    u.in.sin_port = htons(a.port);
    std::memcpy(&u.in.sin_addr, a.ip.data(), 4);
    len = sizeof(sockaddr_in);
  } else {
    u.in6.sin6_family = AF_INET6;
    u.in6.sin6_port = htons(a.port);
    std::memcpy(&u.in6.sin6_addr, a.ip.data(), 16);
    len = sizeof(sockaddr_in6);
  }
}

SocketAddress from_sockaddr(const ngtcp2_addr& a) {
  SocketAddress out;
  if (a.addr->sa_family == AF_INET6) {
    const auto* s = reinterpret_cast<const sockaddr_in6*>(a.addr);
    std::array<std::uint8_t, 16> ip{};
    std::memcpy(ip.data(), &s->sin6_addr, 16);
    out = SocketAddress::v6(ip, ntohs(s->sin6_port));
  } else {
    const auto* s = reinterpret_cast<const sockaddr_in*>(a.addr);
    std::array<std::uint8_t, 4> ip{};
    std::memcpy(ip.data(), &s->sin_addr, 4);
    out = SocketAddress::v4(ip, ntohs(s->sin_port));
  }
  return out;
}

void random_cid(ngtcp2_cid& cid, std::size_t length, const RandomSource& random) {
  cid.datalen = length;
  do {
    random(std::span(reinterpret_cast<std::byte*>(cid.data), length));
  } while (cid_mimics_stun(ByteView(reinterpret_cast<const std::byte*>(cid.data), length)));
}

}  // namespace natpunch::quic
