// What the server counts instead of logging (STYLE.md example 8): every request kind, every
// response, and every dropped datagram by reason.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>

#include "wire/parse_error.h"

namespace natpunch {

struct ServerCounters {
  std::uint64_t datagrams = 0;
  std::uint64_t binding_requests = 0;
  std::uint64_t change_requests = 0;         // RFC 5780 CHANGE-REQUEST answered from another socket
  std::uint64_t response_port_requests = 0;  // RFC 5780 RESPONSE-PORT (same IP, another port)
  std::uint64_t register_requests = 0;
  std::uint64_t connect_requests = 0;
  std::uint64_t peer_info_sent = 0;
  std::uint64_t signal_requests = 0;
  std::uint64_t signals_relayed = 0;
  std::uint64_t duplicate_requests = 0;
  std::uint64_t registrations_created = 0;
  std::uint64_t registrations_moved = 0;
  std::uint64_t registrations_expired = 0;
  std::uint64_t responses_ok = 0;
  std::map<int, std::uint64_t> error_responses;  // by ERROR-CODE
  std::uint64_t dropped_not_request = 0;         // valid STUN but not a request we serve (silently dropped)
  std::uint64_t send_errors = 0;
  // Identity checks (each refusal is also in error_responses by code).
  std::uint64_t signed_requests = 0;        // with a valid signature and nonce, accepted
  std::uint64_t keys_bound = 0;             // IDs bound to a key on first use
  std::uint64_t nonce_challenges = 0;       // signed requests without a valid nonce: 401 with one
  std::uint64_t stale_nonces = 0;           // 438
  std::uint64_t bad_signatures = 0;         // malformed or not verifying
  std::uint64_t key_mismatches = 0;         // a bound ID under another key (hijack attempts)
  std::uint64_t unsigned_refused = 0;       // unsigned request for a bound ID, or with --require-keys
  std::uint64_t not_authorized = 0;         // ID not in --authorized-keys
  std::uint64_t connect_not_allowed = 0;    // NP-CONNECT to a device whose NP-ALLOW excludes the requester
  std::uint64_t port_mappings_ignored = 0;  // NP-PORT-MAPPED not on the registration's source IP
  std::array<std::uint64_t, 12> dropped{};  // by ParseError
  // Abuse limits (docs/security.md).
  std::array<std::uint64_t, 5> rate_limited{};  // dropped unanswered, by RequestKind
  std::uint64_t registrations_capped = 0;       // refused: the source IP's --max-per-ip reached
  std::uint64_t sources_proven = 0;             // requests quoting a valid NONCE
  std::uint64_t connect_challenged = 0;         // NP-CONNECT from an unproven source: 401 with a NONCE
  std::uint64_t amplification_trimmed = 0;      // replies sent without optional attributes to fit
  std::uint64_t amplification_refused = 0;      // replies not sent: larger than the request even trimmed
  std::uint64_t indications_refused = 0;        // peer-info/signal not sent to an unproven address
  std::uint64_t rate_table_evictions = 0;       // rate-limit table full: a source forgotten early
  std::uint64_t proven_table_evictions = 0;     // proven-source table full: a proof forgotten early

  void drop(ParseError e) { ++dropped[static_cast<std::size_t>(e)]; }
  std::uint64_t dropped_total() const;
  std::uint64_t malformed_total() const;  // datagrams that failed to parse (every ParseError)
  std::uint64_t rejected_total() const;   // requests answered with an error response
  std::uint64_t rate_limited_total() const;
  std::string to_json() const;  // one line
};

}  // namespace natpunch
