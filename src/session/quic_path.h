// How a QUIC session names its path and its connections to ngtcp2: a SocketAddress as the sockaddr
// ngtcp2 keeps in its paths and back, and connection IDs that never make a packet look like STUN.
// Internal to src/session.
#pragma once

#include <ngtcp2/ngtcp2.h>

#include <cstddef>

#include "wire/address.h"
#include "wire/random_source.h"

namespace natpunch::quic {

inline constexpr std::size_t kCidLength = 16;

// A SocketAddress as the sockaddr ngtcp2 keeps in its paths.
struct SockAddr {
  ngtcp2_sockaddr_union u{};
  ngtcp2_socklen len = 0;

  explicit SockAddr(const SocketAddress& a);
  ngtcp2_addr addr() { return ngtcp2_addr{&u.sa, len}; }
};

SocketAddress from_sockaddr(const ngtcp2_addr& a);

// A connection ID that cannot make a short-header packet pass for STUN (session/stun_demux.h).
void random_cid(ngtcp2_cid& cid, std::size_t length, const RandomSource& random);

}  // namespace natpunch::quic
