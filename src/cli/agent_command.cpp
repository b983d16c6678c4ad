// natpunch agent: stay registered, answer connect requests by punching, echo what peers send.
#include <asio/signal_set.hpp>
#include <algorithm>
#include <iostream>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/device.h"
#include "cli/punch_options.h"
#include "device/admission.h"
#include "identity/authorized_keys.h"
#include "io/endpoint.h"
#include "io/relay_fallback.h"
#include "io/session_runner.h"
#include "io/traversal.h"

namespace natpunch::cli {

namespace {
using std::chrono::milliseconds;
using std::chrono::steady_clock;

struct AgentOptions {
  DeviceOptions device;
  PunchOptions punch;
  double keepalive_s = 15;
  double idle_s = 30;
  double run_for_s = 0;  // 0 = until stopped
  bool once = false;      // exit after the first connection attempt (and its session)
  bool json = false;
  std::vector<std::string> allow;  // --allow ID or ID=KEY: the peers that may connect (nobody when empty)
  std::string allow_keys;          // --allow-keys FILE: "ID HEX-KEY" lines, each a pinned peer
  bool allow_any = false;          // --allow-any: an open device
  int max_sprays_per_minute = 6;   // per peer
  bool no_relay = false;           // --no-relay: refuse relayed attempts (direct paths only)
};

class EventLog {
 public:
  explicit EventLog(bool json) : json_(json) {}
  void emit(nlohmann::json j, const std::string& human) {
    if (json_) std::cout << json_text(j) << std::endl;
    else std::cout << human << std::endl;
  }

 private:
  bool json_;
};

asio::awaitable<int> run(Device& d, const AgentOptions& o, Admission& admission, const PunchTuning& tuning,
                         std::optional<Method> method, const bool& stopping) {
  EventLog log(o.json);
  auto reg = co_await discover_and_register(d, o.device);
  if (!reg) {
    log.emit({{"event", "error"}, {"error", reg.error()}}, "natpunch agent: " + reg.error());
    co_return kExitFailed;
  }
  auto mapped = d.mapped;
  log.emit({{"event", "registered"}, {"id", d.id.value}, {"mapped", d.mapped.to_string()}, {"ttl_s", d.ttl_s},
            {"nat", nat_json(d.nat)}, {"port_mapping", port_mapping_json(d)},
            {"port_mapping_note", d.port_mapping_note.empty() ? nlohmann::json(nullptr) : nlohmann::json(d.port_mapping_note)}},
           "registered '" + d.id.value + "' as " + d.mapped.to_string() + " (NAT: " +
               std::string(d.nat ? short_name(*d.nat) : "not discovered") + ")" +
               (registered_port_mapping(d) ? "; router port mapping " + registered_port_mapping(d)->to_string() + " (" +
                                                 std::string(to_string(d.port_mapping->protocol)) + ")"
                                           : std::string()));
  auto refresh_every = milliseconds(std::max<long long>(1000, d.ttl_s * 1000 / 3));
  auto next_refresh = steady_clock::now() + refresh_every;
  auto end = o.run_for_s > 0 ? steady_clock::now() + milliseconds(static_cast<long long>(o.run_for_s * 1000))
                             : steady_clock::time_point::max();
  TraversalOptions topt;
  topt.tuning = tuning;
  topt.method = method;
  std::vector<AttemptToken> handled;
  std::optional<steady_clock::time_point> unreachable_since;  // first failed refresh of an outage
  std::uint64_t unauthenticated = 0;

  while (!stopping && steady_clock::now() < end) {
    auto wait = std::chrono::duration_cast<milliseconds>(std::min(next_refresh, end) - steady_clock::now());
    auto info = co_await d.client->wait_peer_info(std::max(wait, milliseconds(1)));
    if (steady_clock::now() >= next_refresh) {
      // Refresh = re-register. A refresh gives up within one interval and a failed one is tried
      // again at once, so an agent is back within two intervals of its server (a restarted server
      // answers the old nonce with a fresh one, and the client signs again with it).
      auto refresh_started = steady_clock::now();
      co_await renew_port_mapping_if_due(d);
      auto saved = d.client->policy();
      d.client->policy().deadline = std::min(saved.deadline, refresh_every);
      auto again = co_await discover_and_register(d, o.device, false);
      d.client->policy() = saved;
      next_refresh = steady_clock::now() + refresh_every;
      if (!again) {
        if (!unreachable_since) unreachable_since = refresh_started;
        next_refresh = steady_clock::now();
        log.emit({{"event", "error"}, {"error", again.error()}}, "natpunch agent: " + again.error());
      } else if (unreachable_since) {
        auto down = std::chrono::duration_cast<milliseconds>(steady_clock::now() - *unreachable_since).count();
        unreachable_since.reset();
        log.emit({{"event", "re-registered"}, {"mapped", d.mapped.to_string()}, {"down_ms", down}},
                 "registered again as " + d.mapped.to_string() + " after " + std::to_string(down) +
                     " ms without the server");
      }
      // A new public mapping means the NAT (or the network) changed: learn its behaviour again
      // and register that.
      if (again && d.mapped != mapped) {
        log.emit({{"event", "mapping-changed"}, {"old", mapped.to_string()}, {"mapped", d.mapped.to_string()}},
                 "public mapping changed: " + mapped.to_string() + " -> " + d.mapped.to_string());
        co_await discover_and_register(d, o.device, true);
        mapped = d.mapped;
      }
    }
    if (auto n = d.client->unauthenticated_peer_infos(); n > unauthenticated) {
      unauthenticated = n;
      log.emit({{"event", "refused"}, {"reason", "peer-info without our nonce (not from our server)"}, {"count", n}},
               "ignored a peer-info without our nonce (not from our server; " + std::to_string(n) + " so far)");
    }
    if (!info) continue;
    // A peer-info the server re-sent (the initiator repeated its request) for an attempt we
    // already handled: not a new connection.
    if (std::find(handled.begin(), handled.end(), info->token) != handled.end()) continue;
    handled.push_back(info->token);
    if (handled.size() > 64) handled.erase(handled.begin());
    // The server passes on only requests we allow (NP-ALLOW); the device decides again here, with
    // the keys it pinned itself, and sprays at most --max-sprays-per-minute times for one peer.
    auto admitted = admission.admit(info->peer, info->peer_key, info->peer_relayed.has_value(), steady_clock::now());
    if (!admitted) {
      auto why = std::string(describe(admitted.error()));
      nlohmann::json j{{"event", event_name(admitted.error())}, {"peer", info->peer.value}, {"reason", why}};
      if (admitted.error() == Refusal::RateLimited) j["max_per_minute"] = o.max_sprays_per_minute;
      log.emit(j, "refused a connection from '" + info->peer.value + "': " + why);
      continue;
    }
    auto started = steady_clock::now();
    topt.self_port_mapped = registered_port_mapping(d);
    SessionOptions sopt;
    sopt.key = d.key.get();
    sopt.peer_key = admitted->peer_key;  // the pinned key when there is one
    sopt.keepalive = milliseconds(static_cast<long long>(o.keepalive_s * 1000));
    sopt.idle_timeout = milliseconds(static_cast<long long>(o.idle_s * 1000));
    sopt.handshake_timeout = milliseconds(10000);
    auto on_message = [&log, peer = info->peer.value](const std::string& text) {
      log.emit({{"event", "message"}, {"peer", peer}, {"bytes", text.size()}},
               "echoed " + std::to_string(text.size()) + " bytes from '" + peer + "'");
    };
    std::optional<SessionSummary> ran;
    auto session_started = steady_clock::now();
    if (info->peer_relayed) {
      // A relayed attempt: the initiator found no direct path and waits at its relayed address.
      auto reached = co_await reach_relayed_peer(d.client->socket(), *info, Clock::now() + milliseconds(10000));
      auto ms = std::chrono::duration_cast<milliseconds>(steady_clock::now() - started).count();
      if (!reached) {
        log.emit({{"event", "failed"}, {"peer", info->peer.value}, {"method", "relay"}, {"error", reached.error()},
                  {"elapsed_ms", ms}},
                 "relayed connection from '" + info->peer.value + "' failed: " + reached.error());
        if (o.once) co_return kExitFailed;
        continue;
      }
      log.emit({{"event", "connected"}, {"peer", info->peer.value}, {"method", "relay"},
                {"remote", info->peer_relayed->to_string()}, {"elapsed_ms", ms}, {"probes_sent", *reached}},
               "connected to '" + info->peer.value + "' through its relayed address " +
                   info->peer_relayed->to_string() + " in " + std::to_string(ms) + " ms");
      session_started = steady_clock::now();
      // While relayed, probe the initiator's own mapping: if a direct path opens, the initiator
      // moves the session to it (make-before-break) and we log the upgrade.
      sopt.direct_probe_to = info->peer_mapped;
      sopt.on_path_change = [&log, &session_started, peer = info->peer.value](const SocketAddress& from,
                                                                             const SocketAddress& to) {
        auto after = std::chrono::duration_cast<milliseconds>(steady_clock::now() - session_started).count();
        log.emit({{"event", "upgraded"}, {"peer", peer}, {"method", "direct"}, {"from", from.to_string()},
                  {"remote", to.to_string()}, {"after_ms", after}},
                 "session with '" + peer + "' moved from the relay (" + from.to_string() + ") to a direct path (" +
                     to.to_string() + ") after " + std::to_string(after) + " ms");
      };
      ran = co_await run_server_session(d.client->socket(), *info->peer_relayed, info->token, sopt, on_message,
                                        stopping);
    }
    if (!ran) {
      auto path = co_await punch_path(*d.client, d.id, d.nat, d.mapped, *info, topt);
      auto ms = std::chrono::duration_cast<milliseconds>(steady_clock::now() - started).count();
      if (!path.outcome.ok) {
        log.emit({{"event", "failed"}, {"peer", info->peer.value}, {"error", path.outcome.error}, {"elapsed_ms", ms}},
                 "connection from '" + info->peer.value + "' failed: " + path.outcome.error);
        // With a relay offered, the initiator falls back to it next: --once waits for that attempt.
        if (o.once && !info->turn) co_return kExitFailed;
        continue;
      }
      log.emit({{"event", "connected"}, {"peer", info->peer.value}, {"method", to_string(path.outcome.method)},
                {"remote", path.outcome.remote.to_string()}, {"elapsed_ms", ms},
                {"probes_sent", path.outcome.probes_sent}},
               "connected to '" + info->peer.value + "' by " + std::string(to_string(path.outcome.method)) + " in " +
                   std::to_string(ms) + " ms, remote " + path.outcome.remote.to_string());
      // The path carries a QUIC session (TLS 1.3); the initiator must present the key its ID is bound
      // to (from the peer-info), or the handshake fails.
      session_started = steady_clock::now();
      sopt.initial_rtt = initial_rtt_for(path.outcome.rtt, sopt.initial_rtt);
      ran = co_await run_server_session(path_socket(path, *d.client), path.outcome.remote, info->token, sopt,
                                        on_message, stopping);
    }
    auto session_ms = std::chrono::duration_cast<milliseconds>(steady_clock::now() - session_started).count();
    const SessionSummary& summary = *ran;
    log.emit({{"event", "closed"},
              {"peer", info->peer.value},
              {"messages", summary.messages},
              {"reason", summary.ended},
              {"established", summary.established},
              {"peer_authenticated", summary.peer_authenticated},
              {"handshake_ms", summary.handshake.count()},
              {"session_ms", session_ms},
              {"path_changes", summary.path_changes},
              {"datagrams",
               {{"received", summary.datagrams.received},
                {"duplicates", summary.datagrams.duplicates},
                {"missing", summary.datagrams.highest - summary.datagrams.received}}}},
             "session with '" + info->peer.value + "' ended: " + summary.ended +
                 (summary.established ? (summary.peer_authenticated ? " (QUIC, peer authenticated)"
                                                                    : " (QUIC, peer NOT authenticated: it has no key)")
                                      : " (no session was established)"));
    if (o.once) co_return summary.established ? kExitOk : kExitFailed;
    next_refresh = std::min(next_refresh, steady_clock::now());  // refresh soon after a session
  }
  co_return kExitOk;
}

// --allow, --allow-any and --allow-keys as the device's admission policy; a usage error for a
// person otherwise.
Result<AdmissionPolicy, std::string> admission_policy(const AgentOptions& o) {
  AdmissionPolicy p;
  p.allow_any = o.allow_any;
  p.refuse_relayed = o.no_relay;
  p.attempts_per_minute = o.max_sprays_per_minute;
  if (o.allow_any && !o.allow.empty()) return fail(std::string("--allow-any and --allow exclude each other"));
  for (const auto& text : o.allow) {
    auto entry = parse_allow_entry(text);
    if (!entry) return fail("--allow '" + text + "' is not a valid ID (or ID=KEY with a 64-hex-digit key)");
    if (entry->key) {
      if (auto [it, fresh] = p.pinned.emplace(entry->id.value, *entry->key); !fresh && it->second != *entry->key)
        return fail("--allow pins two different keys for '" + entry->id.value + "'");
    } else {
      p.allowed.push_back(entry->id);
    }
  }
  if (!o.allow_keys.empty()) {
    auto text = read_small_file(o.allow_keys, kMaxAuthorizedKeysFile);
    if (!text) return fail("--allow-keys " + text.error());
    auto keys = parse_authorized_keys(*text);
    if (!keys) return fail("--allow-keys " + o.allow_keys + ": " + keys.error().describe());
    for (const auto& [id, key] : *keys) {
      if (auto [it, fresh] = p.pinned.emplace(id, key); !fresh && it->second != key)
        return fail("--allow and --allow-keys pin two different keys for '" + id + "'");
    }
  }
  return p;
}

int run_agent(AgentOptions o) {
  auto tuning = to_tuning(o.punch);
  if (!tuning) return report_failure(o.json, tuning.error(), kExitUsage);
  if (o.keepalive_s <= 0 || o.idle_s <= o.keepalive_s)
    return report_failure(o.json, "--keepalive must be > 0 and below --idle-timeout", kExitUsage);
  if (o.max_sprays_per_minute < 1 || o.max_sprays_per_minute > 600)
    return report_failure(o.json, "--max-sprays-per-minute must be 1..600", kExitUsage);
  auto policy = admission_policy(o);
  if (!policy) return report_failure(o.json, policy.error(), kExitUsage);
  Admission admission(std::move(*policy));
  o.device.allow = admission.announced();
  if (!o.allow_any && admission.policy().allowed.empty() && admission.policy().pinned.empty())
    std::cerr << "natpunch agent: warning: no --allow given: nobody may connect to this device "
                 "(add --allow PEER_ID for each peer, or --allow-any for an open device)\n";
  if (!o.allow_any && o.device.allow->any)
    std::cerr << "natpunch agent: note: more peers than a registration can name (" << kMaxAllowedPeers
              << "): the server passes every request on and the device decides alone\n";
  asio::io_context io;
  auto d = open_device(io, o.device);
  if (!d) {
    bool usage = d.error().rfind("usage: ", 0) == 0;
    return report_failure(o.json, usage ? d.error().substr(7) : d.error(), usage ? kExitUsage : kExitFailed);
  }
  bool stopping = false;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const asio::error_code& ec, int) {
    if (ec) return;
    stopping = true;
    io.stop();
  });
  int rc = kExitOk;
  asio::co_spawn(io, run(*d, o, admission, tuning->first, tuning->second, stopping), [&](std::exception_ptr e, int r) {
    rc = e ? kExitFailed : r;
    signals.cancel();
  });
  io.run();
  // The router mapping goes with the agent (bounded: each protocol's timeout).
  if (d->port_mapping) (void)unmap(*d->port_mapping);
  return rc;
}
}  // namespace

Runner add_agent_command(CLI::App& app) {
  auto o = std::make_shared<AgentOptions>();
  auto* cmd = app.add_subcommand("agent", "Stay registered, answer connect requests and echo application messages");
  add_device_options(*cmd, o->device);
  add_punch_options(*cmd, o->punch);
  cmd->add_option("--keepalive", o->keepalive_s, "Seconds between keepalives on a live path (< the NAT's UDP timeout)")
      ->capture_default_str();
  cmd->add_option("--idle-timeout", o->idle_s, "Seconds of silence after which a path is given up")
      ->capture_default_str();
  cmd->add_option("--run-for", o->run_for_s, "Stop after this many seconds (0 = until SIGINT/SIGTERM)")
      ->capture_default_str();
  cmd->add_option("--allow", o->allow,
                  "A peer that may connect: ID, or ID=KEY to accept it only with that public key (64 hex digits, "
                  "as `natpunch key` prints it) whatever the server says (repeatable). The server passes on only "
                  "their requests (up to 16 IDs; with more, all requests) and the agent checks again. Without "
                  "--allow, --allow-keys or --allow-any nobody may connect");
  cmd->add_option("--allow-keys", o->allow_keys,
                  "A file of pinned peers, one 'ID HEX-KEY' per line ('#' comments; the --authorized-keys format): "
                  "each may connect, only with that key");
  cmd->add_flag("--allow-any", o->allow_any, "Let any peer connect (an open device)");
  cmd->add_option("--max-sprays-per-minute", o->max_sprays_per_minute,
                  "Connection attempts (each a spray of probes) answered per peer per minute; more are ignored")
      ->capture_default_str();
  cmd->add_flag("--no-relay", o->no_relay,
                "Refuse relayed attempts (an initiator that found no direct path and waits at a TURN relay)");
  cmd->add_flag("--once", o->once, "Exit after the first connection attempt and its session (exit 1 if it failed)");
  cmd->add_flag("--json", o->json,
                "One JSON object per event: registered (mapped, nat, port_mapping{protocol, external, lifetime_s} or "
                "null, port_mapping_note), connected (method: direct, port-mapped, simultaneous, birthday-*, relay), "
                "upgraded (a relayed session moved to a direct path: from, remote, after_ms), message, closed (reason, "
                "datagrams{received, duplicates, missing}, path_changes, "
                "established, peer_authenticated, handshake_ms, session_ms), failed, refused, rate-limited, "
                "mapping-changed, error");
  cmd->footer("Example:\n  natpunch agent --server 203.0.113.1:3478 --id home --allow phone --json");
  return [o] { return run_agent(*o); };
}

}  // namespace natpunch::cli
