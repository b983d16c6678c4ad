// libFuzzer target: the QUIC session engine (src/session) as the network sees it — ngtcp2's packet
// parser and GnuTLS's handshake parser behind QuicSession, plus natpunch's STUN/QUIC classifier.
// Input: up to 16 datagrams, each a 2-byte big-endian length and that many bytes. They are fed to a
// server session waiting for a client (the agent's side) and to a client session that has sent its
// Initial (the initiator's side), with the virtual clock advancing 50 ms between datagrams and the
// timers run. Invariants: no crash, no sanitizer report, and a closed session stays closed.
// Seeds: tests/fuzz/corpus/quic_session/ (make_session_seeds writes real handshake flights).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "identity/device_key.h"
#include "session/quic_session.h"
#include "wire/message.h"

namespace {

using namespace natpunch;

const DeviceKey& key(std::uint8_t n) {
  static const DeviceKey a = [] {
    std::array<std::byte, kSeedSize> s{};
    s.fill(std::byte{1});
    return DeviceKey::from_seed(s);
  }();
  static const DeviceKey b = [] {
    std::array<std::byte, kSeedSize> s{};
    s.fill(std::byte{2});
    return DeviceKey::from_seed(s);
  }();
  return n == 0 ? a : b;
}

std::vector<ByteView> split(const std::uint8_t* data, std::size_t size) {
  std::vector<ByteView> out;
  std::size_t i = 0;
  while (i + 2 <= size && out.size() < 16) {
    std::size_t n = (static_cast<std::size_t>(data[i]) << 8) | data[i + 1];
    i += 2;
    n = std::min(n, size - i);
    out.emplace_back(reinterpret_cast<const std::byte*>(data + i), n);
    i += n;
  }
  return out;
}

void feed(QuicSession& s, const std::vector<ByteView>& datagrams, const SocketAddress& from, TimePoint now) {
  for (auto d : datagrams) {
    (void)looks_like_stun(d);
    bool was_closed = s.closed();
    s.on_datagram(d, from, now);
    if (was_closed && !s.closed()) __builtin_trap();
    now += std::chrono::milliseconds(50);
    if (auto t = s.next_deadline(); t && *t <= now) s.on_timer(now);
    s.flush(now);
    s.take_events();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto datagrams = split(data, size);
  const auto client_addr = SocketAddress::v4({198, 51, 100, 7}, 40000);
  const auto server_addr = SocketAddress::v4({203, 0, 113, 9}, 50000);
  TimePoint now = TimePoint() + std::chrono::hours(1);
  SessionConfig c;
  c.role = SessionRole::Server;
  c.local = server_addr;
  c.remote = client_addr;
  c.peer_key = key(0).public_key();
  c.keepalive = std::chrono::milliseconds(0);
  if (auto server = QuicSession::create(c, &key(1), now)) feed(**server, datagrams, client_addr, now);
  c.role = SessionRole::Client;
  c.local = client_addr;
  c.remote = server_addr;
  c.peer_key = key(1).public_key();
  if (auto client = QuicSession::create(c, &key(0), now)) {
    (*client)->start(now);
    feed(**client, datagrams, server_addr, now);
  }
  return 0;
}
