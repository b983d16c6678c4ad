#pragma once

#include <vector>

#include "wire/address.h"

namespace natpunch {
// The host's own unicast addresses (up, not loopback unless `include_loopback`), with `port`.
std::vector<SocketAddress> local_addresses(std::uint16_t port, bool include_loopback = false);
}  // namespace natpunch
