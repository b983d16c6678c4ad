#include "io/rendezvous_server.h"

#include <array>
#include <asio/ip/v6_only.hpp>

#include "io/awaitable.h"
#include "io/endpoint.h"
#include "server/socket_plan.h"

namespace natpunch {

using asio::ip::udp;

RendezvousServer::RendezvousServer(asio::io_context& io, ServerConfig config, ServerRunOptions options,
                                   RandomSource random)
    : io_(io), options_(std::move(options)), handler_(config, std::move(random)), timer_(io) {}

Result<std::unique_ptr<RendezvousServer>, std::string> RendezvousServer::create(
    asio::io_context& io, const std::vector<SocketAddress>& listen, ServerConfig config, ServerRunOptions options,
    RandomSource random, std::optional<SocketAddress> alternate) {
  if (listen.empty()) return fail(std::string("no listen address"));
  if (alternate && alternate->same_ip(listen.front()) && alternate->family == listen.front().family)
    return fail("the alternate address " + alternate->to_string() + " must differ in IP from the primary");
  auto roles = plan_sockets(listen, alternate);
  if (roles.size() > 255) return fail(std::string("too many listen addresses"));
  std::vector<udp::socket> sockets;
  for (std::size_t i = 0; i < roles.size(); ++i) {
    auto& role = roles[i];
    // Port 0 in a role that shares a port with an already-bound socket of its group: use that port.
    for (std::size_t j = 0; j < i && role.address.port == 0; ++j) {
      const auto& earlier = roles[j];
      if (earlier.group == role.group && earlier.alternate_port == role.alternate_port)
        role.address.port = earlier.address.port;
    }
    udp::socket s(io);
    asio::error_code ec;
    auto ep = to_endpoint(role.address);
    s.open(ep.protocol(), ec);
    if (!ec && ep.address().is_v6()) s.set_option(asio::ip::v6_only(true), ec);
    if (!ec) s.bind(ep, ec);
    if (!ec) s.non_blocking(true, ec);
    if (!ec) role.address = from_endpoint(s.local_endpoint(ec));
    if (ec) return fail("cannot listen on " + role.address.to_string() + ": " + ec.message());
    sockets.push_back(std::move(s));
  }
  config.sockets = roles;
  auto server = std::make_unique<RendezvousServer>(io, config, std::move(options), std::move(random));
  server->sockets_ = std::move(sockets);
  return server;
}

std::vector<SocketAddress> RendezvousServer::local_addresses() const {
  std::vector<SocketAddress> out;
  for (const auto& s : sockets_) {
    asio::error_code ec;
    auto ep = s.local_endpoint(ec);
    if (!ec) out.push_back(from_endpoint(ep));
  }
  return out;
}

void RendezvousServer::start() {
  last_stats_ = options_.clock();
  for (std::size_t i = 0; i < sockets_.size(); ++i) asio::co_spawn(io_, receive_loop(i), asio::detached);
  asio::co_spawn(io_, housekeeping(), asio::detached);
}

void RendezvousServer::stop() {
  if (stopped_) return;
  stopped_ = true;
  asio::error_code ec;
  for (auto& s : sockets_) s.close(ec);
  timer_.cancel();
  if (options_.on_stats) options_.on_stats(handler_.counters(), handler_.registry().size());
}

asio::awaitable<void> RendezvousServer::receive_loop(std::size_t index) {
  // Larger than any accepted message, so an oversize datagram is seen as oversize, not truncated.
  std::array<std::byte, 4096> buf{};
  udp::endpoint from;
  auto& socket = sockets_[index];
  while (!stopped_) {
    auto [ec, n] = co_await socket.async_receive_from(asio::buffer(buf), from, use_nothrow);
    if (stopped_ || ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) co_return;
    if (ec) continue;  // e.g. an ICMP error reported on the socket: not fatal for a UDP server
    Datagram d{ByteView(buf.data(), n), from_endpoint(from), static_cast<std::uint8_t>(index),
               std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count()};
    for (const auto& r : handler_.handle(d, options_.clock())) send(r);
  }
}

void RendezvousServer::send(const Reply& r) {
  if (r.socket >= sockets_.size()) return;
  asio::error_code ec;
  // Non-blocking: a full send buffer drops the reply (counted) rather than stalling the server.
  sockets_[r.socket].send_to(asio::buffer(r.bytes), to_endpoint(r.destination), 0, ec);
  if (ec) handler_.count_send_error();
}

asio::awaitable<void> RendezvousServer::housekeeping() {
  while (!stopped_) {
    timer_.expires_after(options_.tick);
    auto [ec] = co_await timer_.async_wait(use_nothrow);
    if (ec || stopped_) co_return;
    auto now = options_.clock();
    handler_.tick(now);
    if (options_.on_stats && options_.stats_interval.count() > 0 && now - last_stats_ >= options_.stats_interval) {
      last_stats_ = now;
      options_.on_stats(handler_.counters(), handler_.registry().size());
    }
  }
}

}  // namespace natpunch
