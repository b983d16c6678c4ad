// natpunch register: register once under an ID and print what the server observed.
#include <iostream>

#include "cli/commands.h"
#include "cli/common.h"
#include "io/endpoint.h"
#include "io/local_addresses.h"
#include "io/rendezvous_client.h"

namespace natpunch::cli {

namespace {
struct RegisterOptions {
  std::string server;
  std::string id;
  std::string kind = "user-name";
  std::string bind;
  long ttl_s = 0;
  double timeout_s = 5;
  int rto_ms = 500;
  bool json = false;
};

int run_register(const RegisterOptions& o) {
  auto kind = parse_id_kind(o.kind);
  auto id = kind ? make_device_id(*kind, o.id) : std::nullopt;
  if (!id)
    return report_failure(o.json,
                          "--id '" + o.id + "' is not a valid " + o.kind +
                              " (1-128 bytes, no control characters; mac as aa:bb:cc:dd:ee:ff)",
                          kExitUsage);
  asio::io_context io;
  auto opened = open_client_socket(io, o.server, o.bind);
  if (!opened) return report_failure(o.json, opened.error().message, opened.error().exit_code);
  const auto server = opened->server;
  auto socket = std::move(opened->socket);
  RendezvousClient client(std::move(socket), server, client_policy(o.timeout_s, o.rto_ms));
  auto port = client.local_address().port;

  RegisterRequest req;
  req.id = *id;
  for (const auto& a : local_addresses(port))
    if (a.family == from_endpoint(server).family) req.locals.push_back(a);
  if (req.locals.size() > kMaxLocalAddresses) req.locals.resize(kMaxLocalAddresses);
  if (o.ttl_s > 0) req.lifetime_s = static_cast<std::uint32_t>(o.ttl_s);

  auto r = run_to_completion(io, client.register_device(req));
  nlohmann::json base = {{"id", id->value}, {"kind", to_string(id->kind)},
                         {"server", from_endpoint(server).to_string()},
                         {"local", local_toward(io, server, port)}};
  if (!r) return report_failure(o.json, r.error().message(), kExitFailed, base);
  nlohmann::json locals = nlohmann::json::array();
  for (const auto& a : req.locals) locals.push_back(a.to_string());
  if (o.json) {
    base.update({{"ok", true}, {"mapped", r->response.mapped.to_string()}, {"ttl_s", r->response.lifetime_s},
                 {"locals", locals}, {"rtt_ms", ms(r->rtt)}, {"sends", r->sends}});
    std::cout << json_text(base) << std::endl;
  } else {
    std::cout << "registered '" << id->value << "' (" << to_string(id->kind) << "): server sees "
              << r->response.mapped.to_string() << ", valid " << r->response.lifetime_s << " s, "
              << req.locals.size() << " local address(es) reported, rtt " << ms(r->rtt) << " ms" << std::endl;
  }
  return kExitOk;
}
}  // namespace

Runner add_register_command(CLI::App& app) {
  auto o = std::make_shared<RegisterOptions>();
  auto* cmd = app.add_subcommand("register", "Register once with the rendezvous server and print the observed mapping");
  cmd->add_option("--server", o->server, "Rendezvous server HOST:PORT")->required();
  cmd->add_option("--id", o->id, "Device ID (user id, MAC address or user name)")->required();
  cmd->add_option("--id-kind", o->kind, "Kind of ID")
      ->check(CLI::IsMember({"user-id", "mac", "user-name"}))
      ->capture_default_str();
  cmd->add_option("--bind", o->bind, "Local IP:PORT to register from");
  cmd->add_option("--ttl", o->ttl_s, "Requested registration lifetime in seconds (server caps it)");
  cmd->add_option("--timeout", o->timeout_s, "Seconds before giving up")->capture_default_str();
  cmd->add_option("--rto-ms", o->rto_ms, "Initial retransmission timeout")->capture_default_str();
  cmd->add_flag("--json", o->json, R"(Print one JSON object: {"ok","id","kind","mapped","ttl_s","local","locals",...})");
  cmd->footer("A debugging aid: the long-running agent keeps its registration fresh.\n"
              "Exit status: 0 registered, 1 no answer or refused, 2 usage error.\n"
              "Example:\n  natpunch register --server 127.0.0.1:3478 --id 00:11:22:33:44:55 --id-kind mac --json");
  return [o] { return run_register(*o); };
}

}  // namespace natpunch::cli
