#include "sim/runner.h"

#include <algorithm>
#include <unordered_map>

#include "server/socket_plan.h"
#include "wire/random_source.h"

namespace natpunch::sim {

namespace {
constexpr int kMaxTimersAtOneInstant = 10'000;
}

namespace {
ServerConfig with_sockets(ServerConfig c, const SocketAddress& address, std::optional<SocketAddress> alternate) {
  c.sockets = plan_sockets({address}, alternate);
  return c;
}
}  // namespace

SimServer::SimServer(Network& net, ServerConfig config, std::uint64_t seed, SocketAddress address,
                     std::optional<SocketAddress> alternate)
    : net_(net),
      address_(address),
      config_(with_sockets(std::move(config), address, alternate)) {
  handler_.emplace(config_, seeded_random(seed));
  std::unordered_map<std::uint32_t, HostId> hosts;  // one host per server IP
  for (const auto& role : plan_sockets({address}, alternate)) {
    const auto& ip = role.address.ip;
    auto key = (std::uint32_t{ip[0]} << 24) | (std::uint32_t{ip[1]} << 16) | (std::uint32_t{ip[2]} << 8) | ip[3];
    auto h = hosts.find(key);
    if (h == hosts.end()) h = hosts.emplace(key, net.add_public_host({ip[0], ip[1], ip[2], ip[3]})).first;
    sockets_.push_back(*net.bind(h->second, role.address.port));
  }
}

void SimServer::restart(std::uint64_t seed) {
  handler_.reset();
  handler_.emplace(config_, seeded_random(seed));
}

void SimServer::on_arrival(const Arrival& a, std::size_t socket_index) {
  if (down_) return;
  for (auto& r : handler_->handle(Datagram{a.bytes, a.from, static_cast<std::uint8_t>(socket_index)}, net_.now()))
    if (r.socket < sockets_.size()) net_.send(sockets_[r.socket], r.destination, std::move(r.bytes));
}

Runner::Runner(Network& net, SimServer* server) : net_(net), server_(server) {
  if (!server_) return;
  for (std::size_t i = 0; i < server_->sockets().size(); ++i)
    own(server_->sockets()[i], kServer, static_cast<std::uint32_t>(i));
}

void Runner::own(SocketId s, std::uint32_t machine, std::uint32_t index) {
  if (owners_.size() <= s) owners_.resize(s + 1);
  owners_[s] = Owner{machine, index};
}

std::size_t Runner::add(DatagramMachine& m, SocketId main, TimePoint start_at) {
  std::vector<SocketId> sockets{main};
  auto host = net_.host_of(main);
  for (std::size_t i = 1; i < m.sockets_wanted(); ++i) {
    auto s = net_.bind(host);
    if (!s) break;  // out of ports: the machine's sends on the missing sockets count as bad_socket
    sockets.push_back(*s);
  }
  return add(m, std::move(sockets), start_at);
}

std::size_t Runner::add(DatagramMachine& m, std::vector<SocketId> sockets, TimePoint start_at) {
  auto index = static_cast<std::uint32_t>(machines_.size());
  Attached a;
  a.machine = &m;
  a.start_at = start_at;
  a.sockets = std::move(sockets);
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

void Runner::detach(std::size_t index) {
  auto& a = machines_[index];
  for (auto s : a.sockets)
    if (owners_[s].machine == index) owners_[s] = Owner{};
  a.machine = nullptr;
}

std::optional<TimePoint> Runner::wake_time(const Attached& a) const {
  if (!a.machine) return std::nullopt;
  if (!a.started) return a.start_at;
  if (a.machine->finished()) return std::nullopt;
  return a.machine->next_deadline();
}

bool Runner::all_finished() const {
  return std::all_of(machines_.begin(), machines_.end(),
                     [](const Attached& a) { return !a.machine || (a.started && a.machine->finished()); });
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
        server_->on_arrival(*arrival, o.socket_index);
      } else if (o.machine == kNobody) {
        inbox_.push_back(std::move(*arrival));
      } else {
        auto& a = machines_[o.machine];
        // A finished machine still hears datagrams (it may answer late ones, as the puncher does
        // for a peer that lost its confirms); it gets no more timers.
        if (a.started) {
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
