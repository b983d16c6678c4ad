#include "io/nat_discovery_runner.h"

#include "io/endpoint.h"
#include "io/machine_driver.h"
#include "nat/nat_discovery.h"
#include "wire/random_source.h"

namespace natpunch {

asio::awaitable<std::optional<NatBehavior>> discover_nat(RendezvousClient& client,
                                                          const std::vector<SocketAddress>& locals) {
  std::vector<asio::ip::udp::socket> sockets;
  auto local = client.socket().local_endpoint();
  auto& io = static_cast<asio::io_context&>(client.socket().get_executor().context());
  auto extra = open_extra_sockets(io, local, kNatDiscoverySockets - 1);
  if (!extra) co_return std::nullopt;
  sockets.push_back(client.take_socket());
  for (auto& s : *extra) sockets.push_back(std::move(s));

  NatDiscoveryConfig config;
  config.server = from_endpoint(client.server());
  config.local_addresses = locals;
  for (auto& s : sockets) config.local_ports.push_back(s.local_endpoint().port());
  config.random = system_random();
  NatDiscovery discovery(config);
  DriveOptions options;
  options.hard_limit = config.server_timeout + config.window * 3 + std::chrono::milliseconds(500);
  co_await drive(discovery, sockets, options);
  client.give_socket(std::move(sockets[0]));
  if (!discovery.finished() || !discovery.result().ok()) co_return std::nullopt;
  co_return registered_behavior(discovery.result());
}

}  // namespace natpunch
