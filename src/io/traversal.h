// A device's traversal steps over real sockets: punch a path to a peer the server introduced
// (running the Puncher machine on the main socket plus any extra sockets it wants), then use the
// path: send a message and wait for its echo, or serve the path (echo, keepalive, idle timeout).
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

// Sends `text` as NP-PUNCH data on the path and waits for the peer's echo (retransmitting every
// 200 ms). Returns the echoed text, or an error.
asio::awaitable<Result<std::string, std::string>> exchange_message(asio::ip::udp::socket& socket,
                                                                   const SocketAddress& remote,
                                                                   const AttemptToken& token, std::string text,
                                                                   std::chrono::milliseconds timeout,
                                                                   std::uint64_t& packets_sent);

// Tells the peer the session is over (best effort, sent twice).
void send_close(asio::ip::udp::socket& socket, const SocketAddress& remote, const AttemptToken& token);

struct ServeStats {
  std::uint64_t messages = 0;
  std::string ended;  // "closed by peer", "idle timeout", "stopped"
};

// Echoes data on the path and keeps it alive until the peer closes it or it is idle too long.
asio::awaitable<ServeStats> serve_path(asio::ip::udp::socket& socket, const SocketAddress& remote,
                                       const AttemptToken& token, std::chrono::milliseconds keepalive,
                                       std::chrono::milliseconds idle_timeout,
                                       std::function<void(const std::string&)> on_message);

}  // namespace natpunch
