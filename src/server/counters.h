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
  std::uint64_t change_requests = 0;  // RFC 5780 CHANGE-REQUEST answered from another socket
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
  std::uint64_t dropped_not_request = 0;  // valid STUN but not a request we serve (silently dropped)
  std::uint64_t send_errors = 0;
  std::array<std::uint64_t, 12> dropped{};  // by ParseError

  void drop(ParseError e) { ++dropped[static_cast<std::size_t>(e)]; }
  std::uint64_t dropped_total() const;
  std::string to_json() const;  // one line
};

}  // namespace natpunch
