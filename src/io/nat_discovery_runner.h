// Runs RFC 5780 NAT discovery over a rendezvous client's main socket (plus a few extra sockets),
// returning nullopt when the server offers no alternate address or does not answer.
#pragma once

#include <optional>
#include <vector>

#include "io/rendezvous_client.h"
#include "wire/nat_behavior.h"

namespace natpunch {

asio::awaitable<std::optional<NatBehavior>> discover_nat(RendezvousClient& client,
                                                          const std::vector<SocketAddress>& locals);

}  // namespace natpunch
