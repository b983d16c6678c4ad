#include "cli/device.h"

#include "cli/commands.h"
#include "cli/common.h"
#include "identity/key_store.h"
#include "io/endpoint.h"
#include "io/local_addresses.h"
#include "io/awaitable.h"
#include "io/nat_discovery_runner.h"
#include "io/off_loop_job.h"
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

Result<Device, std::string> open_device(asio::io_context& io, const DeviceOptions& o) {
  auto kind = parse_id_kind(o.id_kind);
  auto id = kind ? make_device_id(*kind, o.id) : std::nullopt;
  if (!id) return fail("usage: --id '" + o.id + "' is not a valid " + o.id_kind);
  auto opened = open_client_socket(io, o.server, o.bind);
  if (!opened) return fail((opened.error().exit_code == kExitUsage ? "usage: " : "") + opened.error().message);
  Device d;
  d.id = *id;
  auto state = open_state_dir(o.state_dir, process_state_dir_env());
  if (!state) return fail(state.error());
  d.state_dir = std::move(*state);
  if (o.use_key) {
    auto loaded = load_key_file(device_key_path(o.key_file, o.state_dir, default_key_path()), true);
    if (!loaded) return fail(loaded.error());
    d.key = std::make_unique<DeviceKey>(std::move(loaded->key));
  }
  d.client = std::make_unique<RendezvousClient>(
      std::move(opened->socket), opened->server,
      RetransmitPolicy{std::chrono::milliseconds(250), 7, 16, std::chrono::milliseconds(8000)});
  d.client->set_key(d.key.get());
  return d;
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

asio::awaitable<Result<bool, std::string>> discover_and_register(Device& d, const DeviceOptions& o, bool rediscover) {
  auto port = d.client->local_address().port;
  std::vector<SocketAddress> locals;
  for (const auto& a : local_addresses(port))
    if (a.family == from_endpoint(d.client->server()).family && locals.size() < kMaxLocalAddresses) locals.push_back(a);
  // The router mapping is asked for while discovery runs (both take a while), but never toward a
  // loopback server: no router is involved, and the gateway would be the host's real one.
  // One protocol after the other (asked at once, two of them could map the same socket on one
  // gateway, and deleting the spare one would delete the kept one), each bounded.
  std::optional<OffLoopJob<Result<PortMapping, std::vector<MapAttempt>>>> mapping;
  bool want_mapping = rediscover && !d.port_mapping && o.port_mapping != "off" &&
                      !d.client->server().address().is_loopback() && d.client->server().address().is_v4();
  if (want_mapping) {
    PortMapRequest req;
    req.internal_port = port;
    req.lifetime = std::chrono::seconds(o.port_mapping_lifetime_s);
    req.only = parse_map_protocol(o.port_mapping);
    req.timeout = std::chrono::milliseconds(1000);
    mapping.emplace(d.client->socket().get_executor(), [req] { return map_port(req); });
  }
  if (o.discover && rediscover) d.nat = co_await discover_nat(*d.client, locals);
  if (mapping) {
    auto got = co_await mapping->result();
    if (got) {
      d.port_mapping = std::move(*got);
      d.port_mapping_renew_at = std::chrono::steady_clock::now() + d.port_mapping->lifetime / 2;
    } else {
      d.port_mapping_note = "no port mapping:";
      for (const auto& a : got.error()) d.port_mapping_note += " " + std::string(to_string(a.protocol)) + ": " + a.error + ";";
    }
  }
  RegisterRequest req{d.id, locals, std::nullopt, d.nat, o.allow};
  // Registered only on the public IP the server sees: a mapping on another IP sits behind a further
  // NAT (carrier-grade NAT) and does not reach the internet.
  auto advertise = [&] {
    if (d.port_mapping && (d.mapped.is_unspecified() || d.port_mapping->external.same_ip(d.mapped)))
      req.port_mapped = d.port_mapping->external;
  };
  advertise();
  auto r = co_await d.client->register_device(req);
  if (!r) co_return fail("registration failed: " + r.error().message());
  d.mapped = r->response.mapped;
  d.ttl_s = r->response.lifetime_s;
  if (d.port_mapping && !d.port_mapping->external.same_ip(d.mapped)) {
    d.port_mapping_note = "the router's mapping " + d.port_mapping->external.to_string() +
                          " is not on our public IP " + d.mapped.to_string() + " (a further NAT): not registered";
    req.port_mapped.reset();
    auto again = co_await d.client->register_device(req);  // withdraw it
    if (!again) co_return fail("registration failed: " + again.error().message());
  } else if (d.port_mapping && !req.port_mapped) {
    advertise();  // the first registration of this device: now that the public IP is known
    auto again = co_await d.client->register_device(req);
    if (!again) co_return fail("registration failed: " + again.error().message());
  }
  co_return true;
}


asio::awaitable<void> renew_port_mapping_if_due(Device& d) {
  if (!d.port_mapping || std::chrono::steady_clock::now() < d.port_mapping_renew_at) co_return;
  auto m = *d.port_mapping;
  auto r = co_await off_loop(d.client->socket().get_executor(), [&m] { return renew(m); });
  if (r) {
    d.port_mapping = m;
    d.port_mapping_renew_at = std::chrono::steady_clock::now() + m.lifetime / 2;
  } else {
    d.port_mapping_note = "port mapping renewal failed: " + r.error();
    d.port_mapping.reset();
  }
}

asio::awaitable<void> release_port_mapping(Device& d) {
  if (!d.port_mapping) co_return;
  auto m = *d.port_mapping;
  d.port_mapping.reset();
  co_await off_loop(d.client->socket().get_executor(), [&m] { return unmap(m); });
}

std::optional<SocketAddress> registered_port_mapping(const Device& d) {
  if (!d.port_mapping || !d.port_mapping->external.same_ip(d.mapped)) return std::nullopt;
  return d.port_mapping->external;
}

nlohmann::json port_mapping_json(const Device& d) {
  if (!registered_port_mapping(d)) return nullptr;
  return {{"protocol", to_string(d.port_mapping->protocol)},
          {"external", d.port_mapping->external.to_string()},
          {"lifetime_s", d.port_mapping->lifetime.count()}};
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
