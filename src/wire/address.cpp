#include "wire/address.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace natpunch {

SocketAddress SocketAddress::v4(std::array<std::uint8_t, 4> a, std::uint16_t port) {
  SocketAddress s;
  s.family = Family::V4;
  std::memcpy(s.ip.data(), a.data(), 4);
  s.port = port;
  return s;
}

SocketAddress SocketAddress::v6(std::array<std::uint8_t, 16> a, std::uint16_t port) {
  SocketAddress s;
  s.family = Family::V6;
  s.ip = a;
  s.port = port;
  return s;
}

bool SocketAddress::same_ip(const SocketAddress& o) const {
  return family == o.family && std::memcmp(ip.data(), o.ip.data(), ip_size()) == 0;
}

bool SocketAddress::is_loopback() const {
  if (family == Family::V4) return ip[0] == 127;
  static constexpr std::array<std::uint8_t, 16> one{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return ip == one;
}

bool SocketAddress::is_unspecified() const {
  for (std::size_t i = 0; i < ip_size(); ++i)
    if (ip[i] != 0) return false;
  return true;
}

std::string SocketAddress::ip_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family == Family::V4 ? AF_INET : AF_INET6, ip.data(), buf, sizeof buf);
  return buf;
}

std::string SocketAddress::to_string() const {
  if (family == Family::V4) return ip_string() + ":" + std::to_string(port);
  return "[" + ip_string() + "]:" + std::to_string(port);
}

std::optional<SocketAddress> parse_ip(std::string_view text, std::uint16_t port) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  std::string s(text);
  SocketAddress a;
  a.port = port;
  if (inet_pton(AF_INET, s.c_str(), a.ip.data()) == 1) {
    a.family = Family::V4;
    return a;
  }
  if (inet_pton(AF_INET6, s.c_str(), a.ip.data()) == 1) {
    a.family = Family::V6;
    return a;
  }
  return std::nullopt;
}

std::optional<SocketAddress> parse_socket_address(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return std::nullopt;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  unsigned p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc{} || end != port.data() + port.size() || port.empty() || p > 65535)
    return std::nullopt;
  auto a = parse_ip(host, static_cast<std::uint16_t>(p));
  if (a && text.front() == '[' && a->family != Family::V6) return std::nullopt;
  if (a && text.front() != '[' && a->family != Family::V4) return std::nullopt;
  return a;
}

std::size_t SocketAddressHash::operator()(const SocketAddress& a) const noexcept {
  std::size_t h = static_cast<std::size_t>(a.family) * 1000003u ^ a.port;
  for (std::size_t i = 0; i < a.ip_size(); ++i) h = h * 131 + a.ip[i];
  return h;
}

}  // namespace natpunch
