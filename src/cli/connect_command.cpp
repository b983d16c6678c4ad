// natpunch connect: register, ask the server for a peer, punch a direct path, echo a message.
#include <iostream>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/device.h"
#include "cli/punch_options.h"
#include "io/endpoint.h"
#include "io/relay_fallback.h"
#include "io/session_runner.h"
#include "io/socket_path.h"
#include "io/upgrade_path.h"
#include "io/traversal.h"

namespace natpunch::cli {

namespace {
using std::chrono::milliseconds;
using std::chrono::steady_clock;

struct ConnectOptions {
  DeviceOptions device;
  PunchOptions punch;
  std::string peer;
  std::string message;
  std::string peer_key;  // --peer-key: pin this key instead of the one the peer-info carries
  double timeout_s = 60;
  int attempts = 3;
  double hold_s = 0;  // keep the path open this long after connecting (keepalives, echo), then close
  bool json = false;
  bool no_relay = false;    // --no-relay: direct paths only
  bool relay_only = false;  // --relay-only: skip punching (tests, and networks known to defeat it)
  std::uint32_t datagrams = 0;        // --datagrams: numbered DATAGRAMs during the hold
  int datagram_interval_ms = 5;
  bool no_upgrade = false;  // --no-upgrade: a relayed session stays relayed
};

struct ConnectReport {
  bool ok = false;
  int exit_code = kExitFailed;
  nlohmann::json j;
  std::string human;
};

nlohmann::json key_json(const std::optional<PublicKey>& k) {
  return k ? nlohmann::json(to_hex(*k)) : nlohmann::json(nullptr);
}

struct SessionContext {
  const ConnectOptions* o = nullptr;
  const DeviceKey* key = nullptr;
  std::optional<PublicKey> pinned;
  steady_clock::time_point start, deadline;
  std::uint64_t packets = 0;  // before the session
  UpgradePath* upgrade = nullptr;  // a relayed session that keeps probing for a direct path
  std::optional<std::chrono::microseconds> rtt;  // the punch's measured round trip (direct paths)
};

// The QUIC session (TLS 1.3) on the path found, direct or relayed: the peer must prove it holds the
// key its ID is bound to (from the peer-info, or --peer-key), or the handshake fails: never a
// plaintext path. Completes `rep` (the path's fields are in it already).
asio::awaitable<ConnectReport> run_session(ConnectReport rep, DatagramPath& path, SocketAddress remote, PeerInfo info,
                                           SessionContext c) {
  const auto& o = *c.o;
  SessionOptions sopt;
  sopt.key = c.key;
  sopt.peer_key = c.pinned ? c.pinned : info.peer_key;
  auto left = std::max(milliseconds(1000), std::chrono::duration_cast<milliseconds>(c.deadline - steady_clock::now()));
  // The handshake starts from the round trip the punch measured, and may use what is left of the
  // --timeout budget (retransmitting within it) rather than a fixed 5 s, which loss outlasts.
  sopt.initial_rtt = initial_rtt_for(c.rtt, sopt.initial_rtt);
  sopt.handshake_timeout = std::min(left, milliseconds(15000));
  std::optional<std::string> message;
  if (!o.message.empty()) message = o.message;
  if (o.hold_s > 0) {
    // Held open like an agent's session: a keepalive after each second of quiet, given up after
    // 5 s without a word from the peer.
    sopt.keepalive = milliseconds(1000);
    sopt.idle_timeout = milliseconds(5000);
    sopt.datagrams = o.datagrams;
    sopt.datagram_interval = milliseconds(o.datagram_interval_ms);
  }
  if (c.upgrade) {
    sopt.direct_path = [u = c.upgrade] { return u->direct(); };
    sopt.on_upgraded = [u = c.upgrade] { u->retire_relay(); };
  }
  auto session = co_await run_client_session(path, remote, info.token, sopt, message,
                                             std::min(left, milliseconds(15000)),
                                             milliseconds(static_cast<long long>(o.hold_s * 1000)));
  auto packets = c.packets + session.summary.packets_sent;
  rep.j["packets_sent"] = packets;
  rep.j["session"] = {{"protocol", "QUIC v1, TLS 1.3"},
                      {"established", session.summary.established},
                      {"peer_authenticated", session.summary.peer_authenticated},
                      {"pinned_key", key_json(sopt.peer_key)},
                      {"pinned_from", c.pinned ? "--peer-key" : (info.peer_key ? "peer-info" : "none")},
                      {"peer_key", key_json(session.summary.peer_certificate_key)},
                      {"handshake_ms", session.summary.handshake.count()}};
  if (c.upgrade) {
    rep.j["upgrade"] = session.upgraded_to
                           ? nlohmann::json{{"method", "direct"},
                                            {"remote", session.upgraded_to->to_string()},
                                            {"after_ms", session.upgraded_after.count()},
                                            {"probes_sent", c.upgrade->probes_sent()}}
                           : nlohmann::json(nullptr);
    if (!session.upgraded_to && !session.upgrade_error.empty()) rep.j["upgrade_error"] = session.upgrade_error;
    if (session.upgraded_to)
      rep.human += "\n  upgraded to a direct path (" + session.upgraded_to->to_string() + ") after " +
                   std::to_string(session.upgraded_after.count()) + " ms; the relay carried the session until then";
  }
  if (o.datagrams > 0)
    rep.j["session"]["datagrams"] = {{"sent", session.summary.datagrams.sent},
                                     {"refused", session.summary.datagrams.refused}};
  rep.j["elapsed_ms"] = std::chrono::duration_cast<milliseconds>(steady_clock::now() - c.start).count();
  if (!session.error.empty()) {
    rep.j["ok"] = false;
    rep.j["error"] = session.error;
    rep.human = "natpunch: could not connect to '" + o.peer + "': " + session.error;
    co_return rep;
  }
  rep.human += session.summary.peer_authenticated
                   ? "\n  session: QUIC + TLS 1.3, peer authenticated by its key " +
                         to_hex(*session.summary.peer_certificate_key).substr(0, 16) + "…"
                   : "\n  session: QUIC + TLS 1.3, encrypted but NOT authenticated (the peer has no key "
                     "bound to its ID; pin one with --peer-key)";
  if (session.reply) {
    rep.j["reply"] = *session.reply;
    rep.human += "\n  echo: \"" + *session.reply + "\"";
  }
  if (o.hold_s > 0) rep.j["hold_ended"] = session.hold_ended;
  rep.ok = true;
  rep.exit_code = kExitOk;
  rep.human += "\n  total " + std::to_string(rep.j["elapsed_ms"].get<long long>()) + " ms, " +
               std::to_string(packets) + " packets, attempt " + std::to_string(rep.j["attempts"].get<int>());
  co_return rep;
}

asio::awaitable<ConnectReport> run(Device& d, const ConnectOptions& o, const PunchTuning& tuning,
                                   std::optional<Method> method, std::optional<PublicKey> pinned) {
  ConnectReport rep;
  auto start = steady_clock::now();
  auto deadline = start + milliseconds(static_cast<long long>(o.timeout_s * 1000));
  rep.j = {{"ok", false}, {"peer", o.peer}, {"attempts", 0}, {"packets_sent", 0}};
  auto fail_with = [&](std::string why) {
    rep.j["error"] = why;
    rep.j["elapsed_ms"] = std::chrono::duration_cast<milliseconds>(steady_clock::now() - start).count();
    rep.human = "natpunch: could not connect to '" + o.peer + "': " + why;
    return rep;
  };

  auto reg = co_await discover_and_register(d, o.device);
  rep.j["nat"] = {{"self", nat_json(d.nat)}, {"peer", nullptr}};
  if (!reg) co_return fail_with(reg.error());
  auto peer_id = make_device_id(IdKind::Unspecified, o.peer);
  if (!peer_id) {
    rep.exit_code = kExitUsage;
    co_return fail_with("--peer '" + o.peer + "' is not a valid ID");
  }

  rep.j["port_mapping"] = port_mapping_json(d);
  TraversalOptions topt;
  topt.self_port_mapped = registered_port_mapping(d);
  topt.tuning = tuning;
  topt.method = method;
  // Punching leaves the relay time to work in, when it may be needed.
  auto relay_reserve = o.no_relay ? milliseconds(0) : std::min(milliseconds(8000), std::chrono::duration_cast<milliseconds>(deadline - start) / 3);
  topt.deadline = deadline - relay_reserve;
  if (!o.json) topt.on_progress = [](const std::string& line) { std::cerr << "\r  " << line << "\033[K" << std::flush; };

  std::uint64_t packets = 0;
  std::string last_error = "no attempt made";
  std::optional<PeerInfo> last_info;  // of the last attempt the server introduced
  SessionContext ctx{&o, d.key.get(), pinned, start, deadline, 0};
  // 1. Direct paths (unless --relay-only), each attempt from the connect request.
  for (int attempt = 1; attempt <= o.attempts && steady_clock::now() < deadline; ++attempt) {
    rep.j["attempts"] = attempt;
    // A named request: GCC 12 destroys braced temporaries inside co_await expressions twice.
    const ConnectRequest request{d.id, *peer_id};
    auto info = co_await d.client->connect(request);
    packets += static_cast<std::uint64_t>(d.client->last_sends());
    if (!info) {
      last_error = info.error().message();
      // The server's refusal (unknown or expired peer) will not change by retrying.
      if (info.error().kind == ClientError::Kind::Rejected) break;
      continue;
    }
    rep.j["relay_offered"] = info->turn ? nlohmann::json(info->turn->server.to_string()) : nlohmann::json(nullptr);
    rep.j["nat"]["peer"] = nat_json(info->peer_nat);
    last_info = *info;
    if (o.relay_only) {
      last_error = "--relay-only";
      break;
    }
    auto path = co_await punch_path(*d.client, d.id, d.nat, d.mapped, *info, topt);
    if (!o.json) std::cerr << "\r\033[K" << std::flush;
    packets += path.packets_sent;
    rep.j["packets_sent"] = packets;
    if (!path.outcome.ok) {
      last_error = path.outcome.error;
      if (!path.plan.hopeless.empty()) break;  // no method can work for this pair: fail fast
      // With a relay offered, one full attempt is enough: the relayed session keeps probing for
      // a direct path and moves to it when one opens (make-before-break).
      if (!o.no_relay && info->turn) break;
      continue;
    }
    auto& sock = path_socket(path, *d.client);
    auto local_port = sock.local_endpoint().port();
    auto local = local_toward(static_cast<asio::io_context&>(sock.get_executor().context()), d.client->server(), local_port);
    rep.j.update({{"ok", true},
                  {"method", to_string(path.outcome.method)},
                  {"local", local},
                  {"remote", path.outcome.remote.to_string()},
                  {"public", path.outcome.self_public.port ? nlohmann::json(path.outcome.self_public.to_string()) : nlohmann::json(nullptr)},
                  {"relay", nullptr},
                  {"punch_ms", path.outcome.elapsed.count()},
                  {"punch_rtt_ms", path.outcome.rtt ? nlohmann::json(static_cast<double>(path.outcome.rtt->count()) / 1000.0)
                                                     : nlohmann::json(nullptr)},
                  {"probes_sent", path.outcome.probes_sent}});
    rep.human = "connected to '" + o.peer + "' by " + std::string(to_string(path.outcome.method)) + "\n  path: " +
                local + " <-> " + path.outcome.remote.to_string() +
                "\n  punching took " + std::to_string(path.outcome.elapsed.count()) + " ms, " +
                std::to_string(path.outcome.probes_sent) + " probes";
    SocketPath direct(sock);
    ctx.packets = packets;
    ctx.rtt = path.outcome.rtt;
    co_return co_await run_session(std::move(rep), direct, path.outcome.remote, *info, ctx);
  }
  rep.j["packets_sent"] = packets;
  // 2. The relay, only when no direct path was found (or asked for with --relay-only) and the
  //    server offered one.
  if (!o.no_relay && last_info && last_info->turn && steady_clock::now() < deadline) {
    if (!o.json) std::cerr << "  no direct path (" << last_error << "); relaying through "
                           << last_info->turn->server.to_string() << std::endl;
    auto relayed = co_await open_relayed_path(*d.client, d.id, *last_info, deadline);
    packets += relayed.packets_sent;
    rep.j["packets_sent"] = packets;
    if (!relayed.error.empty()) {
      co_return fail_with(o.relay_only ? relayed.error : last_error + "; then the relay failed: " + relayed.error);
    }
    rep.j.update({{"ok", true},
                  {"method", "relay"},
                  {"local", relayed.relayed.to_string()},
                  {"remote", relayed.remote.to_string()},
                  {"public", nullptr},
                  {"relay", relayed.relayed.to_string()},
                  {"relay_server", last_info->turn->server.to_string()},
                  {"relay_ms", relayed.elapsed.count()},
                  {"direct_error", o.relay_only ? nlohmann::json(nullptr) : nlohmann::json(last_error)}});
    rep.human = "connected to '" + o.peer + "' through the relay " + last_info->turn->server.to_string() +
                "\n  path: relayed address " + relayed.relayed.to_string() + " <-> " + relayed.remote.to_string() +
                (o.relay_only ? std::string() : "\n  no direct path: " + last_error);
    ctx.packets = packets;
    if (o.no_upgrade) {
      auto result = co_await run_session(std::move(rep), *relayed.path, relayed.remote, relayed.info, ctx);
      relayed.path->close();
      co_return result;
    }
    // While relayed, the main socket keeps probing the peer's mapping (and LAN addresses) for a
    // direct path; the session moves there make-before-break once the peer answers.
    DirectProbing probing;
    probing.token = relayed.info.token;
    probing.candidates.push_back(last_info->peer_mapped);
    for (const auto& l : last_info->peer_locals)
      if (l.family == last_info->peer_mapped.family && probing.candidates.size() < 4) probing.candidates.push_back(l);
    UpgradePath upgrade(*relayed.path, d.client->socket(), probing);
    ctx.upgrade = &upgrade;
    auto result = co_await run_session(std::move(rep), upgrade, relayed.remote, relayed.info, ctx);
    co_await upgrade.stop();
    relayed.path->close();
    co_return result;
  }
  if (o.relay_only && last_info && !last_info->turn) last_error = "the rendezvous server offers no relay (--relay-only)";
  co_return fail_with(last_error);
}

int run_connect(const ConnectOptions& o) {
  auto tuning = to_tuning(o.punch);
  if (!tuning) return report_failure(o.json, tuning.error(), kExitUsage);
  if (o.attempts < 1 || o.attempts > 20) return report_failure(o.json, "--attempts must be 1..20", kExitUsage);
  if (o.timeout_s <= 0 || o.timeout_s > 3600) return report_failure(o.json, "--timeout must be in (0, 3600]", kExitUsage);
  if (o.message.size() > kMaxSessionMessage)
    return report_failure(o.json, "--message is limited to " + std::to_string(kMaxSessionMessage) + " bytes",
                          kExitUsage);
  std::optional<PublicKey> pinned;
  if (!o.peer_key.empty()) {
    pinned = public_key_from_hex(o.peer_key);
    if (!pinned) return report_failure(o.json, "--peer-key must be 64 hex digits (as `natpunch key` prints)", kExitUsage);
  }
  if (o.hold_s < 0 || o.hold_s > 3600) return report_failure(o.json, "--hold must be in [0, 3600]", kExitUsage);
  if (o.datagrams > 0 && o.hold_s <= 0)
    return report_failure(o.json, "--datagrams needs --hold (they are sent while the session is held)", kExitUsage);
  if (o.datagrams > kMaxCountedDatagrams || o.datagram_interval_ms < 1 || o.datagram_interval_ms > 10000)
    return report_failure(o.json, "--datagrams must be at most " + std::to_string(kMaxCountedDatagrams) +
                                      " and --datagram-interval 1..10000 ms", kExitUsage);
  if (o.no_relay && o.relay_only)
    return report_failure(o.json, "--no-relay and --relay-only exclude each other", kExitUsage);
  asio::io_context io;
  auto d = open_device(io, o.device);
  if (!d) {
    bool usage = d.error().rfind("usage: ", 0) == 0;
    return report_failure(o.json, usage ? d.error().substr(7) : d.error(), usage ? kExitUsage : kExitFailed);
  }
  auto rep = run_to_completion(io, run(*d, o, tuning->first, tuning->second, pinned));
  if (d->port_mapping) (void)unmap(*d->port_mapping);  // bounded: each protocol's timeout
  if (o.json) std::cout << json_text(rep.j) << std::endl;
  else (rep.ok ? std::cout : std::cerr) << rep.human << std::endl;
  return rep.exit_code;
}
}  // namespace

Runner add_connect_command(CLI::App& app) {
  auto o = std::make_shared<ConnectOptions>();
  auto* cmd = app.add_subcommand("connect", "Connect directly to a registered peer through both NATs");
  add_device_options(*cmd, o->device);
  cmd->add_option("--peer", o->peer, "The peer's ID")->required();
  cmd->add_option("--message", o->message, "Text to send once connected; waits for the peer's echo");
  cmd->add_option("--peer-key", o->peer_key,
                  "Pin the peer's identity key yourself (64 hex digits, from `natpunch key` on the peer) instead "
                  "of trusting the key the rendezvous server's peer-info delivers");
  cmd->add_option("--timeout", o->timeout_s, "Overall seconds before giving up")->capture_default_str();
  cmd->add_option("--attempts", o->attempts,
                  "Connection attempts (each from the connect request); with a relay offered, the first failed "
                  "punching attempt goes to the relay instead (which keeps probing for a direct path)")
      ->capture_default_str();
  cmd->add_option("--hold", o->hold_s,
                  "Seconds to keep the path open after connecting (keepalives, echo) before closing it")
      ->capture_default_str();
  add_punch_options(*cmd, o->punch);
  cmd->add_option("--datagrams", o->datagrams,
                  "During --hold, send this many numbered QUIC DATAGRAMs (the agent counts them on arrival: "
                  "received, duplicates, missing in its closed event)")
      ->capture_default_str();
  cmd->add_option("--datagram-interval", o->datagram_interval_ms, "Milliseconds between two --datagrams")
      ->capture_default_str();
  cmd->add_flag("--no-upgrade", o->no_upgrade,
                "Keep a relayed session on the relay (by default the main socket keeps probing the peer and the "
                "session moves to a direct path, make-before-break, once one answers)");
  cmd->add_flag("--no-relay", o->no_relay,
                "Direct paths only: never fall back to the TURN relay the server offers");
  cmd->add_flag("--relay-only", o->relay_only,
                "Skip punching and connect through the TURN relay the server offers (tests; networks that defeat "
                "every punch)");
  cmd->add_flag("--json", o->json,
                "Print one JSON object: ok, peer, method (direct, port-mapped, simultaneous, birthday-*, relay), "
                "local, remote, public, relay (our relayed address when method is relay, else null), relay_server, "
                "relay_offered, upgrade (a relayed session moved to a direct path: method, remote, after_ms, probes_sent; or null), port_mapping (our router mapping, or null), elapsed_ms, packets_sent, attempts, nat{self,peer}, session{protocol, established, "
                "peer_authenticated, pinned_key, pinned_from, peer_key, handshake_ms, datagrams{sent, refused}}, reply (error when ok is false)");
  cmd->footer("Direct methods come first, cheapest first (a router port mapping, punching); only when none finds\n"
              "a path, or none can for this pair of NATs, the session goes through the TURN relay the server\n"
              "offers (method \"relay\").\n"
              "Once a path is found, a QUIC session (TLS 1.3) runs on it; the peer must present the key its\n"
              "ID is bound to (or --peer-key), else the handshake fails and nothing is sent.\n"
              "Exit status: 0 connected (and echoed, with --message), 1 failed, 2 usage error.\n"
              "Example:\n  natpunch connect --server 203.0.113.1:3478 --id phone --peer home --message hello --json");
  return [o] { return run_connect(*o); };
}

}  // namespace natpunch::cli
