#include "io/machine_loop.h"

#include <array>
#include <memory>

#include "io/endpoint.h"

namespace natpunch {

using asio::ip::udp;
using std::chrono::steady_clock;

namespace {

struct DriveState {
  DatagramMachine& machine;
  std::vector<udp::socket>& sockets;
  asio::steady_timer wake;
  MachineRunStats stats;
  bool stopping = false;
  int receivers = 0;

  void send_all(std::vector<OutDatagram> out) {
    for (auto& d : out) {
      if (d.socket >= sockets.size()) {
        ++stats.send_errors;
        continue;
      }
      asio::error_code ec;
      sockets[d.socket].send_to(asio::buffer(d.bytes), to_endpoint(d.to), 0, ec);
      if (ec) ++stats.send_errors;
      else ++stats.sent;
    }
  }
};

asio::awaitable<void> receive_loop(std::shared_ptr<DriveState> st, std::size_t index) {
  std::array<std::byte, 2048> buf{};
  udp::endpoint from;
  ++st->receivers;
  while (!st->stopping) {
    auto [ec, n] = co_await st->sockets[index].async_receive_from(asio::buffer(buf), from, use_nothrow);
    if (st->stopping || ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) break;
    if (ec) continue;  // ICMP errors surface here on Linux: not fatal
    ++st->stats.received;
    InDatagram d{index, from_endpoint(from), ByteView(buf.data(), n)};
    st->send_all(st->machine.on_datagram(d, steady_clock::now()));
    st->wake.cancel();  // the deadline may have moved
  }
  --st->receivers;
}

}  // namespace

asio::awaitable<MachineRunStats> run_machine(DatagramMachine& machine, std::vector<udp::socket>& sockets, MachineRunOptions options) {
  auto executor = co_await asio::this_coro::executor;
  auto st = std::make_shared<DriveState>(DriveState{machine, sockets, asio::steady_timer(executor), {}, false, 0});
  auto hard_end = steady_clock::now() + options.hard_limit;
  auto next_progress = steady_clock::now() + options.progress_every;

  st->send_all(machine.start(steady_clock::now()));
  for (std::size_t i = 0; i < sockets.size() && !machine.finished(); ++i)
    asio::co_spawn(executor, receive_loop(st, i), asio::detached);

  while (!machine.finished()) {
    auto now = steady_clock::now();
    if (now >= hard_end) {
      st->stats.timed_out = true;
      break;
    }
    auto wake_at = std::min(machine.next_deadline().value_or(hard_end), hard_end);
    if (options.on_progress) wake_at = std::min(wake_at, next_progress);
    if (wake_at > now) {
      st->wake.expires_at(wake_at);
      co_await st->wake.async_wait(use_nothrow);  // cancelled early when a datagram arrives
    }
    now = steady_clock::now();
    if (options.on_progress && now >= next_progress) {
      options.on_progress();
      next_progress = now + options.progress_every;
    }
    if (auto d = machine.next_deadline(); d && now >= *d && !machine.finished()) st->send_all(machine.on_timer(now));
  }

  // Stop the receive loops before returning: they refer to the machine and the sockets.
  st->stopping = true;
  for (auto& s : sockets) {
    asio::error_code ec;
    s.cancel(ec);
  }
  while (st->receivers > 0) {
    st->wake.expires_after(std::chrono::milliseconds(0));
    co_await st->wake.async_wait(use_nothrow);
  }
  co_return st->stats;
}

Result<std::vector<udp::socket>, std::string> open_extra_sockets(asio::io_context& io, const udp::endpoint& bind_ip,
                                                                 std::size_t count) {
  std::vector<udp::socket> out;
  out.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    udp::socket s(io);
    asio::error_code ec;
    s.open(bind_ip.protocol(), ec);
    if (!ec) s.bind(udp::endpoint(bind_ip.address(), 0), ec);
    if (ec) return fail("cannot open socket " + std::to_string(i + 1) + " of " + std::to_string(count) + ": " + ec.message());
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace natpunch
