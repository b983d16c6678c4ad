// libFuzzer target: what a rendezvous server (or anyone spoofing its address) can send a device's
// RendezvousClientMachine while a binding, a registration and a connect are in flight, with a key
// set (so peer-infos are checked against the nonce). Input: up to 16 datagrams, each a 2-byte
// big-endian length and its bytes. So that answers reach the code behind the transaction match, a
// STUN response gets the transaction ID of one of the machine's latest requests (chosen by its
// length) and its FINGERPRINT recomputed, when it ends with one: the seeds are the real request
// handler's answers (make_fuzz_seeds). The clock moves 150 ms per datagram. Invariants: no crash, no
// sanitizer report, never more than the three transactions in flight, each answered at most once,
// the peer-info queue bounded, and every datagram out goes to the server.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <set>
#include <vector>

#include "device/rendezvous_client_machine.h"
#include "answer_rewrite.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace natpunch;
  static const DeviceKey key = DeviceKey::from_seed(std::array<std::byte, kSeedSize>{});
  RendezvousClientConfig c;
  c.server = SocketAddress::v4({127, 0, 0, 1}, 3478);
  c.key = &key;
  c.max_peer_infos = 4;
  auto counter = std::make_shared<std::uint8_t>(0);
  c.random = [counter](std::span<std::byte> out) {
    for (auto& b : out) b = std::byte{++*counter};
  };
  RendezvousClientMachine m(c);
  TimePoint now = TimePoint() + std::chrono::hours(1);
  auto self = *make_device_id(IdKind::UserName, "fuzz-device");
  auto peer = *make_device_id(IdKind::UserName, "fuzz-peer");
  m.binding(now);
  m.register_device({self, {SocketAddress::v4({10, 0, 0, 2}, 4000)}, std::nullopt}, now);
  m.connect({self, peer}, now);
  std::vector<TransactionId> latest;
  std::set<std::uint32_t> answered;
  auto collect = [&] {
    for (auto& out : m.take_datagrams()) {
      if (out.to != c.server || out.bytes.size() < 20) std::abort();
      TransactionId t{};
      std::copy(out.bytes.begin() + 8, out.bytes.begin() + 20, t.begin());
      latest.push_back(t);
      if (latest.size() > 3) latest.erase(latest.begin());
    }
    for (auto& a : m.take_answers()) {
      if (a.txn < 1 || a.txn > 3 || !answered.insert(a.txn).second) std::abort();
      if (!a.result) (void)a.result.error().message();
    }
    if (m.in_flight() + answered.size() != 3) std::abort();
  };
  collect();
  std::size_t i = 0, n = 0;
  while (i + 2 <= size && n++ < 16) {
    std::size_t len = (static_cast<std::size_t>(data[i]) << 8) | data[i + 1];
    i += 2;
    len = std::min(len, size - i);
    Bytes d(reinterpret_cast<const std::byte*>(data + i), reinterpret_cast<const std::byte*>(data + i + len));
    i += len;
    auto type = d.size() >= 2 ? static_cast<std::uint16_t>(static_cast<unsigned>(d[0]) << 8 | static_cast<unsigned>(d[1]))
                              : std::uint16_t{0};
    auto cls = stun::class_of(type);
    if (d.size() >= 20 && (type & 0xC000) == 0 && !latest.empty() &&
        (cls == stun::MessageClass::Success || cls == stun::MessageClass::Error)) {
      fuzz::answer_transaction(d, latest[len % latest.size()]);
    }
    (void)m.on_datagram(d, c.server, now);
    collect();
    now += std::chrono::milliseconds(150);
    if (auto at = m.next_deadline(); at && *at <= now) m.on_timer(now);
    collect();
    (void)m.reintroduce(3, now);
    collect();
  }
  int kept = 0;
  while (m.take_peer_info()) ++kept;
  if (kept > 4) std::abort();
  return 0;
}
