// natpunch server: the rendezvous server (STUN binding, register, connect → peer-info).
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <asio/signal_set.hpp>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "identity/authorized_keys.h"
#include "io/rendezvous_server.h"

namespace natpunch::cli {

namespace {
struct ServerOptions {
  std::vector<std::string> listen{"0.0.0.0:3478"};
  std::string alternate;
  long ttl_s = 60;
  std::string log_level = "info";
  bool stats = false;
  double stats_interval_s = 10;
  std::size_t max_registrations = 1'000'000;
  bool require_keys = false;
  std::string authorized_keys;
};

// Reads and parses --authorized-keys; the error names the file and the line.
Result<std::map<std::string, PublicKey>, std::string> read_authorized_keys(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail("--authorized-keys " + path + ": cannot open");
  std::ostringstream text;
  text << in.rdbuf();
  auto parsed = parse_authorized_keys(text.str());
  if (!parsed) return fail("--authorized-keys " + path + ": " + parsed.error().describe());
  return std::move(parsed).value();
}

int run_server(const ServerOptions& o) {
  // Logs go to stderr: stdout carries only machine-readable lines (listening…, --stats JSON).
  spdlog::set_default_logger(spdlog::stderr_color_mt("natpunch"));
  spdlog::set_level(spdlog::level::from_str(o.log_level));
  std::vector<SocketAddress> listen;
  for (const auto& text : o.listen) {
    auto a = parse_socket_address(text);
    if (!a) {
      std::cerr << "natpunch server: --listen expects IP:PORT or [IPv6]:PORT, got '" << text << "'\n";
      return kExitUsage;
    }
    listen.push_back(*a);
  }
  std::optional<SocketAddress> alternate;
  if (!o.alternate.empty()) {
    alternate = parse_socket_address(o.alternate);
    if (!alternate) {
      std::cerr << "natpunch server: --alternate expects IP:PORT or [IPv6]:PORT, got '" << o.alternate << "'\n";
      return kExitUsage;
    }
  }
  if (o.ttl_s < 1 || o.ttl_s > 86400) {
    std::cerr << "natpunch server: --ttl must be between 1 and 86400 seconds\n";
    return kExitUsage;
  }
  ServerConfig config;
  config.ttl = std::chrono::seconds(o.ttl_s);
  config.max_registrations = o.max_registrations;
  config.require_signatures = o.require_keys;
  if (!o.authorized_keys.empty()) {
    auto keys = read_authorized_keys(o.authorized_keys);
    if (!keys) {
      std::cerr << "natpunch server: " << keys.error() << "\n";
      return kExitUsage;
    }
    spdlog::info("{} authorized device keys from {}", keys->size(), o.authorized_keys);
    config.authorized_keys = std::move(*keys);
    config.require_signatures = true;
  }

  ServerRunOptions run;
  if (o.stats) {
    run.stats_interval = std::chrono::milliseconds(static_cast<long long>(o.stats_interval_s * 1000));
    run.on_stats = [](const ServerCounters& c, std::size_t registrations) {
      std::cout << R"({"stats":)" << c.to_json() << R"(,"registrations":)" << registrations << "}" << std::endl;
    };
  } else {
    run.stats_interval = std::chrono::seconds(60);
    run.on_stats = [](const ServerCounters& c, std::size_t registrations) {
      spdlog::info("stats: registrations={} datagrams={} binding={} register={} connect={} dropped={}", registrations,
                   c.datagrams, c.binding_requests, c.register_requests, c.connect_requests, c.dropped_total());
    };
  }

  asio::io_context io;
  auto server = RendezvousServer::create(io, listen, config, run, system_random(), alternate);
  if (!server) {
    std::cerr << "natpunch server: " << server.error() << "\n";
    return kExitFailed;
  }
  for (const auto& a : (*server)->local_addresses()) std::cout << "listening udp " << a.to_string() << std::endl;
  spdlog::info("rendezvous server up: ttl {} s, up to {} registrations", o.ttl_s, o.max_registrations);
  (*server)->start();

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const asio::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: shutting down", sig);
    (*server)->stop();
    io.stop();
  });
  io.run();
  return kExitOk;
}
}  // namespace

Runner add_server_command(CLI::App& app) {
  auto o = std::make_shared<ServerOptions>();
  auto* cmd = app.add_subcommand("server", "Run the rendezvous server (STUN binding, register, connect)");
  cmd->add_option("--listen", o->listen, "UDP address to listen on, IP:PORT or [IPv6]:PORT (repeatable)")
      ->capture_default_str();
  cmd->add_option("--alternate", o->alternate,
                  "Second IP:PORT for RFC 5780 NAT discovery (OTHER-ADDRESS, CHANGE-REQUEST, RESPONSE-ORIGIN); "
                  "pairs with the first --listen of its family, adding three sockets");
  cmd->add_option("--ttl", o->ttl_s, "Seconds a registration lives unless refreshed")->capture_default_str();
  cmd->add_option("--log-level", o->log_level, "trace, debug, info, warn, error, critical or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str();
  cmd->add_flag("--stats", o->stats, "Print counters as one JSON line per interval and at exit (stdout)");
  cmd->add_option("--stats-interval", o->stats_interval_s, "Seconds between --stats lines")->capture_default_str();
  cmd->add_option("--max-registrations", o->max_registrations, "Registry capacity")->capture_default_str();
  cmd->add_flag("--require-keys", o->require_keys,
                "Refuse unsigned devices (by default a device that never showed a key may register unsigned; "
                "an ID is bound to the first key that signs for it)");
  cmd->add_option("--authorized-keys", o->authorized_keys,
                  "File of 'ID PUBLIC-KEY' lines (`natpunch key` prints the key): only these IDs, each with its "
                  "key, may register (implies --require-keys)");
  cmd->footer(
      "Prints 'listening udp IP:PORT' for each socket once ready; stops on SIGINT/SIGTERM.\n"
      "Examples:\n  natpunch server --listen 0.0.0.0:3478 --listen [::]:3478 --ttl 120 --stats\n"
      "  natpunch server --listen 203.0.113.1:3478 --alternate 203.0.113.2:3479   # RFC 5780");
  return [o] { return run_server(*o); };
}

}  // namespace natpunch::cli
