// device/ServiceSelector on a virtual clock: one Binding per address of a service, 250 ms apart,
// re-sent every 500 ms; the first real answer chooses; nothing else does; the limit keeps the first.
#include "device/service_selector.h"

#include <gtest/gtest.h>

#include "wire/builder.h"

namespace natpunch {
namespace {

using namespace std::chrono_literals;

const SocketAddress kV6 = *parse_socket_address("[2001:db8::1]:3478");
const SocketAddress kV4 = SocketAddress::v4({192, 0, 2, 1}, 3478);
const SocketAddress kV4b = SocketAddress::v4({192, 0, 2, 2}, 3478);

struct Sent {
  std::size_t candidate;
  TransactionId txid;
  TimePoint at;
};

class Selecting : public ::testing::Test {
 protected:
  void make(std::vector<SocketAddress> c) { s = std::make_unique<ServiceSelector>(c, now, seeded_random(3)); }
  // Runs the selector's clock until `until` (or it is done), recording what it sends.
  void run_until(TimePoint until) {
    collect();
    while (!s->done()) {
      auto d = s->next_deadline();
      ASSERT_TRUE(d);
      if (*d > until) break;
      now = std::max(now, *d);
      s->on_timer(now);
      collect();
    }
    now = std::max(now, until);
  }
  void collect() {
    for (auto& o : s->take_datagrams()) {
      ParseLimits limits;
      auto m = parse_message(o.bytes, limits);
      ASSERT_TRUE(m);
      EXPECT_EQ(m->method(), stun::method::kBinding);
      EXPECT_EQ(m->cls(), stun::MessageClass::Request);
      sent.push_back({o.candidate, m->transaction, now});
    }
  }
  Bytes answer(const TransactionId& txid, stun::MessageClass cls = stun::MessageClass::Success,
               std::uint16_t method = stun::method::kBinding) {
    MessageBuilder b(method, cls, txid);
    if (cls == stun::MessageClass::Error) b.add_error(400, "Bad Request");
    return b.finish();
  }
  const Sent* first_to(std::size_t k) const {
    for (const auto& x : sent)
      if (x.candidate == k) return &x;
    return nullptr;
  }

  TimePoint now = TimePoint() + 1h;
  std::unique_ptr<ServiceSelector> s;
  std::vector<Sent> sent;
};

TEST_F(Selecting, OneAddressIsChosenAtOnceWithoutAPacket) {
  make({kV4});
  EXPECT_TRUE(s->done());
  EXPECT_EQ(s->chosen(), 0u);
  EXPECT_FALSE(s->answered());
  EXPECT_TRUE(s->take_datagrams().empty());
  EXPECT_FALSE(s->next_deadline());
}

TEST_F(Selecting, TheAddressesAreAskedAQuarterSecondApartAndAgainEveryHalfSecond) {
  make({kV6, kV4, kV4b});
  auto t0 = now;
  run_until(t0 + 1s);
  ASSERT_NE(first_to(0), nullptr);
  ASSERT_NE(first_to(1), nullptr);
  ASSERT_NE(first_to(2), nullptr);
  EXPECT_EQ(first_to(0)->at, t0);
  EXPECT_EQ(first_to(1)->at, t0 + 250ms);
  EXPECT_EQ(first_to(2)->at, t0 + 500ms);
  int to0 = 0;
  for (const auto& x : sent) to0 += x.candidate == 0;
  EXPECT_EQ(to0, 3);  // at 0, 500 and 1000 ms
  // Each address has its own transaction, the same on every re-send.
  EXPECT_NE(first_to(0)->txid, first_to(1)->txid);
  for (const auto& x : sent) EXPECT_EQ(x.txid, first_to(x.candidate)->txid);
}

TEST_F(Selecting, TheFirstRealAnswerChoosesItsAddress) {
  make({kV6, kV4});
  run_until(now + 300ms);
  auto txid4 = first_to(1)->txid;
  auto txid6 = first_to(0)->txid;
  // Not an answer: from another address, another transaction, an error, another method, garbage.
  s->on_datagram(kV4b, answer(txid4), now);
  s->on_datagram(kV4, answer(txid6), now);
  s->on_datagram(kV4, answer(txid4, stun::MessageClass::Error), now);
  s->on_datagram(kV4, answer(txid4, stun::MessageClass::Success, 0x003), now);
  auto junk = *from_hex("0101000c2112a442");
  s->on_datagram(kV4, junk, now);
  EXPECT_FALSE(s->done());
  s->on_datagram(kV4, answer(txid4), now);
  ASSERT_TRUE(s->done());
  EXPECT_EQ(s->chosen(), 1u);
  EXPECT_TRUE(s->answered());
  // Later answers change nothing.
  s->on_datagram(kV6, answer(txid6), now);
  EXPECT_EQ(s->chosen(), 1u);
  EXPECT_FALSE(s->next_deadline());
}

TEST_F(Selecting, AnAnswerFromAnAddressNotYetAskedIsIgnored) {
  make({kV6, kV4});
  // Nothing went to kV4 yet; an answer guessing a transaction cannot choose it.
  TransactionId guess{};
  s->on_datagram(kV4, answer(guess), now);
  EXPECT_FALSE(s->done());
}

TEST_F(Selecting, WithNoAnswerByTheLimitTheFirstAddressIsKept) {
  make({kV6, kV4});
  auto t0 = now;
  run_until(t0 + 10s);
  ASSERT_TRUE(s->done());
  EXPECT_EQ(s->chosen(), 0u);
  EXPECT_FALSE(s->answered());
  EXPECT_LE(now, t0 + 10s);
  EXPECT_LE(sent.size(), 8u);  // 2 s: 4 to the first, 4 to the second (from 250 ms)
  for (const auto& x : sent) EXPECT_LT(x.at, t0 + 2s);
}

TEST_F(Selecting, AtMostEightAddressesAreTried) {
  std::vector<SocketAddress> many;
  for (std::uint8_t i = 1; i <= 20; ++i) many.push_back(SocketAddress::v4({192, 0, 2, i}, 3478));
  make(many);
  EXPECT_EQ(s->candidates().size(), ServiceSelector::kMaxCandidates);
}

}  // namespace
}  // namespace natpunch
