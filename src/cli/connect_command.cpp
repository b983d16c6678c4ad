// natpunch connect: register, ask the server for a peer, punch a direct path, echo a message.
#include <iostream>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/device.h"
#include "cli/punch_options.h"
#include "io/endpoint.h"
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

asio::awaitable<ConnectReport> run(Device& d, const ConnectOptions& o, const PunchTuning& tuning,
                                   std::optional<Method> method) {
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
    if (!o.message.empty()) {
      auto left = std::max(milliseconds(500), std::chrono::duration_cast<milliseconds>(deadline - steady_clock::now()));
      auto reply = co_await exchange_message(sock, path.outcome.remote, info->token, o.message,
                                             std::min(left, milliseconds(5000)), packets);
      rep.j["packets_sent"] = packets;
      if (!reply) {
        send_close(sock, path.outcome.remote, info->token);
        rep.j["ok"] = false;
        co_return fail_with("path found but the message was not echoed: " + reply.error());
      }
      rep.j["reply"] = *reply;
      rep.human += "\n  echo: \"" + *reply + "\"";
    }
    if (o.hold_s > 0) {
      // Stay on the path like an agent (keepalive every second, echo), until the hold ends, the
      // peer closes, or it is silent for 5 s.
      asio::steady_timer hold(sock.get_executor(), milliseconds(static_cast<long long>(o.hold_s * 1000)));
      auto held = co_await (
          serve_path(sock, path.outcome.remote, info->token, milliseconds(1000), milliseconds(5000), nullptr) ||
          hold.async_wait(use_nothrow));
      rep.j["hold_ended"] = held.index() == 0 ? std::get<0>(held).ended : std::string("hold over");
    }
    send_close(sock, path.outcome.remote, info->token);
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
  if (o.hold_s < 0 || o.hold_s > 3600) return report_failure(o.json, "--hold must be in [0, 3600]", kExitUsage);
  if (o.message.size() > kMaxPayload)
    return report_failure(o.json, "--message is limited to " + std::to_string(kMaxPayload) + " bytes", kExitUsage);
  asio::io_context io;
  auto d = open_device(io, o.device);
  if (!d) {
    bool usage = d.error().rfind("usage: ", 0) == 0;
    return report_failure(o.json, usage ? d.error().substr(7) : d.error(), usage ? kExitUsage : kExitFailed);
  }
  auto rep = run_to_completion(io, run(*d, o, tuning->first, tuning->second));
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
  cmd->add_option("--timeout", o->timeout_s, "Overall seconds before giving up")->capture_default_str();
  cmd->add_option("--attempts", o->attempts, "Connection attempts (each from the connect request)")
      ->capture_default_str();
  cmd->add_option("--hold", o->hold_s,
                  "Seconds to keep the path open after connecting (keepalives, echo) before closing it")
      ->capture_default_str();
  add_punch_options(*cmd, o->punch);
  cmd->add_flag("--json", o->json,
                "Print one JSON object: ok, peer, method, local, remote, elapsed_ms, packets_sent, attempts, "
                "nat{self,peer}, reply (error when ok is false)");
  cmd->footer("Exit status: 0 connected (and echoed, with --message), 1 failed, 2 usage error.\n"
              "Example:\n  natpunch connect --server 203.0.113.1:3478 --id phone --peer home --message hello --json");
  return [o] { return run_connect(*o); };
}

}  // namespace natpunch::cli
