// What `agent` and `connect` do first: open the main socket, learn the NAT's behaviour
// (RFC 5780, when the server offers it) and register with the rendezvous server.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "identity/device_key.h"
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
};

struct DeviceOptions {
  std::string server;
  std::string id;
  std::string id_kind = "user-name";
  std::string bind;
  bool discover = true;
  std::string key_file;  // empty: default_key_path()
  bool use_key = true;   // --no-key: register and connect unsigned (legacy)
  // Registered as NP-ALLOW: who may connect to this device. Nobody unless a command says otherwise
  // (connect answers no one; the agent takes --allow / --allow-any).
  std::optional<AllowList> allow = AllowList{};
};

void add_device_options(CLI::App& cmd, DeviceOptions& o);

// Opens the socket; error text is for a person. Usage errors are prefixed "usage: ".
Result<Device, std::string> open_device(asio::io_context& io, const DeviceOptions& o);
// Discovery (when enabled and `rediscover`) and registration.
asio::awaitable<Result<bool, std::string>> discover_and_register(Device& d, const DeviceOptions& o,
                                                                 bool rediscover = true);

nlohmann::json nat_json(const std::optional<NatBehavior>& n);

}  // namespace natpunch::cli
