#include "sim/runner.h"

#include <algorithm>

namespace natpunch::sim {

namespace {
constexpr int kMaxTimersAtOneInstant = 10'000;
}

SimServer::SimServer(Network& net, ServerConfig config, std::uint64_t seed, SocketAddress address)
    : net_(net),
      address_(address),
      handler_(std::move(config), [state = seed](std::span<std::byte> out) mutable {
        for (auto& b : out) {  // splitmix64: deterministic tokens and transaction IDs
          state += 0x9e3779b97f4a7c15ULL;
          std::uint64_t z = state;
          z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
          z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
          b = std::byte(static_cast<std::uint8_t>(z ^ (z >> 31)));
        }
      }) {
  auto host = net.add_public_host({address.ip[0], address.ip[1], address.ip[2], address.ip[3]});
  socket_ = *net.bind(host, address.port);
}

void SimServer::on_arrival(const Arrival& a) {
  for (auto& r : handler_.handle(Datagram{a.bytes, a.from, 0}, net_.now()))
    net_.send(socket_, r.destination, std::move(r.bytes));
}

Runner::Runner(Network& net, SimServer* server) : net_(net), server_(server) {
  if (server_) own(server_->socket(), kServer, 0);
}

void Runner::own(SocketId s, std::uint32_t machine, std::uint32_t index) {
  if (owners_.size() <= s) owners_.resize(s + 1);
  owners_[s] = Owner{machine, index};
}

std::size_t Runner::add(DatagramMachine& m, SocketId main, TimePoint start_at) {
  auto index = static_cast<std::uint32_t>(machines_.size());
  Attached a;
  a.machine = &m;
  a.start_at = start_at;
  a.sockets.push_back(main);
  auto host = net_.host_of(main);
  for (std::size_t i = 1; i < m.sockets_wanted(); ++i) {
    auto s = net_.bind(host);
    if (!s) break;  // out of ports: the machine's sends on the missing sockets count as bad_socket
    a.sockets.push_back(*s);
  }
  for (std::size_t i = 0; i < a.sockets.size(); ++i) own(a.sockets[i], index, static_cast<std::uint32_t>(i));
  machines_.push_back(std::move(a));
  return index;
}

void Runner::emit(Attached& a, std::vector<OutDatagram> out) {
  for (auto& d : out) {
    if (d.socket >= a.sockets.size()) {
      ++a.stats.bad_socket;
      continue;
    }
    ++a.stats.sent;
    net_.send(a.sockets[d.socket], d.to, std::move(d.bytes));
  }
}

std::optional<TimePoint> Runner::wake_time(const Attached& a) const {
  if (!a.started) return a.start_at;
  if (a.machine->finished()) return std::nullopt;
  return a.machine->next_deadline();
}

bool Runner::all_finished() const {
  return std::all_of(machines_.begin(), machines_.end(),
                     [](const Attached& a) { return a.started && a.machine->finished(); });
}

bool Runner::run(TimePoint limit, const std::function<bool()>& done) {
  auto finished = [&] { return done ? done() : all_finished(); };
  for (;;) {
    if (finished()) return true;
    if (stuck_) return false;
    // The earliest machine wake-up; datagrams due at or before it are delivered first.
    TimePoint wake = limit;
    bool any_wake = false;
    for (const auto& a : machines_)
      if (auto t = wake_time(a); t && *t <= wake) {
        wake = std::max(*t, net_.now());
        any_wake = true;
      }
    if (auto arrival = net_.next_arrival(wake)) {
      Owner o = owners_.size() > arrival->to ? owners_[arrival->to] : Owner{};
      if (o.machine == kServer) {
        server_->on_arrival(*arrival);
      } else if (o.machine == kNobody) {
        inbox_.push_back(std::move(*arrival));
      } else {
        auto& a = machines_[o.machine];
        if (a.started && !a.machine->finished()) {
          ++a.stats.received;
          InDatagram in{o.socket_index, arrival->from, arrival->bytes};
          emit(a, a.machine->on_datagram(in, net_.now()));
        }
      }
      continue;
    }
    if (!any_wake) return finished();  // reached the limit
    auto now = net_.now();
    for (auto& a : machines_) {
      auto t = wake_time(a);
      if (!t || *t > now) continue;
      if (!a.started) {
        a.started = true;
        emit(a, a.machine->start(now));
        continue;
      }
      ++a.stats.timer_calls;
      a.same_time_timers = a.last_timer == now ? a.same_time_timers + 1 : 0;
      a.last_timer = now;
      if (a.same_time_timers > kMaxTimersAtOneInstant) {
        stuck_ = true;
        return false;
      }
      emit(a, a.machine->on_timer(now));
    }
    if (now >= limit) return finished();
  }
}

}  // namespace natpunch::sim
