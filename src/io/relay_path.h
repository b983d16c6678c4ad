// The relayed path: a TURN allocation (RFC 8656) that carries the session when both NATs defeat
// punching. Owns its UDP socket to the TURN server (connected: only the server's datagrams reach
// it, and an ICMP refusal says "unreachable" at once), its timer and the TurnClient engine, and
// runs the engine's timers (allocation refresh, permission and channel refresh) whenever the
// session waits in receive(). What peers send (ChannelData, Data indications) comes out of
// receive() as if it had arrived from the peer's address; send() goes as ChannelData, or as a Send
// indication until the address has a channel (bound on first use). local() is the relayed
// address: the one peers send to and QUIC keeps as its side of the path.
//
// Use: allocate(config, deadline) → permit(peer IP, deadline) → run the session on it → close().
// One coroutine at a time calls allocate, permit or receive.
#pragma once

#include <array>
#include <asio/ip/udp.hpp>
#include <asio/steady_timer.hpp>
#include <deque>
#include <optional>

#include "io/datagram_path.h"
#include "relay/turn_client.h"
#include "wire/result.h"

namespace natpunch {

struct RelayPathStats {
  std::uint64_t sent = 0;           // datagrams to peers through the relay
  std::uint64_t received = 0;       // datagrams from peers delivered by receive()
  std::uint64_t dropped_out = 0;    // send() refused: no allocation, no permission, socket error
  std::uint64_t dropped_in = 0;     // peers' datagrams beyond the receive queue's bound
  std::uint64_t socket_errors = 0;  // receive errors on the socket to the TURN server
};

class RelayPath final : public DatagramPath {
 public:
  explicit RelayPath(asio::any_io_executor executor);
  ~RelayPath() override;
  RelayPath(const RelayPath&) = delete;
  RelayPath& operator=(const RelayPath&) = delete;

  // Opens the socket to config.server and allocates a relayed address, waiting until `deadline`.
  // The error says why not: the credentials refused (401 after the realm/nonce round), another
  // refusal (code and reason), no answer in time, the server unreachable, or a socket error.
  // Once per RelayPath.
  asio::awaitable<Result<SocketAddress, std::string>> allocate(TurnConfig config, TimePoint deadline);
  // Admits every address of `peer`'s IP (its port is ignored: a peer behind a symmetric NAT comes
  // from a port nobody can know in advance; TURN permissions are per IP, RFC 8656 §9) and waits
  // for the server's answer until `deadline`. Data from a new port of that IP then arrives through
  // receive() from that address, and a channel is bound for it.
  asio::awaitable<Result<bool, std::string>> permit(const SocketAddress& peer, TimePoint deadline);

  SocketAddress local() const override;  // the relayed address (unspecified before allocation)
  asio::awaitable<PathReceive> receive(TimePoint until) override;
  bool send(const SocketAddress& to, ByteView bytes) override;
  // Deletes the allocation (Refresh, LIFETIME 0) and closes the socket. Idempotent.
  void close() override;
  asio::any_io_executor executor() override { return socket_.get_executor(); }

  // The engine, for its state and addresses (relayed(), mapped(), lifetime(), channel_bound()).
  const TurnClient* turn() const { return turn_ ? &*turn_ : nullptr; }
  const RelayPathStats& stats() const { return stats_; }

  // Peers' datagrams kept while the session is busy; more are dropped (UDP: QUIC recovers).
  static constexpr std::size_t kMaxQueued = 256;

 private:
  // Waits once, until a datagram from the server or `until`, and runs the engine's due timers.
  asio::awaitable<void> wait_once(TimePoint until);
  void transmit(const std::vector<Bytes>& out);
  bool transmit_one(const Bytes& bytes);

  asio::ip::udp::socket socket_;
  asio::steady_timer timer_;
  std::optional<TurnClient> turn_;
  std::string server_;    // for messages
  bool refused_ = false;  // the server's host or port answered with an ICMP error
  bool closed_ = false;
  std::deque<RelayedDatagram> inbox_;
  RelayedDatagram current_;  // what the last receive() returned a view of
  std::array<std::byte, 2048> buf_{};
  RelayPathStats stats_;
};

}  // namespace natpunch
