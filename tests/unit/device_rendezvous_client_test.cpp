// device/RendezvousClientMachine on a virtual clock, against the real rendezvous request handler.
#include "device/rendezvous_client_machine.h"

#include <gtest/gtest.h>

#include <functional>

#include "server/request_handler.h"
#include "wire/address_codec.h"
#include "wire/builder.h"

namespace natpunch {
namespace {

using namespace std::chrono_literals;

SocketAddress addr(const char* s) { return *parse_socket_address(s); }
DeviceId id(const char* name) { return *make_device_id(IdKind::UserName, name); }

RandomSource counting_random(std::uint8_t start) {
  auto counter = std::make_shared<std::uint8_t>(start);
  return [counter](std::span<std::byte> out) {
    for (auto& b : out) b = std::byte{++*counter};
  };
}

// Devices (each a machine at a public address) and the server's request handler, joined by a
// network that can drop datagrams. Time moves only when run() says.
class ClientNet : public ::testing::Test {
 protected:
  struct Device {
    SocketAddress at;
    RendezvousClientMachine machine;
    std::vector<ClientAnswer> answers;
    std::vector<Bytes> stray;  // datagrams the machine did not take
  };

  ClientNet() : handler_(ServerConfig{}, counting_random(0)) {}

  Device& device(const char* at, const DeviceKey* key = nullptr) {
    RendezvousClientConfig c;
    c.server = server_;
    c.key = key;
    c.random = counting_random(static_cast<std::uint8_t>(17 * (devices_.size() + 1)));
    devices_.push_back(std::make_unique<Device>(Device{addr(at), RendezvousClientMachine(c), {}, {}}));
    return *devices_.back();
  }
  Device* at(const SocketAddress& a) {
    for (auto& d : devices_)
      if (d->at == a) return d.get();
    return nullptr;
  }
  // Moves datagrams until nothing moves and no deadline is due before `until`.
  void run(TimePoint until) {
    for (int guard = 0; guard < 100000; ++guard) {
      bool moved = false;
      for (auto& d : devices_) {
        for (auto& out : d->machine.take_datagrams()) {
          moved = true;
          EXPECT_EQ(out.to, server_);
          ++to_server_;
          if (drop_to_server_ && drop_to_server_(out.bytes)) continue;
          for (auto& r : handler_.handle(Datagram{out.bytes, d->at, 0}, now_)) {
            if (auto* to = at(r.destination)) {
              if (!to->machine.on_datagram(r.bytes, server_, now_)) to->stray.push_back(r.bytes);
            }
          }
        }
        for (auto& a : d->machine.take_answers()) d->answers.push_back(std::move(a));
      }
      if (moved) continue;
      std::optional<TimePoint> next;
      for (auto& d : devices_)
        if (auto t = d->machine.next_deadline(); t && (!next || *t < *next)) next = t;
      if (!next || *next > until) break;
      now_ = std::max(now_, *next);
      for (auto& d : devices_)
        if (auto t = d->machine.next_deadline(); t && *t <= now_) d->machine.on_timer(now_);
    }
    now_ = std::max(now_, until);
  }
  static const ClientAnswer* answer(const Device& d, RendezvousClientMachine::Txn txn) {
    for (const auto& a : d.answers)
      if (a.txn == txn) return &a;
    return nullptr;
  }
  void register_now(Device& d, const char* name) {
    auto txn = d.machine.register_device({id(name), {}, std::nullopt}, now_);
    run(now_ + 1s);
    ASSERT_NE(answer(d, txn), nullptr);
    ASSERT_TRUE(answer(d, txn)->result) << answer(d, txn)->result.error().message();
  }

  SocketAddress server_ = addr("192.0.2.1:3478");
  TimePoint now_{std::chrono::seconds(100)};
  RequestHandler handler_;
  std::vector<std::unique_ptr<Device>> devices_;
  std::function<bool(const Bytes&)> drop_to_server_;
  int to_server_ = 0;
};

TEST_F(ClientNet, BindingAnswersWithThePublicAddress) {
  auto& d = device("198.51.100.7:40000");
  auto txn = d.machine.binding(now_);
  run(now_ + 1s);
  const auto* a = answer(d, txn);
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(a->result);
  EXPECT_EQ(std::get<SocketAddress>(*a->result), d.at);
  EXPECT_EQ(a->sends, 1);
}

TEST_F(ClientNet, AFirstRegistrationGoesTwiceThenOnce) {
  auto& d = device("198.51.100.7:40000");
  auto first = d.machine.register_device({id("lamp"), {}, std::nullopt}, now_);
  run(now_ + 1s);
  ASSERT_TRUE(answer(d, first) && answer(d, first)->result);
  EXPECT_EQ(std::get<RegisterResponse>(*answer(d, first)->result).mapped, d.at);
  EXPECT_EQ(answer(d, first)->sends, 2) << "padded, then quoting the nonce";
  auto refresh = d.machine.register_device({id("lamp"), {}, std::nullopt}, now_);
  run(now_ + 1s);
  ASSERT_TRUE(answer(d, refresh) && answer(d, refresh)->result);
  EXPECT_EQ(answer(d, refresh)->sends, 1);
}

TEST_F(ClientNet, LostRequestsAreRetransmittedOnTheSchedule) {
  auto& d = device("198.51.100.7:40000");
  int dropped = 0;
  drop_to_server_ = [&](const Bytes&) { return dropped++ < 2; };
  auto start = now_;
  auto txn = d.machine.binding(now_);
  run(now_ + 10s);
  const auto* a = answer(d, txn);
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(a->result);
  EXPECT_EQ(a->sends, 3);
  // The default schedule: sends at 0, 250 and 750 ms.
  EXPECT_LT(a->rtt, 1ms);
  EXPECT_GE(now_ - start, 750ms);
}

TEST_F(ClientNet, ASilentServerEndsTheTransactionByItsDeadline) {
  auto& d = device("198.51.100.7:40000");
  drop_to_server_ = [](const Bytes&) { return true; };
  RetransmitPolicy p{100ms, 3, 4, 5000ms};
  auto start = now_;
  auto txn = d.machine.binding(now_, p);
  // Sends at 0, 100, 300 ms; then 4 RTO: it ends at 700 ms, not before.
  ASSERT_EQ(plan_retransmissions(p).give_up, 700ms);
  run(start + 699ms);
  EXPECT_EQ(answer(d, txn), nullptr);
  run(start + 700ms);
  const auto* a = answer(d, txn);
  ASSERT_NE(a, nullptr);
  ASSERT_FALSE(a->result);
  EXPECT_EQ(a->result.error().kind, ClientError::Kind::Timeout);
  EXPECT_EQ(a->sends, 3);
  EXPECT_EQ(to_server_, 3);
  EXPECT_FALSE(d.machine.next_deadline()) << "nothing left to wait for";
  EXPECT_FALSE(d.machine.pending(txn));
}

TEST_F(ClientNet, RegisterAndConnectInFlightAtOnceBothGetTheirAnswers) {
  auto& lamp = device("198.51.100.1:4000");
  auto& phone = device("198.51.100.2:5000");
  register_now(lamp, "lamp");
  register_now(phone, "phone");
  auto refresh = phone.machine.register_device({id("phone"), {}, std::nullopt}, now_);
  auto connect = phone.machine.connect({id("phone"), id("lamp")}, now_);
  EXPECT_EQ(phone.machine.in_flight(), 2u);
  run(now_ + 1s);
  ASSERT_TRUE(answer(phone, refresh) && answer(phone, refresh)->result);
  ASSERT_TRUE(answer(phone, connect) && answer(phone, connect)->result);
  const auto& info = std::get<PeerInfo>(*answer(phone, connect)->result);
  EXPECT_EQ(info.peer.value, "lamp");
  EXPECT_EQ(info.peer_mapped, lamp.at);
  auto told = lamp.machine.take_peer_info();
  ASSERT_TRUE(told);
  EXPECT_EQ(told->peer.value, "phone");
  EXPECT_EQ(told->token, info.token);
  EXPECT_FALSE(lamp.machine.take_peer_info());
}

// A fresh signing device registers and connects at once, before it knows any nonce: the connect's
// refusal carries the nonce the registration's answer already taught the machine, and the connect
// goes again quoting it (it did not quote it the first time).
TEST_F(ClientNet, AFreshSigningDeviceRegistersAndConnectsAtOnce) {
  auto key = DeviceKey::generate();
  auto& lamp = device("198.51.100.1:4000");
  auto& phone = device("198.51.100.2:5000", &key);
  register_now(lamp, "lamp");
  auto reg = phone.machine.register_device({id("phone"), {}, std::nullopt}, now_);
  auto connect = phone.machine.connect({id("phone"), id("lamp")}, now_);
  run(now_ + 2s);
  ASSERT_TRUE(answer(phone, reg) && answer(phone, reg)->result) << answer(phone, reg)->result.error().message();
  ASSERT_TRUE(answer(phone, connect));
  ASSERT_TRUE(answer(phone, connect)->result) << answer(phone, connect)->result.error().message();
  EXPECT_EQ(std::get<PeerInfo>(*answer(phone, connect)->result).peer.value, "lamp");
  EXPECT_TRUE(lamp.machine.take_peer_info());
}

TEST_F(ClientNet, ReintroduceResendsTheSameConnectAndThePeerIsToldAgain) {
  auto& lamp = device("198.51.100.1:4000");
  auto& phone = device("198.51.100.2:5000");
  register_now(lamp, "lamp");
  register_now(phone, "phone");
  auto connect = phone.machine.connect({id("phone"), id("lamp")}, now_);
  run(now_ + 1s);
  ASSERT_TRUE(answer(phone, connect) && answer(phone, connect)->result);
  ASSERT_TRUE(lamp.machine.take_peer_info());
  ASSERT_TRUE(phone.machine.reintroduce(connect, now_));
  auto again = phone.machine.take_datagrams();
  ASSERT_EQ(again.size(), 1u);
  auto m = parse_message(again[0].bytes);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->method(), stun::method::kConnect);
  for (auto& r : handler_.handle(Datagram{again[0].bytes, phone.at, 0}, now_))
    if (auto* to = at(r.destination)) to->machine.on_datagram(r.bytes, server_, now_);
  auto told = lamp.machine.take_peer_info();
  ASSERT_TRUE(told) << "the server re-sends the peer-info from its duplicate cache";
  EXPECT_EQ(told->peer.value, "phone");
  EXPECT_FALSE(phone.machine.reintroduce(connect + 100, now_)) << "an unknown transaction";
}

TEST_F(ClientNet, ASigningDeviceTakesOnlyPeerInfosItsNonceVouchesFor) {
  auto key = DeviceKey::generate();
  auto& lamp = device("198.51.100.1:4000", &key);
  auto& phone = device("198.51.100.2:5000");
  register_now(lamp, "lamp");
  register_now(phone, "phone");
  // A peer-info spoofed from the server's address: no nonce.
  PeerInfo forged;
  forged.peer = id("mallory");
  forged.peer_mapped = addr("203.0.113.66:6666");
  auto bytes = encode_peer_info(forged, stun::MessageClass::Indication, stun::method::kPeerInfo, TransactionId{});
  EXPECT_TRUE(lamp.machine.on_datagram(bytes, server_, now_));
  EXPECT_FALSE(lamp.machine.take_peer_info());
  EXPECT_EQ(lamp.machine.unauthenticated_peer_infos(), 1u);
  // The same from another address is not the machine's at all.
  EXPECT_FALSE(lamp.machine.on_datagram(bytes, addr("192.0.2.99:3478"), now_));
  // The real one, via the server, carries the lamp's nonce.
  auto connect = phone.machine.connect({id("phone"), id("lamp")}, now_);
  run(now_ + 1s);
  ASSERT_TRUE(answer(phone, connect) && answer(phone, connect)->result);
  auto told = lamp.machine.take_peer_info();
  ASSERT_TRUE(told);
  EXPECT_EQ(told->peer.value, "phone");
}

TEST_F(ClientNet, ThePeerInfoQueueIsBounded) {
  auto& lamp = device("198.51.100.1:4000");
  PeerInfo p;
  p.peer = id("someone");
  p.peer_mapped = addr("203.0.113.5:5000");
  auto bytes = encode_peer_info(p, stun::MessageClass::Indication, stun::method::kPeerInfo, TransactionId{});
  for (int i = 0; i < 70; ++i) EXPECT_TRUE(lamp.machine.on_datagram(bytes, server_, now_));
  EXPECT_EQ(lamp.machine.dropped_peer_infos(), 6u);
  int kept = 0;
  while (lamp.machine.take_peer_info()) ++kept;
  EXPECT_EQ(kept, 64);
}

TEST_F(ClientNet, AnswersToOtherTransactionsAreLeftToTheCaller) {
  auto& d = device("198.51.100.7:40000");
  auto txn = d.machine.binding(now_);
  auto sent = d.machine.take_datagrams();
  ASSERT_EQ(sent.size(), 1u);
  TransactionId other{};
  other[0] = std::byte{0x42};
  MessageBuilder b(stun::method::kBinding, stun::MessageClass::Success, other);
  EXPECT_FALSE(d.machine.on_datagram(b.finish(), server_, now_));
  EXPECT_FALSE(d.machine.on_datagram(ByteView{}, server_, now_));
  EXPECT_TRUE(d.machine.pending(txn));
}

TEST_F(ClientNet, AnotherServerEndsWhatWasPendingAtTheOldOne) {
  auto& d = device("198.51.100.7:40000");
  drop_to_server_ = [](const Bytes&) { return true; };
  auto txn = d.machine.register_device({id("lamp"), {}, std::nullopt}, now_);
  run(now_ + 100ms);
  d.machine.set_server(addr("192.0.2.2:3478"));
  auto answers = d.machine.take_answers();
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].txn, txn);
  EXPECT_EQ(answers[0].result.error().kind, ClientError::Kind::Timeout);
  EXPECT_FALSE(d.machine.next_deadline());
  d.machine.binding(now_);
  auto out = d.machine.take_datagrams();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].to, addr("192.0.2.2:3478"));
}

TEST_F(ClientNet, ARefusalIsARejectedAnswerWithTheServersReason) {
  auto& phone = device("198.51.100.2:5000");
  register_now(phone, "phone");
  auto txn = phone.machine.connect({id("phone"), id("nobody")}, now_);
  run(now_ + 1s);
  const auto* a = answer(phone, txn);
  ASSERT_NE(a, nullptr);
  ASSERT_FALSE(a->result);
  EXPECT_EQ(a->result.error().kind, ClientError::Kind::Rejected);
  EXPECT_EQ(a->result.error().code, stun::error_code::kUnknownPeer);
  EXPECT_EQ(a->sends, 1);
}

}  // namespace
}  // namespace natpunch
