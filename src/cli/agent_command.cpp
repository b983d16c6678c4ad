// natpunch agent: stay registered, answer connect requests by punching, echo what peers send.
#include <asio/signal_set.hpp>
#include <algorithm>
#include <iostream>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/device.h"
#include "cli/punch_options.h"
#include "device/admission.h"
#include "device/device_machine.h"
#include "device/echo_app.h"
#include "identity/authorized_keys.h"
#include "io/device_loop.h"
#include "io/endpoint.h"

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
  std::size_t max_attempts = 8;    // punching at once
  std::size_t max_sessions = 64;   // sessions at once
  std::size_t max_sockets = 0;     // extra sockets at once (0: 4096, within the file limit)
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

// The device's events as the agent's lines: one JSON object each with --json, a sentence otherwise.
// Ends the run (through `finish`) on what ends it: a first registration that fails, and with
// --once the first attempt and its session.
class AgentEvents {
 public:
  AgentEvents(const AgentOptions& o, DeviceMachine& m, std::function<void(int)> finish)
      : o_(o), log_(o.json), machine_(m), finish_(std::move(finish)) {}

  void operator()(const DeviceEvent& e) {
    std::visit([this](const auto& x) { on(x); }, e);
  }

 private:
  struct Session {
    std::string peer;
    bool relayed = false;
    steady_clock::time_point started;
  };

  void on(const RegisteredEvent& e) {
    auto who = o_.device.id;
    log_.emit({{"event", "registered"}, {"id", who}, {"mapped", e.mapped.to_string()}, {"ttl_s", e.ttl_s},
               {"nat", nat_json(e.nat)}, {"port_mapping", port_mapping_json(e.port_mapping)},
               {"port_mapping_note", e.port_mapping_note.empty() ? nlohmann::json(nullptr) : nlohmann::json(e.port_mapping_note)}},
              "registered '" + who + "' as " + e.mapped.to_string() + " (NAT: " +
                  std::string(e.nat ? short_name(*e.nat) : "not discovered") + ")" +
                  (e.port_mapping ? "; router port mapping " + e.port_mapping->external.to_string() + " (" +
                                        e.port_mapping->protocol + ")"
                                  : std::string()));
  }
  void on(const RegistrationFailedEvent& e) {
    log_.emit({{"event", "error"}, {"error", e.error}}, "natpunch agent: " + e.error);
    if (!e.registered_before) finish_(kExitFailed);  // as before: a device that never registered gives up
  }
  void on(const ReRegisteredEvent& e) {
    log_.emit({{"event", "re-registered"}, {"mapped", e.mapped.to_string()}, {"down_ms", e.down.count()}},
              "registered again as " + e.mapped.to_string() + " after " + std::to_string(e.down.count()) +
                  " ms without the server");
  }
  void on(const MappingChangedEvent& e) {
    log_.emit({{"event", "mapping-changed"}, {"old", e.old_mapped.to_string()}, {"mapped", e.mapped.to_string()}},
              "public mapping changed: " + e.old_mapped.to_string() + " -> " + e.mapped.to_string());
  }
  void on(const UnauthenticatedPeerInfoEvent& e) {
    log_.emit({{"event", "refused"}, {"reason", "peer-info without our nonce (not from our server)"}, {"count", e.count}},
              "ignored a peer-info without our nonce (not from our server; " + std::to_string(e.count) + " so far)");
  }
  void on(const AttemptRefusedEvent& e) {
    auto why = std::string(describe(e.reason));
    nlohmann::json j{{"event", event_name(e.reason)}, {"peer", e.peer.value}, {"reason", why}};
    if (e.reason == Refusal::RateLimited) j["max_per_minute"] = o_.max_sprays_per_minute;
    log_.emit(j, "refused a connection from '" + e.peer.value + "': " + why);
  }
  void on(const AttemptBusyEvent& e) {
    log_.emit({{"event", "busy"}, {"peer", e.peer.value}, {"reason", e.reason}},
              "turned away '" + e.peer.value + "' (told at once): " + e.reason);
  }
  void on(const ConnectedEvent& e) {
    auto method = e.relayed ? std::string("relay") : std::string(to_string(e.method));
    log_.emit({{"event", "connected"}, {"peer", e.peer.value}, {"method", method}, {"remote", e.remote.to_string()},
               {"elapsed_ms", e.elapsed.count()}, {"probes_sent", e.probes_sent}},
              e.relayed ? "connected to '" + e.peer.value + "' through its relayed address " + e.remote.to_string() +
                              " in " + std::to_string(e.elapsed.count()) + " ms"
                        : "connected to '" + e.peer.value + "' by " + method + " in " +
                              std::to_string(e.elapsed.count()) + " ms, remote " + e.remote.to_string());
    if (e.connection) sessions_[e.connection] = Session{e.peer.value, e.relayed, steady_clock::now()};
  }
  void on(const AttemptFailedEvent& e) {
    nlohmann::json j{{"event", "failed"}, {"peer", e.peer.value}, {"error", e.error}, {"elapsed_ms", e.elapsed.count()}};
    if (e.relayed) j["method"] = "relay";
    log_.emit(j, (e.relayed ? "relayed connection from '" : "connection from '") + e.peer.value +
                     "' failed: " + e.error);
    // With a relay offered, the initiator falls back to it next, and a superseded attempt has a newer
    // one running: --once waits for those.
    if (o_.once && !e.superseded && (e.relayed || !e.relay_offered)) finish_(kExitFailed);
  }
  void on(const SessionEstablishedEvent&) {}
  // The initiator's side (the agent never connects).
  void on(const IntroducedEvent&) {}
  void on(const ConnectFailedEvent&) {}
  void on(const UpgradedEvent&) {}
  void on(const UpgradeFailedEvent&) {}
  void on(const MessageEvent& e) {
    log_.emit({{"event", "message"}, {"peer", e.peer.value}, {"bytes", e.data.size()}},
              "echoed " + std::to_string(e.data.size()) + " bytes from '" + e.peer.value + "'");
  }
  void on(const SessionDatagramEvent&) {}
  void on(const PathChangedEvent& e) {
    auto it = sessions_.find(e.connection);
    if (it == sessions_.end() || !it->second.relayed) return;
    auto after = std::chrono::duration_cast<milliseconds>(steady_clock::now() - it->second.started).count();
    log_.emit({{"event", "upgraded"}, {"peer", e.peer.value}, {"method", "direct"}, {"from", e.from.to_string()},
               {"remote", e.to.to_string()}, {"after_ms", after}},
              "session with '" + e.peer.value + "' moved from the relay (" + e.from.to_string() +
                  ") to a direct path (" + e.to.to_string() + ") after " + std::to_string(after) + " ms");
    it->second.relayed = false;
  }
  void on(const SessionClosedEvent& e) {
    sessions_.erase(e.connection);
    log_.emit({{"event", "closed"},
               {"peer", e.peer.value},
               {"messages", e.messages},
               {"reason", e.reason},
               {"established", e.established},
               {"peer_authenticated", e.peer_authenticated},
               {"handshake_ms", e.handshake.count()},
               {"session_ms", e.lasted.count()},
               {"path_changes", e.path_changes},
               {"datagrams",
                {{"received", e.datagrams_received},
                 {"duplicates", e.datagrams_duplicated},
                 {"missing", e.datagrams_missing}}}},
              "session with '" + e.peer.value + "' ended: " + e.reason +
                  (e.established ? (e.peer_authenticated ? " (QUIC, peer authenticated)"
                                                         : " (QUIC, peer NOT authenticated: it has no key)")
                                 : " (no session was established)"));
    if (o_.once) finish_(e.established ? kExitOk : kExitFailed);
  }

  const AgentOptions& o_;
  EventLog log_;
  DeviceMachine& machine_;
  std::function<void(int)> finish_;
  std::map<ConnectionId, Session> sessions_;
};

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
  if (!o.allow_any && admission.policy().allowed.empty() && admission.policy().pinned.empty())
    std::cerr << "natpunch agent: warning: no --allow given: nobody may connect to this device "
                 "(add --allow PEER_ID for each peer, or --allow-any for an open device)\n";
  if (!o.allow_any && admission.announced().any)
    std::cerr << "natpunch agent: note: more peers than a registration can name (" << kMaxAllowedPeers
              << "): the server passes every request on and the device decides alone\n";
  asio::io_context io;
  auto d = open_device_setup(io, o.device);
  if (!d) {
    bool usage = d.error().rfind("usage: ", 0) == 0;
    return report_failure(o.json, usage ? d.error().substr(7) : d.error(), usage ? kExitUsage : kExitFailed);
  }
  auto& c = d->config;
  c.admission = admission.policy();
  c.tuning = tuning->first;
  c.forced = tuning->second;
  c.session.keepalive = milliseconds(static_cast<long long>(o.keepalive_s * 1000));
  c.session.idle_timeout = milliseconds(static_cast<long long>(o.idle_s * 1000));
  c.session.handshake_timeout = milliseconds(10000);
  c.max_attempts = o.once ? 1 : o.max_attempts;
  c.max_sessions = o.once ? 1 : o.max_sessions;
  // Each socket is a file: stay 64 below the limit (the main socket, logs, the port mapper's own).
  auto files = raise_file_limit();
  auto room = files > 128 ? files - 64 : 64;
  c.max_sockets = std::min(o.max_sockets ? o.max_sockets : c.max_sockets, room);
  DeviceMachine machine(c);
  int rc = kExitOk;
  DeviceLoopOptions lo;
  lo.port_map = d->port_map;
  if (o.run_for_s > 0) lo.run_until = steady_clock::now() + milliseconds(static_cast<long long>(o.run_for_s * 1000));
  DeviceLoop* loop_ptr = nullptr;
  AgentEvents events(o, machine, [&](int code) {
    rc = code;
    if (loop_ptr) loop_ptr->stop();
  });
  EchoApp echo(machine);  // the agent's application: every message goes back on its stream
  lo.on_event = [&events, &echo](const DeviceEvent& e) {
    echo.on_event(e, steady_clock::now());
    events(e);
  };
  DeviceLoop loop(io, machine, d->socket, std::move(lo));
  loop_ptr = &loop;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const asio::error_code& ec, int) {
    if (!ec) loop.stop();  // sessions close (their peers are told), the port mapping is released
  });
  asio::co_spawn(io, loop.run(), [&](std::exception_ptr e) {
    if (e) rc = kExitFailed;
    signals.cancel();
  });
  io.run();
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
  cmd->add_option("--max-attempts", o->max_attempts,
                  "Connection attempts punched at once; one more is turned away at once (a 'busy' event; the "
                  "peer is told and fails fast)")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  cmd->add_option("--max-sessions", o->max_sessions, "Sessions open at once; one more is turned away as busy")
      ->check(CLI::Range(1, 65536))
      ->capture_default_str();
  cmd->add_option("--max-sockets", o->max_sockets,
                  "Extra sockets open at once (a birthday listener opens --ports of them); an attempt that would "
                  "pass it is turned away as busy, never run with fewer. Default 4096, within the open-file limit")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_flag("--once", o->once, "Exit after the first connection attempt and its session (exit 1 if it failed)");
  cmd->add_flag("--json", o->json,
                "One JSON object per event: registered (mapped, nat, port_mapping{protocol, external, lifetime_s} or "
                "null, port_mapping_note), connected (method: direct, port-mapped, simultaneous, birthday-*, relay), "
                "upgraded (a relayed session moved to a direct path: from, remote, after_ms), message, closed (reason, "
                "datagrams{received, duplicates, missing}, path_changes, "
                "established, peer_authenticated, handshake_ms, session_ms), failed, refused, rate-limited, busy (peer, "
                "reason: attempts, sessions or sockets at their limit), re-registered (mapped, down_ms), "
                "mapping-changed, error");
  cmd->footer("Example:\n  natpunch agent --server 203.0.113.1:3478 --id home --allow phone --json");
  return [o] { return run_agent(*o); };
}

}  // namespace natpunch::cli
