#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "identity/device_key.h"
#include "wire/address.h"

namespace natpunch {

// Where a server socket stands in RFC 5780's grid: a group is one primary address and, when the
// server has an alternate, the three other combinations of {primary, alternate} IP × port.
struct SocketRole {
  std::uint8_t group = 0;
  bool alternate_ip = false;
  bool alternate_port = false;
  SocketAddress address;  // the socket's own address (RESPONSE-ORIGIN)
};

struct ServerConfig {
  std::chrono::seconds ttl{60};                  // registration lifetime; refresh = re-register
  std::size_t max_registrations = 1'000'000;     // registry bound
  std::size_t duplicate_cache_entries = 65'536;  // remembered (source, transaction) answers
  std::chrono::seconds duplicate_window{40};     // > RFC 8489's 39.5 s transaction timeout
  std::size_t max_attempts = 100'000;            // live connection attempts (for signal relay)
  std::chrono::seconds attempt_lifetime{120};    // how long a token may carry signals
  std::size_t max_message = 2048;                // frame cap (RFC 5780 PADDING probes reach ~1.5 KB)
  // Identity (identity/signed_request.h): a signed registration binds its key to the ID on first
  // use; later ones, and connect requests from a bound ID, must be signed by that key and quote a
  // nonce for their source. `require_signatures` refuses unsigned devices altogether;
  // `authorized_keys` (ID value → key) replaces trust on first use with the operator's list.
  bool require_signatures = false;
  std::optional<std::map<std::string, PublicKey>> authorized_keys;
  std::size_t max_key_bindings = 1'000'000;
  std::chrono::seconds nonce_period{300};
  // One entry per server socket, by socket index. Empty, or a group without its alternates: no
  // RFC 5780 (no OTHER-ADDRESS; CHANGE-REQUEST answered with 420).
  std::vector<SocketRole> sockets;
};

}  // namespace natpunch
