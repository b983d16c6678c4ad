// The direct path: a punched UDP socket the caller owns (the puncher's socket), borrowed for the
// session. Every datagram is handed up, STUN-framed ones included (the session runner sets late
// punch probes aside); an ICMP error from an earlier probe only wakes the caller (Idle).
#pragma once

#include <array>
#include <asio/ip/udp.hpp>
#include <asio/steady_timer.hpp>

#include "io/datagram_path.h"

namespace natpunch {

class SocketPath final : public DatagramPath {
 public:
  explicit SocketPath(asio::ip::udp::socket& socket);

  SocketAddress local() const override;
  asio::awaitable<PathReceive> receive(TimePoint until) override;
  bool send(const SocketAddress& to, ByteView bytes) override;
  void close() override {}  // the socket belongs to the caller
  asio::any_io_executor executor() override { return socket_.get_executor(); }

  std::uint64_t send_errors() const { return send_errors_; }

 private:
  asio::ip::udp::socket& socket_;
  asio::steady_timer timer_;
  std::array<std::byte, 2048> buf_{};
  asio::ip::udp::endpoint from_;
  std::uint64_t send_errors_ = 0;
};

}  // namespace natpunch
