// What fuzz_request_handler and make_fuzz_seeds share: the input framing, the fixed sources and
// server sockets, the server configuration and a deterministic RandomSource (so a crash input
// reproduces, and the seed generator can predict the attempt tokens the handler will issue).
//
// Framing: datagrams separated by kSeparator; after each separator one control byte:
//   bits 0-1 source index, bits 2-4 receiving socket, bit 5 tick() first,
//   bits 6-7 advance the clock by 0/20/40/60 s.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "wire/random_source.h"
#include "server/server_config.h"
#include "wire/address.h"

namespace natpunch::fuzz {

inline constexpr std::array<std::uint8_t, 4> kSeparator{0xF0, 0x0D, 0xCA, 0xFE};

constexpr std::uint8_t control(std::uint8_t source, std::uint8_t socket = 0, std::uint8_t advance_20s = 0,
                               bool tick = false) {
  return static_cast<std::uint8_t>((source & 0x03) | ((socket & 0x07) << 2) | (tick ? 0x20 : 0) |
                                   ((advance_20s & 0x03) << 6));
}

inline const std::array<SocketAddress, 4>& sources() {
  static const std::array<SocketAddress, 4> s{
      SocketAddress::v4({198, 51, 100, 7}, 40000),
      SocketAddress::v4({203, 0, 113, 9}, 50000),
      SocketAddress::v6({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x42}, 60000),
      SocketAddress::v4({198, 51, 100, 7}, 40001),  // same host as source 0, another port
  };
  return s;
}

// Sockets 0-3: one RFC 5780 group (primary, alternate port, alternate IP, both); socket 4: a
// primary with no alternates; sockets 5-7 have no role at all.
inline std::vector<SocketRole> socket_roles() {
  auto a = [](std::uint8_t last, std::uint16_t port) { return SocketAddress::v4({192, 0, 2, last}, port); };
  return {
      {0, false, false, a(1, 3478)}, {0, false, true, a(1, 3479)}, {0, true, false, a(2, 3478)},
      {0, true, true, a(2, 3479)},   {1, false, false, a(3, 3478)},
  };
}

inline ServerConfig handler_config() {
  ServerConfig config;
  config.ttl = std::chrono::seconds(30);
  config.max_registrations = 3;        // small, so "registry full" is reachable
  config.duplicate_cache_entries = 4;  // small, so eviction is reachable
  config.duplicate_window = std::chrono::seconds(40);
  config.max_attempts = 4;
  config.attempt_lifetime = std::chrono::seconds(60);
  config.sockets = socket_roles();
  return config;
}

inline RandomSource deterministic_random() {
  auto state = std::make_shared<std::uint64_t>(0x9E3779B97F4A7C15ull);
  return [state](std::span<std::byte> out) {
    for (auto& b : out) {
      std::uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      b = static_cast<std::byte>(z ^ (z >> 31));
    }
  };
}

}  // namespace natpunch::fuzz
