// Runs the rendezvous RequestHandler on real UDP sockets: one receive loop per listening socket,
// one housekeeping timer. Owns its sockets and timers; single-threaded on the caller's io_context.
#pragma once

#include <asio/ip/udp.hpp>
#include <asio/steady_timer.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "io/awaitable.h"
#include "server/request_handler.h"

namespace natpunch {

struct ServerRunOptions {
  std::chrono::milliseconds tick{1000};              // registry expiry sweep
  std::chrono::milliseconds stats_interval{0};       // 0 = never
  std::function<void(const ServerCounters&, std::size_t registrations)> on_stats;
  std::function<TimePoint()> clock = [] { return Clock::now(); };  // tests may shift time
};

class RendezvousServer {
 public:
  // Binds every listen address (port 0 = any), plus RFC 5780's three extra sockets when given an
  // alternate address (see plan_sockets). Error text names the address that failed.
  static Result<std::unique_ptr<RendezvousServer>, std::string> create(
      asio::io_context& io, const std::vector<SocketAddress>& listen, ServerConfig config,
      ServerRunOptions options, RandomSource random = system_random(),
      std::optional<SocketAddress> alternate = std::nullopt);

  std::vector<SocketAddress> local_addresses() const;
  void start();
  void stop();
  const RequestHandler& handler() const { return handler_; }

  RendezvousServer(asio::io_context& io, ServerConfig config, ServerRunOptions options, RandomSource random);

 private:
  asio::awaitable<void> receive_loop(std::size_t index);
  asio::awaitable<void> housekeeping();
  void send(const Reply& r);

  asio::io_context& io_;
  ServerRunOptions options_;
  RequestHandler handler_;
  std::vector<asio::ip::udp::socket> sockets_;
  asio::steady_timer timer_;
  TimePoint last_stats_{};
  bool stopped_ = false;
};

}  // namespace natpunch
