// What fuzz_quic_session and make_session_seeds share: the pair of QuicSessions they build, a client
// and a server with fixed identity keys and addresses, each pinning the other's key, on a virtual
// clock. The seeds are then real flights between exactly the sessions the fuzzer feeds.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "identity/device_key.h"
#include "session/quic_session.h"
#include "wire/address.h"
#include "wire/clock.h"
#include "wire/result.h"

namespace natpunch::fuzz {

inline const SocketAddress& client_address() {
  static const SocketAddress a = SocketAddress::v4({198, 51, 100, 7}, 40000);
  return a;
}

inline const SocketAddress& server_address() {
  static const SocketAddress a = SocketAddress::v4({203, 0, 113, 9}, 50000);
  return a;
}

// The virtual time both sessions start at.
inline TimePoint session_start() { return TimePoint() + std::chrono::hours(1); }

// `role`'s identity key, from a fixed seed (every byte 1 for the client, 2 for the server).
inline const DeviceKey& session_key(SessionRole role) {
  auto fixed = [](std::uint8_t v) {
    std::array<std::byte, kSeedSize> s{};
    s.fill(std::byte{v});
    return DeviceKey::from_seed(s);
  };
  static const DeviceKey client = fixed(1);
  static const DeviceKey server = fixed(2);
  return role == SessionRole::Client ? client : server;
}

// `role`'s end of the pair: its own address as local, the other's as remote, the other's key pinned.
inline SessionConfig session_config(SessionRole role) {
  const bool client = role == SessionRole::Client;
  SessionConfig c;
  c.role = role;
  c.local = client ? client_address() : server_address();
  c.remote = client ? server_address() : client_address();
  c.peer_key = session_key(client ? SessionRole::Server : SessionRole::Client).public_key();
  return c;
}

// A session for `config` (normally session_config(), perhaps adjusted) with its role's key.
inline Result<std::unique_ptr<QuicSession>, std::string> make_session(const SessionConfig& config, TimePoint now) {
  return QuicSession::create(config, &session_key(config.role), now);
}

}  // namespace natpunch::fuzz
