// Which sockets a rendezvous server opens: one per listen address, and for the first listen
// address of the alternate's family the three more that RFC 5780 needs (primary IP + alternate
// port, alternate IP + primary port, alternate IP + alternate port).
#pragma once

#include <optional>
#include <vector>

#include "server/server_config.h"

namespace natpunch {

std::vector<SocketRole> plan_sockets(const std::vector<SocketAddress>& listen, std::optional<SocketAddress> alternate);

}  // namespace natpunch
