#include "io/device_loop.h"

#include <sys/resource.h>

#include <array>
#include <type_traits>

#include "io/endpoint.h"
#include "io/off_loop_job.h"

namespace natpunch {

using asio::ip::udp;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

std::size_t raise_file_limit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) != 0) return 1024;
  if (r.rlim_cur < r.rlim_max) {
    rlimit raised = r;
    raised.rlim_cur = r.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) r = raised;
  }
  return r.rlim_cur == RLIM_INFINITY ? std::size_t{1} << 20 : static_cast<std::size_t>(r.rlim_cur);
}

DeviceLoop::DeviceLoop(asio::io_context& io, DeviceMachine& machine, udp::socket& main, DeviceLoopOptions options)
    : io_(io), machine_(machine), main_(main), options_(std::move(options)), wake_(io) {}

DeviceLoop::~DeviceLoop() {
  for (auto& [h, s] : extra_) {
    asio::error_code ec;
    s->socket.close(ec);
  }
}

void DeviceLoop::stop() {
  if (stopping_) return;
  stopping_ = true;
  wake_.cancel();
}

asio::awaitable<void> DeviceLoop::run() {
  auto executor = co_await asio::this_coro::executor;
  asio::co_spawn(executor, receive_loop(kMainSocket, nullptr), asio::detached);
  machine_.start(steady_clock::now());
  pump();
  std::optional<TimePoint> linger_end;
  while (true) {
    auto now = steady_clock::now();
    if (options_.run_until && now >= *options_.run_until) stop();
    if (stopping_ && !machine_.stopped()) {
      machine_.stop(now);
      linger_end = now + options_.stop_linger;
      pump();
    }
    if (machine_.stopped() && (machine_.finished() || (linger_end && now >= *linger_end))) break;
    auto wake_at = machine_.next_deadline().value_or(now + std::chrono::hours(1));
    if (options_.run_until) wake_at = std::min(wake_at, *options_.run_until);
    if (linger_end) wake_at = std::min(wake_at, *linger_end);
    if (wake_at > now) {
      wake_.expires_at(wake_at);
      co_await wake_.async_wait(use_nothrow);  // cancelled early by a datagram, a job's end, stop()
    } else {
      // A deadline already due: handled below, after the sockets' handlers had their turn (a
      // machine whose deadline stays in the past must not starve them).
      co_await asio::post(executor, asio::use_awaitable);
    }
    now = steady_clock::now();
    if (auto d = machine_.next_deadline(); d && now >= *d) {
      machine_.on_timer(now);
      pump();
    }
  }
  ended_ = true;
  // The router's mapping goes with the device (bounded: each protocol's timeout).
  if (release_mapping_ && mapping_) {
    auto m = *mapping_;
    mapping_.reset();
    // A named local captured by reference: GCC 12 bitwise-copies a by-value capture's strings
    // out of a co_await operand's temporary (a double free seen under valgrind).
    co_await off_loop(executor, [&m] { return unmap(m); });
  }
  // The receive loops refer to the machine and the sockets: stop them before returning.
  asio::error_code ec;
  main_.cancel(ec);
  for (auto& [h, s] : extra_) s->socket.close(ec);
  while (receivers_ > 0 || jobs_ > 0) {
    wake_.expires_after(milliseconds(jobs_ > 0 ? 50 : 0));
    co_await wake_.async_wait(use_nothrow);
  }
}

// What the machine asked for: commands first (a socket it will send on), then datagrams, then
// events (whose callback may act on the machine again: then once more).
void DeviceLoop::pump() {
  for (int round = 0; round < 64; ++round) {
    // A socket the machine is done with closes after the datagrams it sent last (a relay's
    // deallocation goes out on the socket that then closes).
    auto commands = machine_.take_commands();
    for (auto& c : commands)
      if (!std::holds_alternative<CloseSocket>(c)) execute(c);
    auto datagrams = machine_.take_datagrams();
    for (auto& d : datagrams) {
      udp::socket* s = nullptr;
      if (d.socket == kMainSocket) s = &main_;
      else if (auto it = extra_.find(static_cast<SocketHandle>(d.socket)); it != extra_.end() && it->second->open)
        s = &it->second->socket;
      if (!s) continue;
      asio::error_code ec;
      s->send_to(asio::buffer(d.bytes), to_endpoint(d.to), 0, ec);  // a failed send is a lost datagram
      if (!ec) ++sent_;
    }
    for (auto& c : commands)
      if (std::holds_alternative<CloseSocket>(c)) execute(c);
    auto events = machine_.take_events();
    for (auto& e : events)
      if (options_.on_event) options_.on_event(e);
    if (commands.empty() && datagrams.empty() && events.empty()) break;
  }
  wake_.cancel();  // the deadline may have moved
}

void DeviceLoop::execute(DeviceCommand& command) {
  std::visit(
      [&](auto& c) {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, OpenSockets>) {
          open_sockets(c);
        } else if constexpr (std::is_same_v<T, CloseSocket>) {
          close_extra(c.socket);
        } else if constexpr (std::is_same_v<T, MapPort>) {
          auto req = options_.port_map;
          req.internal_port = c.internal_port;
          req.lifetime = c.lifetime;
          asio::co_spawn(io_, map_port(req), asio::detached);
        } else if constexpr (std::is_same_v<T, RenewPortMapping>) {
          asio::co_spawn(io_, renew_mapping(), asio::detached);
        } else if constexpr (std::is_same_v<T, ReleasePortMapping>) {
          release_mapping_ = true;
        }
      },
      command);
}

void DeviceLoop::open_sockets(const OpenSockets& c) {
  std::vector<std::uint16_t> ports;
  std::vector<std::pair<SocketHandle, std::shared_ptr<Socket>>> opened;
  asio::error_code ec;
  auto local = main_.local_endpoint(ec);
  std::string error;
  for (std::size_t i = 0; i < c.count && !ec; ++i) {
    auto s = std::make_shared<Socket>(Socket{udp::socket(io_)});
    s->socket.open(local.protocol(), ec);
    if (!ec) s->socket.bind(udp::endpoint(local.address(), 0), ec);
    if (ec) {
      error = "cannot open socket " + std::to_string(i + 1) + " of " + std::to_string(c.count) + ": " + ec.message();
      break;
    }
    ports.push_back(s->socket.local_endpoint().port());
    opened.emplace_back(c.first + static_cast<SocketHandle>(i), std::move(s));
  }
  if (ports.size() != c.count) {
    for (auto& [h, s] : opened) s->socket.close(ec);
    machine_.on_sockets_opened(c.first, fail(error.empty() ? std::string("cannot open sockets") : error),
                               steady_clock::now());
    return;
  }
  for (auto& [h, s] : opened) {
    extra_[h] = s;
    asio::co_spawn(io_, receive_loop(h, s), asio::detached);
  }
  machine_.on_sockets_opened(c.first, std::move(ports), steady_clock::now());
}

void DeviceLoop::close_extra(SocketHandle h) {
  auto it = extra_.find(h);
  if (it == extra_.end()) return;
  it->second->open = false;
  asio::error_code ec;
  it->second->socket.close(ec);
  extra_.erase(it);
}

asio::awaitable<void> DeviceLoop::receive_loop(SocketHandle h, std::shared_ptr<Socket> s) {
  ++receivers_;
  std::array<std::byte, 2048> buf{};
  udp::endpoint from;
  auto& socket = s ? s->socket : main_;
  while (!ended_ && (!s || s->open)) {
    auto [ec, n] = co_await socket.async_receive_from(asio::buffer(buf), from, use_nothrow);
    if (ended_ || ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) break;
    if (s && !s->open) break;
    if (ec) continue;  // ICMP errors surface here on Linux: not fatal
    machine_.on_datagram(InDatagram{h, from_endpoint(from), ByteView(buf.data(), n)}, steady_clock::now());
    pump();
  }
  --receivers_;
}

asio::awaitable<void> DeviceLoop::map_port(PortMapRequest req) {
  ++jobs_;
  auto r = co_await off_loop(io_.get_executor(), [&req] { return natpunch::map_port(req); });
  --jobs_;
  if (ended_) co_return;
  if (r) {
    mapping_ = *r;
    machine_.on_port_mapped(MappedPort{std::string(to_string(r->protocol)), r->external, r->lifetime},
                            steady_clock::now());
  } else {
    map_attempts_ = r.error();
    std::string note = "no port mapping:";
    for (const auto& a : r.error()) note += " " + std::string(to_string(a.protocol)) + ": " + a.error + ";";
    machine_.on_port_mapped(fail(std::move(note)), steady_clock::now());
  }
  pump();
}

asio::awaitable<void> DeviceLoop::renew_mapping() {
  if (!mapping_) {
    machine_.on_port_mapped(fail(std::string("no mapping to renew")), steady_clock::now());
    pump();
    co_return;
  }
  ++jobs_;
  auto m = *mapping_;
  auto r = co_await off_loop(io_.get_executor(), [&m] { return renew(m); });
  --jobs_;
  if (ended_) co_return;
  if (r) {
    mapping_ = m;
    machine_.on_port_mapped(MappedPort{std::string(to_string(m.protocol)), m.external, m.lifetime}, steady_clock::now());
  } else {
    mapping_.reset();
    machine_.on_port_mapped(fail(r.error()), steady_clock::now());
  }
  pump();
}

}  // namespace natpunch
