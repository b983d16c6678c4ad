#pragma once

#include <array>
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

// Requests a source IP may send per second of one kind (a token bucket: `per_second` refill,
// `burst` capacity). 0 per second: no limit for that kind.
struct RateLimit {
  double per_second = 0;
  double burst = 0;
};

// The request kinds rate-limited separately. Other: unknown methods, indications, responses and
// datagrams that are not STUN at all (limited before they are parsed).
enum class RequestKind : std::uint8_t { Binding, Register, Connect, Signal, Other };
inline constexpr std::size_t kRequestKinds = 5;

// A TURN relay the server offers with every peer-info (issue 7): credentials in coturn's
// shared-secret mode (`--use-auth-secret --static-auth-secret`), valid for `lifetime`.
struct TurnOffer {
  SocketAddress server;
  std::string secret;
  std::chrono::seconds lifetime{600};
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
  // Abuse limits (docs/security.md). Replies to a source that has not proven it receives at its
  // address (by quoting a valid NONCE) are at most `amplification_limit` × the request's size:
  // optional attributes are dropped first, then the reply is not sent (counted).
  double amplification_limit = 1.0;
  std::size_t max_proven_sources = 1'000'000;    // proven-source table bound (arbitrary eviction when full)
  std::size_t max_registrations_per_ip = 1'000;  // live registrations whose mapping has one source IP
  // Per source IP and request kind, by RequestKind: binding, register, connect, signal, other.
  std::array<RateLimit, kRequestKinds> rate_limits{RateLimit{50, 100}, RateLimit{20, 40}, RateLimit{20, 40},
                                                   RateLimit{50, 100}, RateLimit{20, 40}};
  std::size_t max_rate_limited_sources = 100'000;  // rate-limit table bound (arbitrary eviction when full)
  // One entry per server socket, by socket index. Empty, or a group without its alternates: no
  // RFC 5780 (no OTHER-ADDRESS; CHANGE-REQUEST answered with 420).
  std::vector<SocketRole> sockets;
  std::optional<TurnOffer> turn;
};

}  // namespace natpunch
