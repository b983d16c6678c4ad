#include "server/counters.h"

#include <nlohmann/json.hpp>

namespace natpunch {

std::uint64_t ServerCounters::dropped_total() const {
  std::uint64_t n = dropped_not_request;
  for (auto d : dropped) n += d;
  return n;
}

std::string ServerCounters::to_json() const {
  nlohmann::json drops;
  for (std::size_t i = 0; i < dropped.size(); ++i)
    drops[std::string(to_string(static_cast<ParseError>(i)))] = dropped[i];
  drops["not_a_served_request"] = dropped_not_request;
  nlohmann::json responses = {{"ok", responses_ok}};
  for (const auto& [code, n] : error_responses) responses[std::to_string(code)] = n;
  nlohmann::json j = {
      {"datagrams", datagrams},
      {"requests",
       {{"binding", binding_requests},
        {"change_request", change_requests},
        {"response_port", response_port_requests},
        {"register", register_requests},
        {"connect", connect_requests},
        {"signal", signal_requests},
        {"duplicate", duplicate_requests}}},
      {"registrations",
       {{"created", registrations_created}, {"moved", registrations_moved}, {"expired", registrations_expired}}},
      {"peer_info_sent", peer_info_sent},
      {"signals_relayed", signals_relayed},
      {"responses", responses},
      {"dropped", drops},
      {"dropped_total", dropped_total()},
      {"send_errors", send_errors},
      {"auth",
       {{"signed", signed_requests},
        {"keys_bound", keys_bound},
        {"nonce_challenges", nonce_challenges},
        {"stale_nonces", stale_nonces},
        {"bad_signatures", bad_signatures},
        {"key_mismatches", key_mismatches},
        {"unsigned_refused", unsigned_refused},
        {"not_authorized", not_authorized},
        {"connect_not_allowed", connect_not_allowed}}},
  };
  return j.dump();
}

}  // namespace natpunch
