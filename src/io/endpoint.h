// Conversions between Asio endpoints and the wire layer's SocketAddress, and name resolution.
#pragma once

#include <asio/ip/udp.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "wire/address.h"
#include "wire/result.h"

namespace natpunch {

asio::ip::udp::endpoint to_endpoint(const SocketAddress& a);
SocketAddress from_endpoint(const asio::ip::udp::endpoint& e);

// "HOST:PORT" or "[V6]:PORT" → endpoints; HOST may be a name: every address it resolves to (A and
// AAAA), in the resolver's order (RFC 6724), duplicates dropped. Error text says what was wrong.
Result<std::vector<asio::ip::udp::endpoint>, std::string> resolve_host_port_all(asio::io_context& io,
                                                                                 std::string_view text);
// The first of them.
Result<asio::ip::udp::endpoint, std::string> resolve_host_port(asio::io_context& io, std::string_view text);

}  // namespace natpunch
