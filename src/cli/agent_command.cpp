// natpunch agent: stay registered, answer connect requests by punching, echo what peers send.
#include <asio/signal_set.hpp>
#include <algorithm>
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

struct AgentOptions {
  DeviceOptions device;
  PunchOptions punch;
  double keepalive_s = 15;
  double idle_s = 30;
  double run_for_s = 0;  // 0 = until stopped
  bool once = false;      // exit after the first connection attempt (and its session)
  bool json = false;
};

class EventLog {
 public:
  explicit EventLog(bool json) : json_(json) {}
  void emit(nlohmann::json j, const std::string& human) {
    if (json_) std::cout << j.dump() << std::endl;
    else std::cout << human << std::endl;
  }

 private:
  bool json_;
};

asio::awaitable<int> run(Device& d, const AgentOptions& o, const PunchTuning& tuning, std::optional<Method> method,
                         const bool& stopping) {
  EventLog log(o.json);
  auto reg = co_await discover_and_register(d, o.device);
  if (!reg) {
    log.emit({{"event", "error"}, {"error", reg.error()}}, "natpunch agent: " + reg.error());
    co_return kExitFailed;
  }
  auto mapped = d.mapped;
  log.emit({{"event", "registered"}, {"id", d.id.value}, {"mapped", d.mapped.to_string()}, {"ttl_s", d.ttl_s},
            {"nat", nat_json(d.nat)}},
           "registered '" + d.id.value + "' as " + d.mapped.to_string() + " (NAT: " +
               std::string(d.nat ? short_name(*d.nat) : "not discovered") + ")");
  auto refresh_every = milliseconds(std::max<long long>(1000, d.ttl_s * 1000 / 3));
  auto next_refresh = steady_clock::now() + refresh_every;
  auto end = o.run_for_s > 0 ? steady_clock::now() + milliseconds(static_cast<long long>(o.run_for_s * 1000))
                             : steady_clock::time_point::max();
  TraversalOptions topt;
  topt.tuning = tuning;
  topt.method = method;
  std::vector<AttemptToken> handled;

  while (!stopping && steady_clock::now() < end) {
    auto wait = std::chrono::duration_cast<milliseconds>(std::min(next_refresh, end) - steady_clock::now());
    auto info = co_await d.client->wait_peer_info(std::max(wait, milliseconds(1)));
    if (steady_clock::now() >= next_refresh) {
      // Refresh = re-register. A new public mapping means the NAT (or the network) changed:
      // learn its behaviour again and register that.
      auto again = co_await discover_and_register(d, o.device, false);
      next_refresh = steady_clock::now() + refresh_every;
      if (!again) {
        log.emit({{"event", "error"}, {"error", again.error()}}, "natpunch agent: " + again.error());
      } else if (d.mapped != mapped) {
        log.emit({{"event", "mapping-changed"}, {"old", mapped.to_string()}, {"mapped", d.mapped.to_string()}},
                 "public mapping changed: " + mapped.to_string() + " -> " + d.mapped.to_string());
        co_await discover_and_register(d, o.device, true);
        mapped = d.mapped;
      }
    }
    if (!info) continue;
    // A peer-info the server re-sent (the initiator repeated its request) for an attempt we
    // already handled: not a new connection.
    if (std::find(handled.begin(), handled.end(), info->token) != handled.end()) continue;
    handled.push_back(info->token);
    if (handled.size() > 64) handled.erase(handled.begin());
    auto started = steady_clock::now();
    auto path = co_await punch_path(*d.client, d.id, d.nat, d.mapped, *info, topt);
    auto ms = std::chrono::duration_cast<milliseconds>(steady_clock::now() - started).count();
    if (!path.outcome.ok) {
      log.emit({{"event", "failed"}, {"peer", info->peer.value}, {"error", path.outcome.error}, {"elapsed_ms", ms}},
               "connection from '" + info->peer.value + "' failed: " + path.outcome.error);
      if (o.once) co_return kExitFailed;
      continue;
    }
    log.emit({{"event", "connected"}, {"peer", info->peer.value}, {"method", to_string(path.outcome.method)},
              {"remote", path.outcome.remote.to_string()}, {"elapsed_ms", ms},
              {"probes_sent", path.outcome.probes_sent}},
             "connected to '" + info->peer.value + "' by " + std::string(to_string(path.outcome.method)) + " in " +
                 std::to_string(ms) + " ms, remote " + path.outcome.remote.to_string());
    // The path carries a QUIC session (TLS 1.3); the initiator must present the key its ID is bound
    // to (from the peer-info), or the handshake fails.
    auto& sock = path_socket(path, *d.client);
    SessionOptions sopt;
    sopt.key = d.key.get();
    sopt.peer_key = info->peer_key;
    sopt.keepalive = milliseconds(static_cast<long long>(o.keepalive_s * 1000));
    sopt.idle_timeout = milliseconds(static_cast<long long>(o.idle_s * 1000));
    sopt.handshake_timeout = milliseconds(10000);
    auto session_started = steady_clock::now();
    auto summary = co_await run_server_session(
        sock, path.outcome.remote, info->token, sopt,
        [&](const std::string& text) {
          log.emit({{"event", "message"}, {"peer", info->peer.value}, {"bytes", text.size()}},
                   "echoed " + std::to_string(text.size()) + " bytes from '" + info->peer.value + "'");
        },
        stopping);
    auto session_ms = std::chrono::duration_cast<milliseconds>(steady_clock::now() - session_started).count();
    log.emit({{"event", "closed"},
              {"peer", info->peer.value},
              {"messages", summary.messages},
              {"reason", summary.ended},
              {"established", summary.established},
              {"peer_authenticated", summary.peer_authenticated},
              {"handshake_ms", summary.handshake.count()},
              {"session_ms", session_ms}},
             "session with '" + info->peer.value + "' ended: " + summary.ended +
                 (summary.established ? (summary.peer_authenticated ? " (QUIC, peer authenticated)"
                                                                    : " (QUIC, peer NOT authenticated: it has no key)")
                                      : " (no session was established)"));
    if (o.once) co_return summary.established ? kExitOk : kExitFailed;
    next_refresh = std::min(next_refresh, steady_clock::now());  // refresh soon after a session
  }
  co_return kExitOk;
}

int run_agent(const AgentOptions& o) {
  auto tuning = to_tuning(o.punch);
  if (!tuning) return report_failure(o.json, tuning.error(), kExitUsage);
  if (o.keepalive_s <= 0 || o.idle_s <= o.keepalive_s)
    return report_failure(o.json, "--keepalive must be > 0 and below --idle-timeout", kExitUsage);
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
  asio::co_spawn(io, run(*d, o, tuning->first, tuning->second, stopping), [&](std::exception_ptr e, int r) {
    rc = e ? kExitFailed : r;
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
  cmd->add_flag("--once", o->once, "Exit after the first connection attempt and its session (exit 1 if it failed)");
  cmd->add_flag("--json", o->json,
                "One JSON object per event: registered, connected (path punched), message, closed (reason, "
                "established, peer_authenticated, handshake_ms, session_ms), failed, mapping-changed, error");
  cmd->footer("Example:\n  natpunch agent --server 203.0.113.1:3478 --id home --json");
  return [o] { return run_agent(*o); };
}

}  // namespace natpunch::cli
