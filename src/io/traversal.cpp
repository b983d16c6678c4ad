#include "io/traversal.h"

#include "device/punch_setup.h"
#include "io/endpoint.h"
#include "wire/random_source.h"

namespace natpunch {

using asio::ip::udp;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

asio::awaitable<Path> punch_path(RendezvousClient& client, const DeviceId& self, std::optional<NatBehavior> self_nat,
                                 SocketAddress self_mapped, const PeerInfo& info, const TraversalOptions& options) {
  Path path;
  SelfFacts me{self, self_nat, self_mapped, options.self_port_mapped, from_endpoint(client.server())};
  auto setup = punch_setup_for(me, info, options.tuning, options.method, random_u64(system_random()),
                               client.last_connect_request());
  path.plan = setup.plan;
  Puncher puncher(setup);

  std::vector<udp::socket> sockets;
  auto local = client.socket().local_endpoint();
  sockets.push_back(client.take_socket());
  if (puncher.sockets_wanted() > 1) {
    auto& io = static_cast<asio::io_context&>(sockets[0].get_executor().context());
    auto extra = open_extra_sockets(io, local, puncher.sockets_wanted() - 1);
    if (!extra) {
      client.give_socket(std::move(sockets[0]));
      path.outcome.error = extra.error();
      co_return path;
    }
    for (auto& s : *extra) sockets.push_back(std::move(s));
  }

  milliseconds budget{0};
  for (const auto& st : path.plan.steps) budget += st.budget;
  DriveOptions drive_options;
  drive_options.hard_limit = budget + milliseconds(2000);
  bool cut_by_deadline = false;
  if (options.deadline) {
    auto left = std::chrono::duration_cast<milliseconds>(*options.deadline - steady_clock::now());
    left = std::max(left, milliseconds(1));
    if (left < drive_options.hard_limit) {
      drive_options.hard_limit = left;
      cut_by_deadline = true;
    }
  }
  if (options.on_progress) drive_options.on_progress = [&] { options.on_progress(puncher.progress()); };
  auto stats = co_await drive(puncher, sockets, drive_options);

  path.outcome = puncher.outcome();
  path.packets_sent = stats.sent;
  if (!puncher.finished())
    path.outcome.error = cut_by_deadline ? "timed out (--timeout reached while punching)" : "timed out";
  if (path.outcome.ok && path.outcome.socket != 0 && path.outcome.socket < sockets.size())
    path.own_socket.emplace(std::move(sockets[path.outcome.socket]));
  client.give_socket(std::move(sockets[0]));
  co_return path;  // the other extra sockets close here: their mappings are no longer needed
}

udp::socket& path_socket(Path& path, RendezvousClient& client) {
  return path.own_socket ? *path.own_socket : client.socket();
}

}  // namespace natpunch
