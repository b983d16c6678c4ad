// natpunch connect: register, ask the server for a peer, punch a direct path, echo a message.
#include <iostream>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/device.h"
#include "cli/punch_options.h"
#include "io/endpoint.h"
#include "io/session_runner.h"
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

  TraversalOptions topt;
  topt.tuning = tuning;
  topt.method = method;
  topt.deadline = deadline;
  if (!o.json) topt.on_progress = [](const std::string& line) { std::cerr << "\r  " << line << "\033[K" << std::flush; };

  std::uint64_t packets = 0;
  std::string last_error = "no attempt made";
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
    auto path = co_await punch_path(*d.client, d.id, d.nat, d.mapped, *info, topt);
    if (!o.json) std::cerr << "\r\033[K" << std::flush;
    packets += path.packets_sent;
    rep.j["packets_sent"] = packets;
    if (!path.outcome.ok) {
      last_error = path.outcome.error;
      if (!path.plan.hopeless.empty()) break;  // no method can work for this pair: fail fast
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
                  {"punch_ms", path.outcome.elapsed.count()},
                  {"probes_sent", path.outcome.probes_sent}});
    rep.human = "connected to '" + o.peer + "' by " + std::string(to_string(path.outcome.method)) + "\n  path: " +
                local + " <-> " + path.outcome.remote.to_string() +
                "\n  punching took " + std::to_string(path.outcome.elapsed.count()) + " ms, " +
                std::to_string(path.outcome.probes_sent) + " probes";
    // The path carries a QUIC session (TLS 1.3): the peer must prove it holds the key its ID is
    // bound to (from the peer-info, or --peer-key), or the handshake fails: never a plaintext path.
    SessionOptions sopt;
    sopt.key = d.key.get();
    sopt.peer_key = pinned ? pinned : info->peer_key;
    auto left = std::max(milliseconds(1000), std::chrono::duration_cast<milliseconds>(deadline - steady_clock::now()));
    std::optional<std::string> message;
    if (!o.message.empty()) message = o.message;
    if (o.hold_s > 0) {
      // Held open like an agent's session: a keepalive after each second of quiet, given up after
      // 5 s without a word from the peer.
      sopt.keepalive = milliseconds(1000);
      sopt.idle_timeout = milliseconds(5000);
    }
    auto session = co_await run_client_session(sock, path.outcome.remote, info->token, sopt, message,
                                               std::min(left, milliseconds(15000)),
                                               milliseconds(static_cast<long long>(o.hold_s * 1000)));
    packets += session.summary.packets_sent;
    rep.j["packets_sent"] = packets;
    rep.j["session"] = {{"protocol", "QUIC v1, TLS 1.3"},
                        {"established", session.summary.established},
                        {"peer_authenticated", session.summary.peer_authenticated},
                        {"pinned_key", key_json(sopt.peer_key)},
                        {"pinned_from", pinned ? "--peer-key" : (info->peer_key ? "peer-info" : "none")},
                        {"peer_key", key_json(session.summary.peer_certificate_key)},
                        {"handshake_ms", session.summary.handshake.count()}};
    if (!session.error.empty()) {
      rep.j["ok"] = false;
      co_return fail_with(session.error);
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
    rep.j["elapsed_ms"] = std::chrono::duration_cast<milliseconds>(steady_clock::now() - start).count();
    rep.human += "\n  total " + std::to_string(rep.j["elapsed_ms"].get<long long>()) + " ms, " +
                 std::to_string(packets) + " packets, attempt " + std::to_string(rep.j["attempts"].get<int>());
    co_return rep;
  }
  rep.j["packets_sent"] = packets;
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
  asio::io_context io;
  auto d = open_device(io, o.device);
  if (!d) {
    bool usage = d.error().rfind("usage: ", 0) == 0;
    return report_failure(o.json, usage ? d.error().substr(7) : d.error(), usage ? kExitUsage : kExitFailed);
  }
  auto rep = run_to_completion(io, run(*d, o, tuning->first, tuning->second, pinned));
  if (o.json) std::cout << rep.j.dump() << std::endl;
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
  cmd->add_option("--attempts", o->attempts, "Connection attempts (each from the connect request)")
      ->capture_default_str();
  cmd->add_option("--hold", o->hold_s,
                  "Seconds to keep the path open after connecting (keepalives, echo) before closing it")
      ->capture_default_str();
  add_punch_options(*cmd, o->punch);
  cmd->add_flag("--json", o->json,
                "Print one JSON object: ok, peer, method, local, remote, elapsed_ms, packets_sent, attempts, "
                "nat{self,peer}, session{protocol, established, peer_authenticated, pinned_key, pinned_from, peer_key, "
                "handshake_ms}, reply (error when ok is false)");
  cmd->footer("Once a path is punched, a QUIC session (TLS 1.3) runs on it; the peer must present the key its\n"
              "ID is bound to (or --peer-key), else the handshake fails and nothing is sent.\n"
              "Exit status: 0 connected (and echoed, with --message), 1 failed, 2 usage error.\n"
              "Example:\n  natpunch connect --server 203.0.113.1:3478 --id phone --peer home --message hello --json");
  return [o] { return run_connect(*o); };
}

}  // namespace natpunch::cli
