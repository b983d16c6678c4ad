// A device's traversal steps over real sockets: punch a path to a peer the server introduced
// (running the Puncher machine on the main socket plus any extra sockets it wants). The path is
// then used by a QUIC session (io/session_runner.h).
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "io/machine_driver.h"
#include "io/rendezvous_client.h"
#include "punch/puncher.h"

namespace natpunch {

struct TraversalOptions {
  PunchTuning tuning;
  std::optional<Method> method;  // force one method (tests, debugging)
  std::function<void(const std::string&)> on_progress;  // a progress line, about twice a second
  // The caller's deadline (connect --timeout): punching stops there even mid-step.
  std::optional<std::chrono::steady_clock::time_point> deadline;
  // Our router's port mapping for the main socket, as registered (both sides plan with it).
  std::optional<SocketAddress> self_port_mapped;
};

struct Path {
  PunchOutcome outcome;
  Plan plan;
  // The socket of the path when it is not the main one (birthday listener side); empty otherwise.
  std::optional<asio::ip::udp::socket> own_socket;
  std::uint64_t packets_sent = 0;
};

// Runs the plan for `info` over the client's socket (lent to the driver and given back).
asio::awaitable<Path> punch_path(RendezvousClient& client, const DeviceId& self, std::optional<NatBehavior> self_nat,
                                 SocketAddress self_mapped, const PeerInfo& info, const TraversalOptions& options);

// The socket a path uses: its own, or the client's main socket.
asio::ip::udp::socket& path_socket(Path& path, RendezvousClient& client);

}  // namespace natpunch
