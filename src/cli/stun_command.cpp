// natpunch stun: one STUN Binding transaction, printed like a STUN client would.
#include <iostream>

#include "cli/commands.h"
#include "cli/common.h"
#include "io/endpoint.h"
#include "io/rendezvous_client.h"

namespace natpunch::cli {

namespace {
struct StunOptions {
  std::string server;
  std::string bind;
  double timeout_s = 5;
  int rto_ms = 500;
  bool json = false;
};

int run_stun(const StunOptions& o) {
  asio::io_context io;
  auto opened = open_client_socket(io, o.server, o.bind);
  if (!opened) return report_failure(o.json, opened.error().message, opened.error().exit_code);
  const auto server = opened->server;
  auto socket = std::move(opened->socket);
  RendezvousClient client(std::move(socket), server, client_policy(o.timeout_s, o.rto_ms));
  auto local = local_toward(io, server, client.local_address().port);

  auto r = run_to_completion(io, client.binding());
  nlohmann::json base = {{"server", from_endpoint(server).to_string()}, {"local", local}};
  if (!r) {
    base["sends"] = client.last_sends();
    return report_failure(o.json, r.error().message(), kExitFailed, base);
  }
  if (o.json) {
    base.update({{"ok", true}, {"mapped", r->mapped.to_string()}, {"rtt_ms", ms(r->rtt)}, {"sends", r->sends}});
    std::cout << json_text(base) << std::endl;
  } else {
    std::cout << "mapped address " << r->mapped.to_string() << "  (local " << local << ", server "
              << from_endpoint(server).to_string() << ", rtt " << ms(r->rtt) << " ms, " << r->sends
              << (r->sends == 1 ? " request" : " requests") << ")" << std::endl;
  }
  return kExitOk;
}
}  // namespace

Runner add_stun_command(CLI::App& app) {
  auto o = std::make_shared<StunOptions>();
  auto* cmd = app.add_subcommand("stun", "Ask a STUN server (natpunch's or any RFC 8489 server) for this host's mapped address");
  cmd->add_option("--server", o->server, "STUN server HOST:PORT")->required();
  cmd->add_option("--bind", o->bind, "Local IP:PORT to send from (default: any, ephemeral port)");
  cmd->add_option("--timeout", o->timeout_s, "Seconds before giving up")->capture_default_str();
  cmd->add_option("--rto-ms", o->rto_ms, "Initial retransmission timeout (RFC 8489 back-off doubles it)")
      ->capture_default_str();
  cmd->add_flag("--json", o->json, R"(Print one JSON object: {"ok","local","mapped","rtt_ms","sends","server"})");
  cmd->footer("Exit status: 0 answer, 1 no answer (timeout), 2 usage error.\n"
              "Example:\n  natpunch stun --server 127.0.0.1:3478 --json");
  return [o] { return run_stun(*o); };
}

}  // namespace natpunch::cli
