// natpunch server: the rendezvous server (STUN binding, register, connect → peer-info).
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <asio/signal_set.hpp>
#include <charconv>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "cli/common.h"
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
  double amplification_limit = 1.0;
  std::vector<std::string> rate_limits;  // "N/s" or "KIND=N/s"
  std::vector<std::string> bursts;       // "N" or "KIND=N"
  std::size_t max_per_ip = 1'000;
  std::size_t max_proven = 1'000'000;
  std::size_t max_rate_sources = 100'000;
  std::string turn_server;       // --turn IP:PORT
  std::string turn_secret_file;  // --turn-secret-file: coturn's static-auth-secret, first line
  long turn_lifetime_s = 600;
};

constexpr std::array<std::string_view, kRequestKinds> kKindNames{"binding", "register", "connect", "signal", "other"};

// Applies one --rate-limit ("N/s", "KIND=N/s") or --burst ("N", "KIND=N") to `limits`; false when
// malformed. A rate of 0 lifts the limit for those kinds.
bool apply_limit(std::string_view spec, bool rate, std::array<RateLimit, kRequestKinds>& limits) {
  std::optional<std::size_t> only;
  if (auto eq = spec.find('='); eq != std::string_view::npos) {
    auto name = spec.substr(0, eq);
    auto it = std::find(kKindNames.begin(), kKindNames.end(), name);
    if (it == kKindNames.end()) return false;
    only = static_cast<std::size_t>(it - kKindNames.begin());
    spec.remove_prefix(eq + 1);
  }
  if (rate && spec.ends_with("/s")) spec.remove_suffix(2);
  double value = 0;
  auto [end, ec] = std::from_chars(spec.data(), spec.data() + spec.size(), value);
  if (ec != std::errc() || end != spec.data() + spec.size() || !(value >= 0) || value > 1e9) return false;
  if (!rate && value < 1) return false;
  for (std::size_t k = 0; k < kRequestKinds; ++k) {
    if (only && *only != k) continue;
    (rate ? limits[k].per_second : limits[k].burst) = value;
  }
  return true;
}

// Reads and parses --authorized-keys; the error names the file and the line.
Result<std::map<std::string, PublicKey>, std::string> read_authorized_keys(const std::string& path) {
  auto text = read_small_file(path, 4 << 20);
  if (!text) return fail("--authorized-keys " + text.error());
  auto parsed = parse_authorized_keys(*text);
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
  if (!(o.amplification_limit >= 1.0)) {
    std::cerr << "natpunch server: --amplification-limit must be at least 1.0\n";
    return kExitUsage;
  }
  config.amplification_limit = o.amplification_limit;
  for (const auto& spec : o.rate_limits) {
    if (!apply_limit(spec, true, config.rate_limits)) {
      std::cerr << "natpunch server: --rate-limit expects N/s or KIND=N/s (KIND: binding, register, connect, "
                   "signal, other), got '"
                << spec << "'\n";
      return kExitUsage;
    }
  }
  for (const auto& spec : o.bursts) {
    if (!apply_limit(spec, false, config.rate_limits)) {
      std::cerr << "natpunch server: --burst expects N or KIND=N (N >= 1), got '" << spec << "'\n";
      return kExitUsage;
    }
  }
  if (o.max_per_ip < 1 || o.max_proven < 1 || o.max_rate_sources < 1) {
    std::cerr << "natpunch server: --max-per-ip, --max-proven-sources and --max-rate-sources must be at least 1\n";
    return kExitUsage;
  }
  config.max_registrations_per_ip = o.max_per_ip;
  config.max_proven_sources = o.max_proven;
  config.max_rate_limited_sources = o.max_rate_sources;
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
  if (o.turn_server.empty() != o.turn_secret_file.empty()) {
    std::cerr << "natpunch server: --turn and --turn-secret-file go together\n";
    return kExitUsage;
  }
  if (!o.turn_server.empty()) {
    auto relay = parse_socket_address(o.turn_server);
    auto secret = read_small_file(o.turn_secret_file, 4096);
    std::string first_line = secret ? secret->substr(0, secret->find_first_of("\r\n")) : std::string();
    if (!relay || !secret || first_line.empty() || o.turn_lifetime_s < 60 || o.turn_lifetime_s > 86400) {
      std::cerr << "natpunch server: "
                << (!relay ? "--turn '" + o.turn_server + "' is not IP:PORT"
                    : !secret ? "--turn-secret-file " + secret.error()
                    : first_line.empty() ? "--turn-secret-file " + o.turn_secret_file + ": the first line is empty"
                                         : std::string("--turn-lifetime must be 60..86400 seconds"))
                << "\n";
      return kExitUsage;
    }
    config.turn = TurnOffer{*relay, first_line, std::chrono::seconds(o.turn_lifetime_s)};
    spdlog::info("offering TURN relay {} with {} s credentials", relay->to_string(), o.turn_lifetime_s);
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
      spdlog::info(
          "stats: registrations={} datagrams={} binding={} register={} connect={} dropped={} malformed={} "
          "rejected={} rate_limited={} capped={} amplification_refused={}",
          registrations, c.datagrams, c.binding_requests, c.register_requests, c.connect_requests, c.dropped_total(),
          c.malformed_total(), c.rejected_total(), c.rate_limited_total(), c.registrations_capped,
          c.amplification_refused);
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
  cmd->add_option("--turn", o->turn_server,
                  "A TURN relay (coturn with --use-auth-secret) offered with every peer-info, IP:PORT; each side "
                  "gets its own credentials that expire (--turn-lifetime)");
  cmd->add_option("--turn-secret-file", o->turn_secret_file,
                  "File whose first line is the relay's --static-auth-secret (kept off the command line)");
  cmd->add_option("--turn-lifetime", o->turn_lifetime_s, "Seconds the TURN credentials stay valid")
      ->capture_default_str();
  cmd->add_option("--amplification-limit", o->amplification_limit,
                  "Largest reply, as a multiple of the request's size, to a source that has not proven it receives "
                  "at its address (by quoting the server's NONCE); optional attributes are dropped first, then the "
                  "reply is not sent (counted). Above 1.0 the server can be used as a reflector: only for testing "
                  "clients that cannot pad their requests (RFC 5780 PADDING)")
      ->capture_default_str();
  cmd->add_option("--rate-limit", o->rate_limits,
                  "Requests per second one source IP may send: N/s for every kind or KIND=N/s, KIND one of binding, "
                  "register, connect, signal, other (unknown methods, non-requests, non-STUN); 0 = unlimited; "
                  "repeatable. Excess is dropped unanswered and counted. Defaults: binding=50/s, register=20/s, "
                  "connect=20/s, signal=50/s, other=20/s");
  cmd->add_option("--burst", o->bursts,
                  "Requests one source IP may send at once before --rate-limit applies: N or KIND=N; repeatable. "
                  "Defaults: twice the rate (binding=100, register=40, connect=40, signal=100, other=40)");
  cmd->add_option("--max-per-ip", o->max_per_ip, "Live registrations whose mapping has one source IP (beyond: 508)")
      ->capture_default_str();
  cmd->add_option("--max-proven-sources", o->max_proven,
                  "Addresses remembered as proven (quoted a valid NONCE); when full, an arbitrary one is forgotten")
      ->capture_default_str();
  cmd->add_option("--max-rate-sources", o->max_rate_sources,
                  "Source IPs the rate limiter tracks; when full, an arbitrary one is forgotten")
      ->capture_default_str();
  cmd->footer(
      "Prints 'listening udp IP:PORT' for each socket once ready; stops on SIGINT/SIGTERM.\n"
      "--stats counts rejected (error answers), rate_limited (by kind), malformed (parse failures) and limits\n"
      "(registrations_capped, amplification_refused, indications_refused, ...); see docs/security.md.\n"
      "Examples:\n  natpunch server --listen 0.0.0.0:3478 --listen [::]:3478 --ttl 120 --stats\n"
      "  natpunch server --listen 203.0.113.1:3478 --alternate 203.0.113.2:3479   # RFC 5780\n"
      "  natpunch server --listen 0.0.0.0:3478 --rate-limit 10/s --rate-limit binding=100/s --burst 20 --max-per-ip "
      "50");
  return [o] { return run_server(*o); };
}

}  // namespace natpunch::cli
