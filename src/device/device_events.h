// What the device machine reports to whoever runs it (the CLI prints these as its JSON events and
// human lines; a library hands them to the app). Values only: the machine never prints.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "device/registration.h"
#include "wire/address.h"
#include "wire/nat_behavior.h"

namespace natpunch {

// The first registration is complete (after discovery, and with the port mapping registered when
// there is one on our public IP).
struct RegisteredEvent {
  SocketAddress mapped;
  std::uint32_t ttl_s = 0;
  std::optional<NatBehavior> nat;
  std::optional<MappedPort> port_mapping;  // as registered (on our public IP)
  std::string port_mapping_note;           // why there is none, or why it is not registered
};
// A registration succeeded after failed ones: the server was out of reach for `down`.
struct ReRegisteredEvent {
  SocketAddress mapped;
  std::chrono::milliseconds down{0};
};
// The server sees another public mapping: the NAT or the network changed; the device learns its
// NAT's behaviour again and registers that.
struct MappingChangedEvent {
  SocketAddress old_mapped;
  SocketAddress mapped;
};
// A registration failed (the device keeps trying: at once after a timeout, an interval after a
// refusal). `registered_before`: false while the device has never been registered.
struct RegistrationFailedEvent {
  std::string error;
  bool registered_before = false;
};
// Peer-infos dropped because they did not carry a nonce this device quoted: `count` so far.
struct UnauthenticatedPeerInfoEvent {
  std::uint64_t count = 0;
};

using DeviceEvent = std::variant<RegisteredEvent, ReRegisteredEvent, MappingChangedEvent, RegistrationFailedEvent,
                                 UnauthenticatedPeerInfoEvent>;

}  // namespace natpunch
