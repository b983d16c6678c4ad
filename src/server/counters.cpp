#include "server/counters.h"

#include <nlohmann/json.hpp>

namespace natpunch {

std::uint64_t ServerCounters::dropped_total() const {
  std::uint64_t n = dropped_not_request;
  for (auto d : dropped) n += d;
  return n;
}

std::uint64_t ServerCounters::malformed_total() const {
  std::uint64_t n = 0;
  for (auto d : dropped) n += d;
  return n;
}

std::uint64_t ServerCounters::rejected_total() const {
  std::uint64_t n = 0;
  for (const auto& [code, count] : error_responses) n += count;
  return n;
}

std::uint64_t ServerCounters::rate_limited_total() const {
  std::uint64_t n = 0;
  for (auto d : rate_limited) n += d;
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
        {"connect_not_allowed", connect_not_allowed},
        {"port_mappings_ignored", port_mappings_ignored}}},
      {"rejected", rejected_total()},
      {"malformed", malformed_total()},
      {"rate_limited",
       {{"binding", rate_limited[0]},
        {"register", rate_limited[1]},
        {"connect", rate_limited[2]},
        {"signal", rate_limited[3]},
        {"other", rate_limited[4]},
        {"total", rate_limited_total()}}},
      {"limits",
       {{"registrations_capped", registrations_capped},
        {"sources_proven", sources_proven},
        {"connect_challenged", connect_challenged},
        {"amplification_trimmed", amplification_trimmed},
        {"amplification_refused", amplification_refused},
        {"indications_refused", indications_refused},
        {"rate_table_evictions", rate_table_evictions},
        {"proven_table_evictions", proven_table_evictions}}},
  };
  return j.dump();
}

}  // namespace natpunch
