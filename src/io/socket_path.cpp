#include "io/socket_path.h"

#include "io/endpoint.h"

namespace natpunch {

using asio::ip::udp;

SocketPath::SocketPath(udp::socket& socket) : socket_(socket), timer_(socket.get_executor()) {}

SocketAddress SocketPath::local() const {
  asio::error_code ec;
  return from_endpoint(socket_.local_endpoint(ec));
}

asio::awaitable<PathReceive> SocketPath::receive(TimePoint until) {
  PathReceive out;
  timer_.expires_at(until);
  auto r =
      co_await (socket_.async_receive_from(asio::buffer(buf_), from_, use_nothrow) || timer_.async_wait(use_nothrow));
  if (r.index() != 0) co_return out;  // Idle
  auto [ec, n] = std::get<0>(r);
  if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) {
    out.status = PathReceive::Status::Closed;  // the owner closed the socket: stopped
    co_return out;
  }
  if (ec) co_return out;  // e.g. an ICMP error from an earlier probe: not the session's business
  out.status = PathReceive::Status::Datagram;
  out.from = from_endpoint(from_);
  out.bytes = ByteView(buf_.data(), n);
  co_return out;
}

bool SocketPath::send(const SocketAddress& to, ByteView bytes) {
  asio::error_code ec;
  socket_.send_to(asio::buffer(bytes.data(), bytes.size()), to_endpoint(to), 0, ec);
  if (ec) ++send_errors_;
  return !ec;
}

}  // namespace natpunch
