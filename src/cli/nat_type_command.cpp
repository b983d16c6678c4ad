// natpunch nat-type: RFC 5780 NAT behaviour discovery against a server with an alternate address —
// mapping, filtering, port preservation, port allocation, and the lab-style type name.
#include <iostream>

#include "cli/commands.h"
#include "cli/common.h"
#include "io/endpoint.h"
#include "io/local_addresses.h"
#include "io/machine_loop.h"
#include "io/rendezvous_client.h"
#include "nat/nat_discovery.h"
#include "wire/random_source.h"

namespace natpunch::cli {

namespace {
using std::chrono::milliseconds;

struct NatTypeOptions {
  std::string server;
  std::string bind;
  double timeout_s = 3;
  int rto_ms = 100;
  int window_ms = 1000;
  std::size_t sockets = kNatDiscoverySockets;
  bool json = false;
};

// A test still pending at the end was not needed (an earlier answer settled the question).
nlohmann::json outcome_json(ProbeOutcome o) {
  return o == ProbeOutcome::Pending ? nlohmann::json(nullptr) : nlohmann::json(to_string(o));
}

std::string yes_no(bool b) { return b ? "yes" : "no"; }

nlohmann::json optional_address(const std::optional<SocketAddress>& a) {
  return a ? nlohmann::json(a->to_string()) : nlohmann::json(nullptr);
}

void print_human(const NatDiscoveryResult& r, const std::string& local, const SocketAddress& server) {
  const auto& b = r.behavior;
  std::string allocation(to_string(b.allocation));
  if (b.allocation == Allocation::Sequential) allocation += " (delta " + std::to_string(b.port_delta) + ")";
  if (r.allocation.translated > 0)
    allocation +=
        ", ports seen " + std::to_string(r.allocation.lowest_port) + "-" + std::to_string(r.allocation.highest_port);
  std::cout << "NAT type        " << type_name(r) << (b.behind_nat ? "" : " (no NAT: mapped address is local)") << "\n"
            << "mapping         " << to_string(b.mapping) << "\n"
            << "filtering       " << to_string(b.filtering) << "\n"
            << "port preserved  " << yes_no(b.port_preserved) << "\n"
            << "allocation      " << allocation << "\n"
            << "mapped          " << r.mapped.to_string() << "  (local " << local << ")\n"
            << "server          " << server.to_string() << ", other address "
            << (r.other_address ? r.other_address->to_string() : "-") << "\n"
            << "elapsed         " << r.elapsed.count() << " ms  (" << r.requests_sent << " requests, " << r.responses
            << " responses, rtt " << r.rtt.count() << " ms)" << std::endl;
}

int run_nat_type(const NatTypeOptions& o) {
  if (o.timeout_s <= 0 || o.rto_ms <= 0 || o.window_ms <= 0)
    return report_failure(o.json, "--timeout, --rto-ms and --window-ms must be positive", kExitUsage);
  if (o.sockets < 2 || o.sockets > 64) return report_failure(o.json, "--sockets must be 2..64", kExitUsage);
  asio::io_context io;
  auto opened = open_client_socket(io, o.server, o.bind);
  if (!opened) return report_failure(o.json, opened.error().message, opened.error().exit_code);
  const auto server = opened->server;
  auto main_socket = std::move(opened->socket);
  const auto main_local = main_socket.local_endpoint();
  std::vector<asio::ip::udp::socket> sockets;
  sockets.push_back(std::move(main_socket));
  auto extra = open_extra_sockets(io, main_local, o.sockets - 1);
  if (!extra) return report_failure(o.json, extra.error(), kExitFailed);
  for (auto& s : *extra) sockets.push_back(std::move(s));

  NatDiscoveryConfig config;
  config.server = from_endpoint(server);
  for (const auto& s : sockets) config.local_ports.push_back(s.local_endpoint().port());
  for (const auto& a : local_addresses(main_local.port(), true))
    if (a.family == config.server.family) config.local_addresses.push_back(a);
  if (!main_local.address().is_unspecified()) config.local_addresses.push_back(from_endpoint(main_local));
  config.rto = milliseconds(o.rto_ms);
  config.server_timeout = milliseconds(static_cast<long long>(o.timeout_s * 1000));
  config.window = milliseconds(o.window_ms);
  config.random = system_random();
  NatDiscovery discovery(config);

  // The machine bounds itself (test I within --timeout, the rest within the window stretched to
  // 4 RTTs ≤ 4 × --timeout); the driver's limit is only a backstop.
  MachineRunOptions drive_options;
  drive_options.hard_limit = config.server_timeout * 5 + config.window + milliseconds(1000);
  auto stats = run_to_completion(io, run_machine(discovery, sockets, drive_options));

  const std::string local = main_local.address().is_unspecified() ? local_toward(io, server, main_local.port())
                                                                  : from_endpoint(main_local).to_string();
  const auto& r = discovery.result();
  nlohmann::json base = {{"server", config.server.to_string()},
                         {"local", local},
                         {"other_address", optional_address(r.other_address)},
                         {"elapsed_ms", r.elapsed.count()},
                         {"requests", r.requests_sent}};
  if (!discovery.finished())
    return report_failure(o.json,
                          "discovery did not finish within " + std::to_string(drive_options.hard_limit.count()) + " ms",
                          kExitFailed, base);
  if (!r.ok()) return report_failure(o.json, r.message, kExitFailed, base);
  if (stats.send_errors > 0 && !o.json)
    std::cerr << "natpunch: " << stats.send_errors << " datagrams could not be sent" << std::endl;

  if (!o.json) {
    print_human(r, local, config.server);
    return kExitOk;
  }
  const auto& b = r.behavior;
  base.update(
      {{"ok", true},
       {"type", type_name(r)},
       {"behind_nat", b.behind_nat},
       {"mapping", to_string(b.mapping)},
       {"filtering", to_string(b.filtering)},
       {"port_preserved", b.port_preserved},
       {"allocation", to_string(b.allocation)},
       {"port_delta", b.port_delta},
       {"port_range", r.allocation.translated > 0 ? nlohmann::json(std::to_string(r.allocation.lowest_port) + "-" +
                                                                   std::to_string(r.allocation.highest_port))
                                                  : nlohmann::json(nullptr)},
       {"mapped", r.mapped.to_string()},
       {"mapped_alternate_ip", optional_address(r.mapped_alternate_ip)},
       {"mapped_alternate_both", optional_address(r.mapped_alternate_both)},
       {"mapped_alternate_port", optional_address(r.mapped_alternate_port)},
       {"response_origin", optional_address(r.response_origin)},
       {"filtering_tests",
        {{"change_ip_and_port", outcome_json(r.change_ip_and_port)}, {"change_port", outcome_json(r.change_port)}}},
       {"rtt_ms", r.rtt.count()},
       {"responses", r.responses},
       {"send_errors", stats.send_errors}});
  std::cout << json_text(base) << std::endl;
  return kExitOk;
}
}  // namespace

Runner add_nat_type_command(CLI::App& app) {
  auto o = std::make_shared<NatTypeOptions>();
  auto* cmd = app.add_subcommand(
      "nat-type", "Discover this host's NAT behaviour (RFC 5780: mapping, filtering, port preservation, allocation)");
  cmd->add_option("--server", o->server,
                  "natpunch server (or any RFC 5780 STUN server) HOST:PORT; it needs an alternate address")
      ->required();
  cmd->add_option("--bind", o->bind, "Local IP:PORT of the main socket (default: any, ephemeral port)");
  cmd->add_option("--timeout", o->timeout_s, "Seconds the server has to answer the first request")
      ->capture_default_str();
  cmd->add_option("--rto-ms", o->rto_ms, "Initial retransmission timeout (doubles on each retransmission)")
      ->capture_default_str();
  cmd->add_option("--window-ms", o->window_ms,
                  "How long the other tests wait for answers (a filtering test passes or fails within it)")
      ->capture_default_str();
  cmd->add_option("--sockets", o->sockets, "Sockets used: main, filtering, and the rest for allocation samples (2-64)")
      ->capture_default_str();
  cmd->add_flag(
      "--json", o->json,
      R"(Print one JSON object: {"ok","type","mapping","filtering","port_preserved","allocation","port_delta","mapped","local","other_address","elapsed_ms",…})");
  cmd->footer(
      "Exit status: 0 discovered, 1 no answer / no alternate address on the server, 2 usage error.\n"
      "Example:\n  natpunch nat-type --server 203.0.113.1:3478 --json");
  return [o] { return run_nat_type(*o); };
}

}  // namespace natpunch::cli
