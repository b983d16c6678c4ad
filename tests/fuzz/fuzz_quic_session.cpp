// libFuzzer target: the QUIC session engine (src/session) as the network sees it — ngtcp2's packet
// parser and GnuTLS's handshake parser behind QuicSession, plus natpunch's STUN/QUIC classifier.
// Input: up to 16 datagrams, each a 2-byte big-endian length and that many bytes. They are fed to a
// server session waiting for a client (the agent's side) and to a client session that has sent its
// Initial (the initiator's side), with the virtual clock advancing 50 ms between datagrams and the
// timers run. Invariants: no crash, no sanitizer report, and a closed session stays closed. Each
// datagram also goes through parse_quic_header (session/quic_header.h): its views stay inside it.
// Seeds: tests/fuzz/corpus/quic_session/ (make_session_seeds writes real handshake flights).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "session/quic_header.h"
#include "session/quic_path.h"
#include "session/quic_session.h"
#include "session_pair.h"
#include "wire/message.h"

namespace {

using namespace natpunch;

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
  // The invariant-header parser the device routes by: bounded, its views inside the datagram.
  for (const auto& d : datagrams) {
    for (std::size_t short_len : {std::size_t{0}, quic::kCidLength}) {
      auto h = parse_quic_header(d, short_len);
      if (!h) continue;
      auto inside = [&](ByteView v) { return v.empty() || (v.data() >= d.data() && v.data() + v.size() <= d.data() + d.size()); };
      if (!inside(h->dcid) || !inside(h->scid) || (!h->long_header && h->dcid.size() != short_len)) __builtin_trap();
    }
  }
  TimePoint now = fuzz::session_start();
  auto c = fuzz::session_config(SessionRole::Server);
  c.keepalive = std::chrono::milliseconds(0);
  if (auto server = fuzz::make_session(c, now)) feed(**server, datagrams, fuzz::client_address(), now);
  c = fuzz::session_config(SessionRole::Client);
  c.keepalive = std::chrono::milliseconds(0);
  if (auto client = fuzz::make_session(c, now)) {
    (*client)->start(now);
    feed(**client, datagrams, fuzz::server_address(), now);
  }
  return 0;
}
