// What `agent` and `connect` share: the device options, the main socket and key opened from them
// (open_device_setup), and the JSON of a NAT behaviour and a port mapping.
#pragma once

#include <CLI/CLI.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/udp.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "cli/state_dir.h"
#include "device/device_config.h"
#include "identity/device_key.h"
#include "io/port_mapper.h"
#include "wire/nat_behavior.h"

namespace natpunch::cli {

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

nlohmann::json nat_json(const std::optional<NatBehavior>& n);

}  // namespace natpunch::cli
