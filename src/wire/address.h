// An IP address and UDP port as natpunch's wire layer sees them: no sockets, no resolver.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace natpunch {

enum class Family : std::uint8_t { V4 = 1, V6 = 2 };  // values as in STUN's address family byte

struct SocketAddress {
  Family family = Family::V4;
  std::array<std::uint8_t, 16> ip{};  // V4 uses the first 4 bytes
  std::uint16_t port = 0;

  static SocketAddress v4(std::array<std::uint8_t, 4> a, std::uint16_t port);
  static SocketAddress v6(std::array<std::uint8_t, 16> a, std::uint16_t port);

  std::size_t ip_size() const { return family == Family::V4 ? 4 : 16; }
  bool same_ip(const SocketAddress& o) const;
  bool is_loopback() const;
  bool is_unspecified() const;

  // "1.2.3.4:5" or "[2001:db8::1]:5".
  std::string to_string() const;
  std::string ip_string() const;

  auto operator<=>(const SocketAddress&) const = default;
};

// Parses "IPv4:PORT", "[IPv6]:PORT" (numeric only). nullopt on anything else.
std::optional<SocketAddress> parse_socket_address(std::string_view text);
// Parses a numeric IPv4 or IPv6 address without a port.
std::optional<SocketAddress> parse_ip(std::string_view text, std::uint16_t port = 0);

struct SocketAddressHash {
  std::size_t operator()(const SocketAddress& a) const noexcept;
};

}  // namespace natpunch
