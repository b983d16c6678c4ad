#include "io/nat_discovery_runner.h"

namespace natpunch {

asio::awaitable<std::optional<NatBehavior>> discover_nat(RendezvousClient&, const std::vector<SocketAddress>&) {
  co_return std::nullopt;  // replaced by the RFC 5780 engine (src/nat) once it lands
}

}  // namespace natpunch
