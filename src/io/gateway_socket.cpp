#include "io/gateway_socket.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace natpunch {

namespace {
sockaddr_in to_sockaddr(const SocketAddress& a) {
  sockaddr_in s{};
  s.sin_family = AF_INET;
  s.sin_port = htons(a.port);
  std::memcpy(&s.sin_addr, a.ip.data(), 4);
  return s;
}
}  // namespace

Result<GatewaySocket, std::string> GatewaySocket::open(const SocketAddress& gateway) {
  if (gateway.family != Family::V4) return fail(std::string("the gateway must be an IPv4 address"));
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(std::string("socket: ") + std::strerror(errno));
  auto to = to_sockaddr(gateway);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0) {
    std::string e = "no route to the gateway " + gateway.ip_string() + ": " + std::strerror(errno);
    ::close(fd);
    return fail(e);
  }
  sockaddr_in me{};
  socklen_t len = sizeof me;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&me), &len);
  std::array<std::uint8_t, 4> ip{};
  std::memcpy(ip.data(), &me.sin_addr, 4);
  return GatewaySocket(fd, SocketAddress::v4(ip, ntohs(me.sin_port)), gateway);
}

GatewaySocket::~GatewaySocket() {
  if (fd_ >= 0) ::close(fd_);
}

std::optional<std::string> GatewaySocket::send(ByteView d) {
  if (::send(fd_, d.data(), d.size(), 0) == static_cast<ssize_t>(d.size())) return std::nullopt;
  // A previous datagram's ICMP error is reported on the next call; the send itself may go through.
  if (errno == ECONNREFUSED && ::send(fd_, d.data(), d.size(), 0) == static_cast<ssize_t>(d.size())) {
    return std::nullopt;
  }
  return std::string("send to ") + gateway_.to_string() + ": " + std::strerror(errno);
}

GatewaySocket::Received GatewaySocket::receive_until(TimePoint deadline) {
  for (;;) {
    auto now = Clock::now();
    if (now >= deadline) return {};
    auto wait = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
    pollfd p{fd_, POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(wait, 60'000)));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;  // the loop re-checks the deadline
    std::array<std::byte, 1500> buf{};
    auto got = ::recv(fd_, buf.data(), buf.size(), MSG_DONTWAIT | MSG_TRUNC);
    if (got < 0) {
      if (errno == ECONNREFUSED) return {std::nullopt, true};
      continue;  // EAGAIN and the like: wait again
    }
    auto size = std::min<std::size_t>(static_cast<std::size_t>(got), buf.size());
    return {Bytes(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(size)), false};
  }
}

}  // namespace natpunch
