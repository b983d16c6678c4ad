// libFuzzer target: what a TURN server (or anyone spoofing it) can send natpunch's TURN client:
// Allocate/Refresh/CreatePermission/ChannelBind answers, Data indications and ChannelData, in any
// order. Input: up to 16 datagrams, each a 2-byte big-endian length and its bytes; the client has
// sent its Allocate and (when a datagram allocates it) adds a peer and permits the IP of another
// (permit_ip: Data indications from any of its ports are delivered and get a channel). So that answers can reach the
// code behind the transaction check, a STUN-looking datagram gets the transaction ID of the
// client's latest request (and its FINGERPRINT, when it ends with one, recomputed): the seeds are
// real coturn answers captured by turn_interop_test (TURN_CAPTURE). Invariants: no crash, no
// sanitizer report, state only moves forward out of Allocating, and send() never throws.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "relay/turn_client.h"
#include "answer_rewrite.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace natpunch;
  TurnConfig c;
  c.server = SocketAddress::v4({127, 0, 0, 1}, 3478);
  c.credentials = {"1700000000:fuzz", "password"};
  TurnClient client(c);
  TimePoint now = TimePoint() + std::chrono::hours(1);
  Bytes last_request = client.start(now).at(0);
  auto remember = [&](std::vector<Bytes> out) {
    for (auto& b : out)
      if (b.size() >= 20 && (static_cast<std::uint8_t>(b[0]) & 0xC0) == 0) last_request = b;
  };
  const auto peer = SocketAddress::v4({127, 0, 0, 1}, 50000);
  const auto other_ip = SocketAddress::v4({127, 0, 0, 2}, 0);
  std::size_t i = 0, n = 0;
  while (i + 2 <= size && n++ < 16) {
    std::size_t len = (static_cast<std::size_t>(data[i]) << 8) | data[i + 1];
    i += 2;
    len = std::min(len, size - i);
    Bytes d(reinterpret_cast<const std::byte*>(data + i), reinterpret_cast<const std::byte*>(data + i + len));
    if (d.size() >= 20 && (static_cast<std::uint8_t>(d[0]) & 0xC0) == 0) {
      TransactionId t{};
      std::copy(last_request.begin() + 8, last_request.begin() + 20, t.begin());
      fuzz::answer_transaction(d, t);
    }
    remember(client.on_datagram(d, now));
    i += len;
    if (client.state() == TurnClient::State::Allocated) {
      remember(client.add_peer(peer, now));
      remember(client.permit_ip(other_ip, now));
      remember(client.bind_channel(SocketAddress::v4({127, 0, 0, 2}, 40000), now));
      (void)client.send(peer, ByteView(reinterpret_cast<const std::byte*>(data), std::min<std::size_t>(size, 64)));
      (void)client.send(SocketAddress::v4({127, 0, 0, 2}, static_cast<std::uint16_t>(size)),
                        ByteView(reinterpret_cast<const std::byte*>(data), std::min<std::size_t>(size, 64)));
      (void)client.ip_permission(other_ip);
    }
    client.take_received();
    now += std::chrono::seconds(7);
    if (auto t = client.next_deadline(); t && *t <= now) remember(client.on_timer(now));
  }
  client.close(now);
  if (client.state() != TurnClient::State::Closed) __builtin_trap();
  return 0;
}
