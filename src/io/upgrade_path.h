// A relayed session's two paths at once: the TURN relay it runs on, and the device's main socket,
// from which it keeps probing the peer's public mapping (and LAN addresses) for a direct path.
// When the peer acks a probe, the direct path works both ways: direct() names it, and the session
// is moved to it make-before-break (QuicSession::migrate: validated first, then switched; the relay
// carries everything until then). Datagrams of both come out of receive() with the local address
// they arrived at; send_from() picks the socket by the packet's local address.
//
// Two reader coroutines (one per socket) feed a bounded queue; stop() ends them (call it, and wait
// for it, before the paths go away).
#pragma once

#include <asio/ip/udp.hpp>
#include <asio/steady_timer.hpp>
#include <deque>
#include <optional>
#include <vector>

#include "io/relay_path.h"
#include "io/socket_path.h"
#include "wire/control_messages.h"

namespace natpunch {

struct DirectProbing {
  AttemptToken token{};                   // the relayed attempt's (the peer acks only that one)
  std::vector<SocketAddress> candidates;  // the peer's public mapping, then its LAN addresses
  std::chrono::milliseconds interval{500};
  std::uint32_t max_rounds = 120;  // a round probes every candidate once
};

class UpgradePath final : public DatagramPath {
 public:
  UpgradePath(RelayPath& relay, asio::ip::udp::socket& direct, DirectProbing probing);
  ~UpgradePath() override;
  UpgradePath(const UpgradePath&) = delete;
  UpgradePath& operator=(const UpgradePath&) = delete;

  SocketAddress local() const override { return relay_.local(); }
  asio::awaitable<PathReceive> receive(TimePoint until) override;
  bool send(const SocketAddress& to, ByteView bytes) override;
  bool send_from(const SocketAddress& from, const SocketAddress& to, ByteView bytes) override;
  void close() override;
  asio::any_io_executor executor() override { return relay_.executor(); }

  // The direct path once the peer acked a probe: our local address and the peer's.
  std::optional<std::pair<SocketAddress, SocketAddress>> direct() const;
  std::uint64_t probes_sent() const { return probes_sent_; }
  // The session moved to the direct path: nothing more leaves through the relay (an answer there,
  // e.g. to the peer's probe of the old path, would move the peer back), while what the relay still
  // delivers is taken (packets in flight when the path changed).
  void retire_relay() { relay_retired_ = true; }
  std::uint64_t dropped_on_retired_relay() const { return dropped_retired_; }
  // Ends the readers and the probing; returns once both readers are done.
  asio::awaitable<void> stop();

 private:
  struct Item {
    PathReceive::Status status;
    SocketAddress from, local;
    Bytes bytes;
    std::string why;
  };
  asio::awaitable<void> read_relay();
  asio::awaitable<void> read_direct();
  void push(Item item);
  void probe_round();

  RelayPath& relay_;
  SocketPath direct_;
  SocketAddress direct_local_;
  DirectProbing probing_;
  asio::steady_timer wakeup_;
  std::deque<Item> queue_;
  Item current_;
  std::optional<SocketAddress> acked_by_;
  std::vector<SocketAddress> seen_direct_;  // peers heard on the direct socket (answers go back there)
  std::uint32_t rounds_ = 0;
  TimePoint next_round_{};
  std::uint64_t probes_sent_ = 0;
  std::uint32_t sequence_ = 0;
  bool started_ = false;
  bool relay_retired_ = false;
  std::uint64_t dropped_retired_ = 0;
  bool stopping_ = false;
  int running_ = 0;
  static constexpr std::size_t kMaxQueued = 512;
};

}  // namespace natpunch
