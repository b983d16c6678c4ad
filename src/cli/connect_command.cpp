// natpunch connect: register, ask the server for a peer, punch a direct path, echo a message.
#include <iostream>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/device.h"
#include "cli/punch_options.h"
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>

#include "device/device_machine.h"
#include "io/device_loop.h"
#include "io/endpoint.h"
#include "session/datagram_count.h"
#include "wire/escape.h"

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

nlohmann::json key_json(const std::optional<PublicKey>& k) {
  return k ? nlohmann::json(to_hex(*k)) : nlohmann::json(nullptr);
}

std::string address_text(asio::io_context& io, const asio::ip::udp::endpoint& server, const SocketAddress& local) {
  // A socket bound to the wildcard address: the source address the host uses toward the server.
  if (local.ip_string() == "0.0.0.0" || local.ip_string() == "::") return local_toward(io, server, local.port);
  return local.to_string();
}

// The initiator's exchange, driven by the device's events (an application on the device runtime):
// once the session is up, one message and its echo (--message), then the hold (--hold: keepalives,
// numbered DATAGRAMs) and the close. Builds the report as it goes; `done` ends the run.
class ConnectApp {
 public:
  ConnectApp(const ConnectOptions& o, DeviceMachine& m, asio::io_context& io, asio::ip::udp::endpoint server,
             std::optional<PublicKey> pinned, std::function<void()> done)
      : o_(o), m_(m), io_(io), server_(server), pinned_(pinned), done_(std::move(done)), timer_(io), datagrams_(io) {
    j_ = {{"ok", false}, {"peer", o.peer}, {"attempts", 0}, {"packets_sent", 0}, {"nat", {{"self", nullptr}, {"peer", nullptr}}}};
  }

  void operator()(const DeviceEvent& e) {
    std::visit([this](const auto& x) { on(x); }, e);
  }
  void set_sent(std::uint64_t n) { j_["packets_sent"] = n; }

  // The report; `exit` is the command's status.
  nlohmann::json& json() { return j_; }
  const std::string& human() const { return human_; }
  int exit_code() const { return exit_; }
  bool ok() const { return exit_ == kExitOk; }
  void timed_out(const std::string& why) {
    if (!ended_) end_with(why);
  }

 private:
  void end_with(std::string error) {
    if (ended_) return;
    ended_ = true;
    if (!error.empty()) {
      j_["ok"] = false;
      j_["error"] = error;
      human_ = "natpunch: could not connect to '" + o_.peer + "': " + error;
      exit_ = kExitFailed;
    } else {
      j_["ok"] = true;
      exit_ = kExitOk;
    }
    j_["elapsed_ms"] = since_start().count();
    timer_.cancel();
    datagrams_.cancel();
    done_();
  }
  std::chrono::milliseconds since_start() const {
    return std::chrono::duration_cast<milliseconds>(steady_clock::now() - start_);
  }

  void on(const RegisteredEvent& e) {
    j_["nat"]["self"] = nat_json(e.nat);
    j_["port_mapping"] = port_mapping_json(e.port_mapping);
  }
  void on(const RegistrationFailedEvent& e) {
    if (!e.registered_before) end_with(e.error);
  }
  void on(const IntroducedEvent& e) {
    if (e.relayed) return;
    j_["attempts"] = e.attempt;
    j_["nat"]["peer"] = nat_json(e.peer_nat);
    j_["relay_offered"] = e.relay_offered ? nlohmann::json(e.relay_offered->to_string()) : nlohmann::json(nullptr);
    peer_key_info_ = e.peer_key;
  }
  void on(const AttemptFailedEvent& e) {
    if (!e.initiator) return;
    last_direct_error_ = e.error;
    if (!o_.json) std::cerr << "  attempt failed: " << escape_for_display(e.error) << std::endl;
  }
  void on(const ConnectFailedEvent& e) {
    j_["attempts"] = e.attempts;
    // The device's deadline is this command's --timeout: say so in its words.
    auto error = e.error;
    if (auto at = error.find("the deadline was reached while punching"); at != std::string::npos)
      error.replace(at, std::string("the deadline was reached while punching").size(), "--timeout reached while punching");
    end_with(error);
  }
  void on(const ConnectedEvent& e) {
    if (!e.initiator) return;
    connection_ = e.connection;
    connected_at_ = steady_clock::now();
    relayed_ = e.relayed;
    j_["attempts"] = e.attempts;
    j_["remote"] = e.remote.to_string();
    if (e.relayed) {
      auto server = e.relay_server ? e.relay_server->to_string() : std::string();
      j_.update({{"method", "relay"},
                 {"local", e.local.to_string()},
                 {"public", nullptr},
                 {"relay", e.local.to_string()},
                 {"relay_server", server},
                 {"relay_ms", e.elapsed.count()},
                 {"direct_error", o_.relay_only ? nlohmann::json(nullptr) : nlohmann::json(last_direct_error_)}});
      human_ = "connected to '" + o_.peer + "' through the relay " + server + "\n  path: relayed address " +
               e.local.to_string() + " <-> " + e.remote.to_string() +
               (o_.relay_only ? std::string() : "\n  no direct path: " + last_direct_error_);
      if (!o_.no_upgrade) j_["upgrade"] = nullptr;
    } else {
      auto local = address_text(io_, server_, e.local);
      j_.update({{"method", to_string(e.method)},
                 {"local", local},
                 {"public", e.self_public ? nlohmann::json(e.self_public->to_string()) : nlohmann::json(nullptr)},
                 {"relay", nullptr},
                 {"punch_ms", e.elapsed.count()},
                 {"punch_rtt_ms", e.rtt ? nlohmann::json(static_cast<double>(e.rtt->count()) / 1000.0)
                                        : nlohmann::json(nullptr)},
                 {"probes_sent", e.probes_sent}});
      human_ = "connected to '" + o_.peer + "' by " + std::string(to_string(e.method)) + "\n  path: " + local +
               " <-> " + e.remote.to_string() + "\n  punching took " + std::to_string(e.elapsed.count()) + " ms, " +
               std::to_string(e.probes_sent) + " probes";
    }
    if (!e.connection) return;  // the session could not start: its SessionClosedEvent follows
    // The handshake and the echo are bounded by what is left of --timeout (at least 1 s, at most 15 s).
    auto left = std::clamp(std::chrono::duration_cast<milliseconds>(deadline_ - steady_clock::now()), milliseconds(1000),
                           milliseconds(15000));
    arm(left, [this] {
      if (!holding_ && !closing_) close_with("no echo from the peer: timed out");
    });
  }
  void on(const SessionEstablishedEvent& e) {
    if (e.connection != connection_) return;
    established_ = true;
    j_["session"] = {{"protocol", "QUIC v1, TLS 1.3"},
                     {"established", true},
                     {"peer_authenticated", e.peer_authenticated},
                     {"pinned_key", key_json(pinned_key_used())},
                     {"pinned_from", pinned_ ? "--peer-key" : (e.peer_authenticated ? "peer-info" : "none")},
                     {"peer_key", key_json(e.peer_key)},
                     {"handshake_ms", e.handshake.count()}};
    peer_authenticated_ = e.peer_authenticated;
    peer_cert_key_ = e.peer_key;
    if (o_.message.empty()) return hold();
    auto s = m_.send_message(connection_, as_bytes(o_.message), steady_clock::now());
    if (!s) return close_with(s.error());
    stream_ = *s;
  }
  void on(const MessageEvent& e) {
    if (e.connection != connection_ || !stream_ || e.stream != *stream_ || reply_) return;
    reply_ = std::string(reinterpret_cast<const char*>(e.data.data()), e.data.size());
    j_["reply"] = *reply_;
    hold();
  }
  void on(const SessionDatagramEvent&) {}
  void on(const PathChangedEvent&) {}
  void on(const UpgradedEvent& e) {
    if (e.connection != connection_) return;
    j_["upgrade"] = {{"method", "direct"},
                     {"remote", e.remote.to_string()},
                     {"after_ms", e.after.count()},
                     {"probes_sent", e.probes_sent}};
    human_ += "\n  upgraded to a direct path (" + e.remote.to_string() + ") after " + std::to_string(e.after.count()) +
              " ms; the relay carried the session until then";
  }
  void on(const UpgradeFailedEvent& e) {
    if (e.connection == connection_) j_["upgrade_error"] = e.error;
  }
  void on(const SessionClosedEvent& e) {
    if (!e.initiator || (connection_ && e.connection != connection_) || ended_) return;
    if (e.connection == 0 && connection_ == 0 && !j_.contains("method")) return;
    if (!j_.contains("session"))
      j_["session"] = {{"protocol", "QUIC v1, TLS 1.3"},
                       {"established", e.established},
                       {"peer_authenticated", e.peer_authenticated},
                       {"pinned_key", key_json(pinned_key_used())},
                       {"pinned_from", pinned_ ? "--peer-key" : "none"},
                       {"peer_key", nullptr},
                       {"handshake_ms", e.handshake.count()}};
    if (o_.datagrams > 0) j_["session"]["datagrams"] = {{"sent", sent_.sent}, {"refused", sent_.refused}};
    if (!e.established) return end_with("QUIC handshake failed: " + (close_reason_.empty() ? e.reason : close_reason_));
    if (!o_.message.empty() && !reply_)
      return end_with(close_reason_.rfind("no echo", 0) == 0 ? close_reason_ : "no echo from the peer: " + e.reason);
    if (!close_reason_.empty() && !holding_) return end_with(close_reason_);
    if (o_.hold_s > 0) j_["hold_ended"] = hold_over_ ? std::string("hold over") : e.reason;
    human_ += peer_authenticated_
                  ? "\n  session: QUIC + TLS 1.3, peer authenticated by its key " +
                        (peer_cert_key_ ? to_hex(*peer_cert_key_).substr(0, 16) : std::string()) + "…"
                  : "\n  session: QUIC + TLS 1.3, encrypted but NOT authenticated (the peer has no key "
                    "bound to its ID; pin one with --peer-key)";
    if (reply_) human_ += "\n  echo: \"" + escape_for_display(*reply_, kMaxSessionMessage) + "\"";
    j_["elapsed_ms"] = since_start().count();
    human_ += "\n  total " + std::to_string(since_start().count()) + " ms, attempt " +
              std::to_string(j_["attempts"].get<int>());
    end_with("");
  }
  void on(const AttemptRefusedEvent&) {}
  void on(const AttemptBusyEvent&) {}
  void on(const ReRegisteredEvent&) {}
  void on(const MappingChangedEvent&) {}
  void on(const UnauthenticatedPeerInfoEvent&) {}

  std::optional<PublicKey> pinned_key_used() const { return pinned_ ? pinned_ : peer_key_info_; }

  // The exchange is done: close now, or hold the session open first.
  void hold() {
    timer_.cancel();
    if (o_.hold_s <= 0) return close_with("");
    holding_ = true;
    arm(milliseconds(static_cast<long long>(o_.hold_s * 1000)), [this] {
      hold_over_ = true;
      close_with("");
    });
    if (o_.datagrams > 0) {
      stream_from_ = steady_clock::now();
      send_datagrams();
    }
  }
  void send_datagrams() {
    if (closing_ || ended_) return;
    auto now = steady_clock::now();
    auto interval = milliseconds(o_.datagram_interval_ms);
    std::uint64_t done = sent_.sent + sent_.refused;
    while (done < o_.datagrams && now >= stream_from_ + interval * done) {
      if (m_.send_datagram(connection_, numbered_datagram(done), now)) ++sent_.sent;
      else ++sent_.refused;
      ++done;
    }
    if (done >= o_.datagrams) return;
    datagrams_.expires_at(stream_from_ + interval * done);
    datagrams_.async_wait([this](const asio::error_code& ec) {
      if (!ec) send_datagrams();
    });
  }
  void close_with(std::string why) {
    if (closing_) return;
    closing_ = true;
    close_reason_ = std::move(why);
    datagrams_.cancel();
    m_.close(connection_, steady_clock::now());
  }
  template <class F>
  void arm(milliseconds after, F f) {
    timer_.expires_after(after);
    timer_.async_wait([this, f](const asio::error_code& ec) {
      if (!ec && !ended_) f();
    });
  }

  const ConnectOptions& o_;
  DeviceMachine& m_;
  asio::io_context& io_;
  asio::ip::udp::endpoint server_;
  std::optional<PublicKey> pinned_;
  std::optional<PublicKey> peer_key_info_;
  std::function<void()> done_;
  asio::steady_timer timer_, datagrams_;
  nlohmann::json j_;
  std::string human_;
  int exit_ = kExitFailed;
  bool ended_ = false;
  steady_clock::time_point start_ = steady_clock::now();
  steady_clock::time_point deadline_ = start_ + milliseconds(static_cast<long long>(o_.timeout_s * 1000));
  steady_clock::time_point connected_at_{};
  steady_clock::time_point stream_from_{};
  ConnectionId connection_ = 0;
  bool relayed_ = false;
  bool established_ = false;
  bool peer_authenticated_ = false;
  std::optional<PublicKey> peer_cert_key_;
  std::optional<std::int64_t> stream_;
  std::optional<std::string> reply_;
  bool holding_ = false, hold_over_ = false, closing_ = false;
  std::string close_reason_;
  std::string last_direct_error_ = "no attempt made";
  DatagramCount sent_;
};

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
  auto peer_id = make_device_id(IdKind::Unspecified, o.peer);
  if (!peer_id) return report_failure(o.json, "--peer '" + o.peer + "' is not a valid ID", kExitUsage);
  asio::io_context io;
  auto d = open_device_setup(io, o.device);
  if (!d) {
    bool usage = d.error().rfind("usage: ", 0) == 0;
    return report_failure(o.json, usage ? d.error().substr(7) : d.error(), usage ? kExitUsage : kExitFailed);
  }
  auto& c = d->config;
  c.tuning = tuning->first;
  c.forced = tuning->second;
  c.max_attempts = 1;
  c.max_sessions = 1;
  c.admission = AdmissionPolicy{};  // a device that only connects: nobody may connect to it
  if (o.hold_s > 0) {
    // Held open like an agent's session: a keepalive after each second of quiet, given up after
    // 5 s without a word from the peer.
    c.session.keepalive = milliseconds(1000);
    c.session.idle_timeout = milliseconds(5000);
  }
  raise_file_limit();
  DeviceMachine machine(c);
  auto start = steady_clock::now();
  auto deadline = start + milliseconds(static_cast<long long>(o.timeout_s * 1000));
  DeviceLoop* loop_ptr = nullptr;
  ConnectApp app(o, machine, io, to_endpoint(c.server), pinned, [&] {
    if (loop_ptr) loop_ptr->stop();
  });
  DeviceLoopOptions lo;
  lo.port_map = d->port_map;
  lo.stop_linger = milliseconds(2000);
  // Every wait has its end: the path by --timeout, then the echo (at most 15 s), the hold and the close.
  lo.run_until = deadline + milliseconds(15000) + milliseconds(static_cast<long long>(o.hold_s * 1000)) +
                 milliseconds(5000);
  bool started = false;
  lo.on_event = [&](const DeviceEvent& e) {
    // The connect starts once the device is registered (the machine waits for that itself).
    app(e);
    (void)started;
  };
  DeviceLoop loop(io, machine, d->socket, std::move(lo));
  loop_ptr = &loop;
  natpunch::ConnectOptions co;
  co.attempts = o.attempts;
  co.deadline = deadline;
  co.relay = o.relay_only ? RelayUse::Only : o.no_relay ? RelayUse::Never : RelayUse::Auto;
  co.upgrade = !o.no_upgrade;
  co.peer_key = pinned;
  machine.connect(*peer_id, start, co);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const asio::error_code& ec, int) {
    if (!ec) {
      app.timed_out("interrupted");
      loop.stop();
    }
  });
  int failed = 0;
  asio::co_spawn(io, loop.run(), [&](std::exception_ptr e) {
    if (e) failed = 1;
    signals.cancel();
  });
  io.run();
  app.timed_out(failed ? "internal error" : "timed out");
  app.set_sent(loop.datagrams_sent());
  if (o.json) std::cout << json_text(app.json()) << std::endl;
  else (app.ok() ? std::cout : std::cerr) << app.human() << std::endl;
  return app.exit_code();
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
