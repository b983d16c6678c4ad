#include "cli/device.h"

#include "cli/commands.h"
#include "cli/common.h"
#include "identity/key_store.h"
#include "io/endpoint.h"
#include "io/local_addresses.h"
#include "io/nat_discovery_runner.h"

namespace natpunch::cli {

void add_device_options(CLI::App& cmd, DeviceOptions& o) {
  cmd.add_option("--server", o.server, "Rendezvous server HOST:PORT")->required();
  cmd.add_option("--id", o.id, "This device's ID (user id, MAC address or user name)")->required();
  cmd.add_option("--id-kind", o.id_kind, "Kind of ID")
      ->check(CLI::IsMember({"user-id", "mac", "user-name"}))
      ->capture_default_str();
  cmd.add_option("--bind", o.bind, "Local IP:PORT for the main socket");
  cmd.add_flag("!--no-discover", o.discover, "Skip RFC 5780 NAT discovery (the peer then assumes nothing)");
  cmd.add_option("--key-file", o.key_file,
                 "This device's identity key (created, mode 0600, when missing; default "
                 "$NATPUNCH_KEY_DIR/device.key or ~/.config/natpunch/device.key); signs register and connect");
  cmd.add_flag("!--no-key", o.use_key, "Register and connect unsigned (refused for an ID already bound to a key)");
}

Result<Device, std::string> open_device(asio::io_context& io, const DeviceOptions& o) {
  auto kind = parse_id_kind(o.id_kind);
  auto id = kind ? make_device_id(*kind, o.id) : std::nullopt;
  if (!id) return fail("usage: --id '" + o.id + "' is not a valid " + o.id_kind);
  auto opened = open_client_socket(io, o.server, o.bind);
  if (!opened) return fail((opened.error().exit_code == kExitUsage ? "usage: " : "") + opened.error().message);
  Device d;
  d.id = *id;
  if (o.use_key) {
    auto loaded = load_key_file(o.key_file.empty() ? default_key_path() : o.key_file, true);
    if (!loaded) return fail(loaded.error());
    d.key = std::make_unique<DeviceKey>(std::move(loaded->key));
  }
  d.client = std::make_unique<RendezvousClient>(
      std::move(opened->socket), opened->server,
      RetransmitPolicy{std::chrono::milliseconds(250), 7, 16, std::chrono::milliseconds(8000)});
  d.client->set_key(d.key.get());
  return d;
}

asio::awaitable<Result<bool, std::string>> discover_and_register(Device& d, const DeviceOptions& o, bool rediscover) {
  auto port = d.client->local_address().port;
  std::vector<SocketAddress> locals;
  for (const auto& a : local_addresses(port))
    if (a.family == from_endpoint(d.client->server()).family && locals.size() < kMaxLocalAddresses) locals.push_back(a);
  if (o.discover && rediscover) d.nat = co_await discover_nat(*d.client, locals);
  RegisterRequest req{d.id, locals, std::nullopt, d.nat, o.allow};
  auto r = co_await d.client->register_device(req);
  if (!r) co_return fail("registration failed: " + r.error().message());
  d.mapped = r->response.mapped;
  d.ttl_s = r->response.lifetime_s;
  co_return true;
}

nlohmann::json nat_json(const std::optional<NatBehavior>& n) {
  if (!n) return nullptr;
  return {{"type", short_name(*n)},
          {"mapping", to_string(n->mapping)},
          {"filtering", to_string(n->filtering)},
          {"allocation", to_string(n->allocation)},
          {"port_preserved", n->port_preserved}};
}

}  // namespace natpunch::cli
