// libFuzzer target: DatagramRouter (device/datagram_router.h), the first code every datagram on a
// device's main socket meets. Input: up to 32 datagrams, each a 1-byte sender (bit 0: the server or
// a peer) and a 2-byte big-endian length, then its bytes. The router knows one server, one attempt
// (token of 0x01 bytes), one transaction and one connection ID (16 bytes of 0x5c), and expects a
// session from the peer. Invariants: no crash, no sanitizer report, a route names only what the
// router was told, and the drop counters count exactly the drops.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <numeric>

#include "device/datagram_router.h"
#include "session/quic_path.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace natpunch;
  const auto server = SocketAddress::v4({192, 0, 2, 1}, 3478);
  const auto peer = SocketAddress::v4({203, 0, 113, 9}, 40000);
  AttemptToken attempt{};
  attempt.fill(std::byte{0x01});
  TransactionId txn{};
  txn.fill(std::byte{0x22});
  Bytes cid(quic::kCidLength, std::byte{0x5c});
  DatagramRouter router(quic::kCidLength);
  router.set_servers({server});
  router.add_attempt(attempt);
  router.add_transaction(txn, 9u);
  router.add_connection_id(cid, 4);
  router.expect_session(peer, attempt);
  std::uint64_t dropped = 0;
  std::size_t i = 0, n = 0;
  while (i + 3 <= size && n++ < 32) {
    const bool from_server = data[i] & 1;
    std::size_t len = (static_cast<std::size_t>(data[i + 1]) << 8) | data[i + 2];
    i += 3;
    len = std::min(len, size - i);
    ByteView d(reinterpret_cast<const std::byte*>(data + i), len);
    i += len;
    auto r = router.route(d, from_server ? server : peer);
    switch (r.to) {
      case Route::To::Attempt:
      case Route::To::NewSession:
        if (r.attempt != attempt) std::abort();
        break;
      case Route::To::Owner:
        if (r.id != 9 || !from_server) std::abort();
        break;
      case Route::To::Session:
        if (r.id != 4) std::abort();
        break;
      case Route::To::Client:
        if (!from_server) std::abort();
        break;
      case Route::To::Drop:
        ++dropped;
        break;
    }
  }
  const auto& drops = router.drops();
  if (std::accumulate(drops.begin(), drops.end(), std::uint64_t{0}) != dropped) std::abort();
  return 0;
}
