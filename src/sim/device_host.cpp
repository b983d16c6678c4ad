#include "sim/device_host.h"

#include <algorithm>
#include <type_traits>

namespace natpunch::sim {

namespace {
constexpr int kMaxStepsAtOneInstant = 10'000;
}

DeviceHost::DeviceHost(Runner& runner, SocketId main, DeviceMachine& machine)
    : runner_(runner), machine_(machine), host_(runner.network().host_of(main)) {
  sockets_[kMainSocket] = main;
}

void DeviceHost::start() {
  machine_.start(runner_.network().now());
  flush();
}

bool DeviceHost::on_arrival(const Arrival& a) {
  for (const auto& [handle, socket] : sockets_) {
    if (socket != a.to) continue;
    machine_.on_datagram(InDatagram{handle, a.from, a.bytes}, runner_.network().now());
    return true;
  }
  return false;
}

void DeviceHost::on_due_timer() {
  auto now = runner_.network().now();
  if (auto t = machine_.next_deadline(); t && *t <= now) machine_.on_timer(now);
}

void DeviceHost::flush() {
  auto& net = runner_.network();
  for (int round = 0; round < 1000; ++round) {
    auto commands = machine_.take_commands();
    auto datagrams = machine_.take_datagrams();
    auto events = machine_.take_events();
    if (commands.empty() && datagrams.empty() && events.empty()) break;
    for (auto& c : commands) {
      std::visit(
          [&](auto& cmd) {
            using T = std::decay_t<decltype(cmd)>;
            if constexpr (std::is_same_v<T, OpenSockets>) {
              std::vector<std::uint16_t> ports;
              for (std::size_t i = 0; i < cmd.count; ++i) {
                auto s = net.bind(host_);
                if (!s) break;
                sockets_[cmd.first + static_cast<SocketHandle>(i)] = *s;
                ports.push_back(net.local_address(*s).port);
              }
              if (ports.size() == cmd.count) machine_.on_sockets_opened(cmd.first, std::move(ports), net.now());
              else machine_.on_sockets_opened(cmd.first, fail(std::string("the simulated host is out of ports")), net.now());
            } else if constexpr (std::is_same_v<T, CloseSocket>) {
              if (cmd.socket != kMainSocket) sockets_.erase(cmd.socket);
            } else if constexpr (std::is_same_v<T, MapPort> || std::is_same_v<T, RenewPortMapping>) {
              if (!port_mapper_)
                machine_.on_port_mapped(fail(std::string("no router port mapping in the simulator")), net.now());
              else if (auto r = port_mapper_(std::is_same_v<T, RenewPortMapping>))
                machine_.on_port_mapped(std::move(*r), net.now());
            } else if constexpr (std::is_same_v<T, ReleasePortMapping>) {
              if (port_mapper_) port_mapper_(std::nullopt);
            }
          },
          c);
    }
    for (auto& d : datagrams) {
      auto s = sockets_.find(static_cast<SocketHandle>(d.socket));
      if (s == sockets_.end()) continue;  // a socket the machine closed or never had
      runner_.send(s->second, d.to, std::move(d.bytes));
      ++sent_;
    }
    for (auto& e : events) {
      events_.emplace_back(net.now(), std::move(e));
      if (on_event_) on_event_(events_.back().second);
    }
  }
  while (auto info = machine_.take_peer_info()) peer_infos_.push_back(std::move(*info));
}

bool run_devices(Runner& runner, const std::vector<DeviceHost*>& hosts, TimePoint limit,
                 const std::function<bool()>& done) {
  auto& net = runner.network();
  TimePoint last = net.now();
  int same = 0;
  for (;;) {
    for (auto* h : hosts) h->flush();
    if (done && done()) return true;
    if (net.now() >= limit || runner.stuck()) return false;
    if (net.now() == last) {
      if (++same > kMaxStepsAtOneInstant) return false;
    } else {
      last = net.now();
      same = 0;
    }
    auto next = limit;
    for (auto* h : hosts)
      if (auto t = h->next_deadline(); t && *t < next) next = std::max(*t, net.now());
    runner.run(next, [&] { return !runner.inbox().empty(); });
    for (auto& a : runner.inbox())
      for (auto* h : hosts)
        if (h->on_arrival(a)) break;
    runner.inbox().clear();
    for (auto* h : hosts) h->on_due_timer();
  }
}

}  // namespace natpunch::sim
