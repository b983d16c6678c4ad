#include "cli/device.h"

#include "cli/commands.h"
#include "cli/common.h"
#include "identity/key_store.h"
#include "io/endpoint.h"
#include "io/local_addresses.h"
#include "wire/random_source.h"

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
                 "This device's identity key (created, mode 0600, when missing; default DIR/device.key when "
                 "--state-dir DIR is given, else $NATPUNCH_KEY_DIR/device.key or ~/.config/natpunch/device.key); "
                 "signs register and connect");
  cmd.add_option("--state-dir", o.state_dir,
                 "This device's state directory, created mode 0700 when missing; a directory named here is locked "
                 "for the whole run (a second device on it fails at once; the default one is shared). Holds the "
                 "lock and, only when this option is given "
                 "and --key-file is not, device.key. Default: $NATPUNCH_STATE_DIR, else $XDG_STATE_HOME/natpunch "
                 "(if absolute), else /var/lib/natpunch as root, else $HOME/.local/state/natpunch; none without HOME")
      ->type_name("DIR")
      ->check([](const std::string& s) { return s.empty() ? std::string("must not be empty") : std::string(); });
  cmd.add_flag("!--no-key", o.use_key, "Register and connect unsigned (refused for an ID already bound to a key)");
  cmd.add_option("--port-mapping", o.port_mapping,
                 "Ask the router to map a public port to the main socket and register it (peers try it first): "
                 "auto (PCP, then NAT-PMP, then UPnP-IGD), pcp, nat-pmp, upnp-igd, or off. Only behind a NAT and "
                 "never for a loopback server")
      ->check(CLI::IsMember({"auto", "off", "pcp", "nat-pmp", "upnp-igd"}))
      ->capture_default_str();
  cmd.add_option("--port-mapping-lifetime", o.port_mapping_lifetime_s,
                 "Seconds of mapping asked for; renewed at half, deleted on exit")
      ->check(CLI::Range(60u, 86400u))
      ->capture_default_str();
}

Result<DeviceSetup, std::string> open_device_setup(asio::io_context& io, const DeviceOptions& o) {
  auto kind = parse_id_kind(o.id_kind);
  auto id = kind ? make_device_id(*kind, o.id) : std::nullopt;
  if (!id) return fail("usage: --id '" + o.id + "' is not a valid " + o.id_kind);
  auto opened = open_client_socket(io, o.server, o.bind);
  if (!opened) return fail((opened.error().exit_code == kExitUsage ? "usage: " : "") + opened.error().message);
  DeviceSetup d{nullptr, std::move(opened->socket), {}, {}};
  auto state = open_state_dir(o.state_dir, process_state_dir_env());
  if (!state) return fail(state.error());
  d.state_dir = std::move(*state);
  if (o.use_key) {
    auto loaded = load_key_file(device_key_path(o.key_file, o.state_dir, default_key_path()), true);
    if (!loaded) return fail(loaded.error());
    d.key = std::make_unique<DeviceKey>(std::move(loaded->key));
  }
  auto& c = d.config;
  c.id = *id;
  c.key = d.key.get();
  c.server = from_endpoint(opened->server);
  c.main_local = from_endpoint(d.socket.local_endpoint());
  for (const auto& a : local_addresses(c.main_local.port))
    if (a.family == c.server.family && c.local_addresses.size() < kMaxLocalAddresses) c.local_addresses.push_back(a);
  c.discover = o.discover;
  c.random = system_random();
  // The router mapping, never toward a loopback server: no router is involved, and the gateway
  // would be the host's real one.
  c.port_mapping = o.port_mapping != "off" && !c.server.is_loopback() && c.server.family == Family::V4;
  c.port_mapping_lifetime = std::chrono::seconds(o.port_mapping_lifetime_s);
  d.port_map.only = parse_map_protocol(o.port_mapping);
  d.port_map.timeout = std::chrono::milliseconds(1000);
  return d;
}

nlohmann::json port_mapping_json(const std::optional<MappedPort>& m) {
  if (!m) return nullptr;
  return {{"protocol", m->protocol}, {"external", m->external.to_string()}, {"lifetime_s", m->lifetime.count()}};
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
