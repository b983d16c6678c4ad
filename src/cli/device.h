// What `agent` and `connect` do first: open the main socket, learn the NAT's behaviour
// (RFC 5780, when the server offers it) and register with the rendezvous server.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "cli/state_dir.h"
#include "device/device_config.h"
#include "device/registration.h"
#include "identity/device_key.h"
#include "io/port_mapper.h"
#include "io/rendezvous_client.h"
#include "wire/nat_behavior.h"

namespace natpunch::cli {

struct Device {
  std::unique_ptr<DeviceKey> key;  // before client: the client points at it
  std::unique_ptr<RendezvousClient> client;
  DeviceId id;
  std::optional<NatBehavior> nat;
  SocketAddress mapped;  // as the server saw the main socket at registration
  std::uint32_t ttl_s = 0;
  // The router's port mapping for the main socket (UPnP-IGD, NAT-PMP or PCP), registered as
  // NP-PORT-MAPPED; deleted by release_port_mapping().
  std::optional<PortMapping> port_mapping;
  std::string port_mapping_note;  // why there is none (no gateway offers one, behind a further NAT, off)
  std::chrono::steady_clock::time_point port_mapping_renew_at{};
  StateDirLock state_dir;  // held for the device's whole run (none without a state directory)
};

struct DeviceOptions {
  std::string server;
  std::string id;
  std::string id_kind = "user-name";
  std::string bind;
  bool discover = true;
  std::string key_file;   // empty: DIR/device.key with --state-dir, else default_key_path()
  std::string state_dir;  // --state-dir; empty: the default (cli/state_dir.h), which never moves the key
  bool use_key = true;    // --no-key: register and connect unsigned (legacy)
  // Registered as NP-ALLOW: who may connect to this device. Nobody unless a command says otherwise
  // (connect answers no one; the agent takes --allow / --allow-any).
  std::optional<AllowList> allow = AllowList{};
  // --port-mapping: ask the router for a mapping of the main socket (auto: PCP, NAT-PMP, UPnP-IGD).
  std::string port_mapping = "auto";
  std::uint32_t port_mapping_lifetime_s = 3600;
};

void add_device_options(CLI::App& cmd, DeviceOptions& o);

// The device as a DeviceMachine runs it (device/device_machine.h): its main socket, its key, and
// the config those options give (ID, server, local addresses, discovery, port mapping). The
// command adds its policy (admission, sessions, tuning).
struct DeviceSetup {
  std::unique_ptr<DeviceKey> key;  // the config points at it
  asio::ip::udp::socket socket;
  DeviceConfig config;
  PortMapRequest port_map;  // how io carries out the machine's MapPort
  StateDirLock state_dir;   // held for the device's whole run (none without a state directory)
};
Result<DeviceSetup, std::string> open_device_setup(asio::io_context& io, const DeviceOptions& o);
nlohmann::json port_mapping_json(const std::optional<MappedPort>& m);

// Opens the socket; error text is for a person. Usage errors are prefixed "usage: ".
Result<Device, std::string> open_device(asio::io_context& io, const DeviceOptions& o);
// Discovery (when enabled and `rediscover`) and registration.
asio::awaitable<Result<bool, std::string>> discover_and_register(Device& d, const DeviceOptions& o,
                                                                 bool rediscover = true);

// Renews the port mapping when half its lifetime has passed (a blocking call, bounded, off the event
// loop); a failed renewal drops the mapping (the next registration no longer advertises it).
asio::awaitable<void> renew_port_mapping_if_due(Device& d);
// Deletes the port mapping (on exit).
asio::awaitable<void> release_port_mapping(Device& d);

nlohmann::json nat_json(const std::optional<NatBehavior>& n);
nlohmann::json port_mapping_json(const Device& d);
// The mapping as registered (on our public IP), for the punch plan; nullopt otherwise.
std::optional<SocketAddress> registered_port_mapping(const Device& d);

}  // namespace natpunch::cli
