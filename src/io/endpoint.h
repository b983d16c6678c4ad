// Conversions between Asio endpoints and the wire layer's SocketAddress, and name resolution.
#pragma once

#include <asio/ip/udp.hpp>
#include <string>
#include <string_view>

#include "wire/address.h"
#include "wire/result.h"

namespace natpunch {

asio::ip::udp::endpoint to_endpoint(const SocketAddress& a);
SocketAddress from_endpoint(const asio::ip::udp::endpoint& e);

// "HOST:PORT" or "[V6]:PORT" → endpoint; HOST may be a name (resolved once, first IPv4 or IPv6
// answer). Error text says what was wrong.
Result<asio::ip::udp::endpoint, std::string> resolve_host_port(asio::io_context& io, std::string_view text);

}  // namespace natpunch
