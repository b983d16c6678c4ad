#include "io/endpoint.h"

#include <asio/ip/udp.hpp>
#include <algorithm>
#include <charconv>
#include <cstring>

namespace natpunch {

asio::ip::udp::endpoint to_endpoint(const SocketAddress& a) {
  if (a.family == Family::V4) {
    asio::ip::address_v4::bytes_type b;
    std::memcpy(b.data(), a.ip.data(), 4);
    return {asio::ip::address_v4(b), a.port};
  }
  asio::ip::address_v6::bytes_type b;
  std::memcpy(b.data(), a.ip.data(), 16);
  return {asio::ip::address_v6(b), a.port};
}

SocketAddress from_endpoint(const asio::ip::udp::endpoint& e) {
  auto addr = e.address();
  if (addr.is_v6() && addr.to_v6().is_v4_mapped()) addr = asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6());
  if (addr.is_v4()) {
    auto b = addr.to_v4().to_bytes();
    return SocketAddress::v4({b[0], b[1], b[2], b[3]}, e.port());
  }
  auto b = addr.to_v6().to_bytes();
  std::array<std::uint8_t, 16> a{};
  std::memcpy(a.data(), b.data(), 16);
  return SocketAddress::v6(a, e.port());
}

Result<std::vector<asio::ip::udp::endpoint>, std::string> resolve_host_port_all(asio::io_context& io,
                                                                                 std::string_view text) {
  if (auto numeric = parse_socket_address(text)) return std::vector<asio::ip::udp::endpoint>{to_endpoint(*numeric)};
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0)
    return fail(std::string("expected HOST:PORT, got '") + std::string(text) + "'");
  std::string host(text.substr(0, colon));
  std::string port(text.substr(colon + 1));
  unsigned p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc{} || end != port.data() + port.size() || port.empty() || p > 65535)
    return fail("bad port '" + port + "' in '" + std::string(text) + "'");
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  asio::ip::udp::resolver resolver(io);
  asio::error_code err;
  auto results = resolver.resolve(host, port, err);
  if (err || results.empty()) return fail("cannot resolve '" + host + "': " + err.message());
  std::vector<asio::ip::udp::endpoint> out;
  for (const auto& r : results)
    if (std::find(out.begin(), out.end(), r.endpoint()) == out.end()) out.push_back(r.endpoint());
  return out;
}

Result<asio::ip::udp::endpoint, std::string> resolve_host_port(asio::io_context& io, std::string_view text) {
  auto all = resolve_host_port_all(io, text);
  if (!all) return fail(all.error());
  return all->front();
}

}  // namespace natpunch
