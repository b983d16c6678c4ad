// libFuzzer target: a whole device (DeviceMachine: an open agent with a key, discovery off, at most
// two attempts) fed what the network can send it. Input: up to 24 frames, each a 2-byte big-endian
// length and its bytes, as fuzz_rendezvous_client's (its seeds, the real handler's answers, are this
// target's too). The length's upper bits, unused by any datagram, choose where a frame comes from:
// bits 12-13 the source (0-1 the server, 2 and 3 two other hosts), bits 14-15 the socket (0 the
// main one, else one of the extra sockets the machine opened). A STUN answer from the server gets
// the transaction ID of one of the machine's latest requests (answer_rewrite.h). The clock moves
// 150 ms per frame; due timers run; the driver opens the sockets asked for.
// Invariants: no crash, no sanitizer report; the machine sends only on sockets it has and has not
// closed; it sends only to the server, to hosts that sent it something, or to addresses the
// server's own peer-infos named (a peer can never make it send to a third party); the attempt and
// socket limits hold.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <set>
#include <type_traits>
#include <vector>

#include "answer_rewrite.h"
#include "device/device_machine.h"
#include "device/echo_app.h"

namespace {
using namespace natpunch;

std::array<std::uint8_t, 16> ip_of(const SocketAddress& a) { return a.ip; }
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const DeviceKey key = DeviceKey::from_seed(std::array<std::byte, kSeedSize>{});
  const auto server = SocketAddress::v4({127, 0, 0, 1}, 3478);
  const SocketAddress others[2] = {SocketAddress::v4({198, 51, 100, 7}, 5000), SocketAddress::v4({198, 51, 100, 8}, 6000)};
  DeviceConfig c;
  c.id = *make_device_id(IdKind::UserName, "fuzz-device");
  c.key = &key;
  c.server = server;
  c.main_local = SocketAddress::v4({10, 0, 0, 2}, 4000);
  c.local_addresses = {c.main_local};
  c.discover = false;
  c.admission.allow_any = true;
  c.max_attempts = 2;
  c.max_sockets = 600;
  auto counter = std::make_shared<std::uint8_t>(0);
  c.random = [counter](std::span<std::byte> out) {
    for (auto& b : out) b = std::byte{++*counter};
  };
  DeviceMachine m(c);
  EchoApp echo(m);  // the agent's application, so that sessions answer as the agent's do
  TimePoint now = TimePoint() + std::chrono::hours(1);
  std::set<SocketHandle> open{kMainSocket};
  std::set<std::array<std::uint8_t, 16>> allowed{ip_of(server)};
  std::vector<TransactionId> latest;
  std::uint16_t next_port = 50000;

  auto drive = [&] {
    for (int round = 0; round < 16; ++round) {
      auto commands = m.take_commands();
      for (auto& command : commands) {
        std::visit(
            [&](auto& cmd) {
              using T = std::decay_t<decltype(cmd)>;
              if constexpr (std::is_same_v<T, OpenSockets>) {
                std::vector<std::uint16_t> ports;
                for (std::size_t i = 0; i < cmd.count; ++i) {
                  open.insert(cmd.first + static_cast<SocketHandle>(i));
                  ports.push_back(next_port++);
                }
                m.on_sockets_opened(cmd.first, std::move(ports), now);
              } else if constexpr (std::is_same_v<T, CloseSocket>) {
                open.erase(cmd.socket);
              } else if constexpr (std::is_same_v<T, MapPort> || std::is_same_v<T, RenewPortMapping>) {
                m.on_port_mapped(fail(std::string("none")), now);
              }
            },
            command);
      }
      auto out = m.take_datagrams();
      for (auto& d : out) {
        if (!open.contains(static_cast<SocketHandle>(d.socket))) std::abort();  // a socket it does not have
        if (!allowed.contains(ip_of(d.to))) std::abort();                       // a third party
        if (d.socket == kMainSocket && d.to == server && d.bytes.size() >= 20) {
          TransactionId t{};
          std::copy(d.bytes.begin() + 8, d.bytes.begin() + 20, t.begin());
          latest.push_back(t);
          if (latest.size() > 4) latest.erase(latest.begin());
        }
      }
      auto events = m.take_events();
      for (const auto& e : events) echo.on_event(e, now);
      if (commands.empty() && out.empty() && events.empty()) break;
    }
    if (m.active_attempts() > c.max_attempts || m.sockets_in_use() > c.max_sockets) std::abort();
  };

  m.start(now);
  drive();
  std::size_t i = 0, n = 0;
  while (i + 2 <= size && n++ < 24) {
    auto header = static_cast<std::size_t>(data[i]) << 8 | data[i + 1];
    i += 2;
    std::size_t len = std::min<std::size_t>(header & 0x0FFF, size - i);
    Bytes d(reinterpret_cast<const std::byte*>(data + i), reinterpret_cast<const std::byte*>(data + i + len));
    i += len;
    auto source = (header >> 12) & 3;
    auto socket_pick = (header >> 14) & 3;
    SocketAddress from = source < 2 ? server : others[source - 2];
    if (source >= 2) allowed.insert(ip_of(from));  // it sent us something: answering it is fine
    SocketHandle socket = kMainSocket;
    if (socket_pick > 0 && open.size() > 1) {
      auto it = open.begin();
      std::advance(it, 1 + (socket_pick - 1) % (open.size() - 1));
      socket = *it;
    }
    if (from == server && d.size() >= 20) {
      auto type = static_cast<std::uint16_t>(static_cast<unsigned>(d[0]) << 8 | static_cast<unsigned>(d[1]));
      auto cls = stun::class_of(type);
      if ((type & 0xC000) == 0 && !latest.empty() &&
          (cls == stun::MessageClass::Success || cls == stun::MessageClass::Error))
        fuzz::answer_transaction(d, latest[len % latest.size()]);
      // The server's word about a peer: the device may send there.
      if (auto msg = parse_message(d))
        if (auto info = decode_peer_info(*msg)) {
          allowed.insert(ip_of(info->peer_mapped));
          for (const auto& l : info->peer_locals) allowed.insert(ip_of(l));
          if (info->peer_port_mapped) allowed.insert(ip_of(*info->peer_port_mapped));
          if (info->peer_relayed) allowed.insert(ip_of(*info->peer_relayed));
        }
    }
    m.on_datagram(InDatagram{socket, from, d}, now);
    drive();
    now += std::chrono::milliseconds(150);
    if (auto at = m.next_deadline(); at && *at <= now) m.on_timer(now);
    drive();
  }
  m.stop(now);
  drive();
  return 0;
}
