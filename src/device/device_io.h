// What the device machine asks of its driver besides datagrams (docs/design/device-runtime.md §7.1):
// sockets opened and closed, and the router's port mapping made, renewed and released. The driver
// (io over real sockets, sim over the simulator) carries each out and tells the machine how it went.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <variant>

namespace natpunch {

// A socket of the device, as the machine names it: 0 is the main socket (the one registered with
// the rendezvous server); the machine names every other one when it asks for it.
using SocketHandle = std::uint32_t;
inline constexpr SocketHandle kMainSocket = 0;

// `count` more sockets on the main socket's host and family, on ephemeral ports, named first,
// first + 1, …; answered by DeviceMachine::on_sockets_opened with their local ports.
struct OpenSockets {
  SocketHandle first = 0;
  std::size_t count = 0;
};
// The machine is done with it: what arrives there afterwards is not handed to the machine.
struct CloseSocket {
  SocketHandle socket = 0;
};
// Ask the router for a public port forwarded to the main socket; answered by on_port_mapped.
struct MapPort {
  std::uint16_t internal_port = 0;
  std::chrono::seconds lifetime{3600};
};
// Extend the mapping the driver holds; answered by on_port_mapped.
struct RenewPortMapping {};
// Delete it (on stop); not answered.
struct ReleasePortMapping {};

using DeviceCommand = std::variant<OpenSockets, CloseSocket, MapPort, RenewPortMapping, ReleasePortMapping>;

}  // namespace natpunch
