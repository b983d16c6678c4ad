// The NAT-PMP mapping keeper (src/portmap/natpmp_mapper.h) on a virtual clock, against answers
// laid out as RFC 6886 §3.2/§3.3 give them (and as miniupnpd sends them).
#include <gtest/gtest.h>

#include <array>

#include "portmap/natpmp_mapper.h"

namespace natpunch {
namespace {

using namespace std::chrono_literals;
using State = NatPmpMapper::State;

const TimePoint t0{};

NatPmpMapperConfig config() {
  NatPmpMapperConfig c;
  c.gateway = SocketAddress::v4({192, 168, 1, 1}, 5351);
  c.internal_port = 5000;  // 0x1388
  c.suggested_external = 40000;
  c.lifetime_s = 3600;
  return c;
}

// §3.2 answer: result, epoch, external address.
Bytes address_answer(std::uint16_t result = 0, std::array<std::uint8_t, 4> address = {203, 0, 113, 20}) {
  Bytes out;
  ByteWriter w(out);
  w.u8(0);
  w.u8(128);
  w.u16(result);
  w.u32(77);
  if (result == 0) {
    for (auto b : address) w.u8(b);
  }
  return out;
}

// §3.3 answer: result, epoch, internal port, mapped external port, lifetime.
Bytes map_answer(std::uint16_t result = 0, std::uint16_t external = 40001, std::uint32_t lifetime = 3600,
                 std::uint16_t internal = 5000) {
  Bytes out;
  ByteWriter w(out);
  w.u8(0);
  w.u8(129);
  w.u16(result);
  w.u32(78);
  if (result == 0) {
    w.u16(internal);
    w.u16(external);
    w.u32(lifetime);
  }
  return out;
}

// A mapper holding 203.0.113.20:40001 for 3600 s, mapped at `at`.
NatPmpMapper mapped(TimePoint at = t0) {
  NatPmpMapper m(config());
  m.start(at);
  m.on_datagram(address_answer(), at);
  m.on_datagram(map_answer(), at);
  return m;
}

TEST(NatPmpMapper, AsksTheAddressThenTheMappingAndDeletesOnClose) {
  NatPmpMapper m(config());
  auto out = m.start(t0);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(to_hex(out[0]), "0000");  // §3.2
  EXPECT_EQ(m.state(), State::AskingAddress);
  EXPECT_TRUE(m.requesting());

  out = m.on_datagram(address_answer(), t0 + 5ms);
  ASSERT_EQ(out.size(), 1u);
  // §3.3: UDP, internal 5000, suggested 40000, lifetime 3600.
  EXPECT_EQ(to_hex(out[0]),
            "00010000"
            "13889c40"
            "00000e10");
  EXPECT_EQ(m.state(), State::AskingMapping);
  EXPECT_FALSE(m.external());

  EXPECT_TRUE(m.on_datagram(map_answer(0, 40001, 1800), t0 + 10ms).empty());
  ASSERT_EQ(m.state(), State::Mapped);
  ASSERT_TRUE(m.external());
  EXPECT_EQ(m.external()->to_string(), "203.0.113.20:40001");
  EXPECT_EQ(m.lifetime_s(), 1800u);
  EXPECT_TRUE(m.error().empty());
  EXPECT_FALSE(m.requesting());

  out = m.close(t0 + 60s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(to_hex(out[0]),
            "00010000"
            "13880000"
            "00000000");  // §3.4: lifetime 0 deletes
  EXPECT_EQ(m.state(), State::Closed);
  EXPECT_TRUE(m.close(t0 + 61s).empty());  // once
  EXPECT_FALSE(m.next_deadline());
}

TEST(NatPmpMapper, RetransmitsAt250MsDoublingThenNoServer) {
  auto c = config();
  c.max_sends = 4;
  NatPmpMapper m(c);
  std::vector<TimePoint> sent;
  TimePoint t = t0;
  for (std::size_t i = 0; i < m.start(t).size(); ++i) sent.push_back(t);
  while (auto d = m.next_deadline()) {
    EXPECT_TRUE(m.on_timer(*d - 1ms).empty());  // nothing before the deadline
    t = *d;
    for (const auto& b : m.on_timer(t)) {
      EXPECT_EQ(to_hex(b), "0000");
      sent.push_back(t);
    }
  }
  EXPECT_EQ(sent, (std::vector<TimePoint>{t0, t0 + 250ms, t0 + 750ms, t0 + 1750ms}));
  EXPECT_EQ(t, t0 + 3750ms);  // given up one doubled interval after the last send
  EXPECT_EQ(m.state(), State::NoServer);
  EXPECT_EQ(m.error(), "no NAT-PMP server answered at 192.168.1.1:5351 after 4 requests");
}

// §3.1: "after sending its ninth attempt (and then waiting for 64 seconds)".
TEST(NatPmpMapper, TheDefaultScheduleIsTheRfcsNineSends) {
  NatPmpMapper m(config());
  int sends = static_cast<int>(m.start(t0).size());
  TimePoint t = t0;
  while (auto d = m.next_deadline()) {
    t = *d;
    sends += static_cast<int>(m.on_timer(t).size());
  }
  EXPECT_EQ(sends, 9);
  EXPECT_EQ(t, t0 + 63750ms + 64s);
  EXPECT_EQ(m.state(), State::NoServer);
}

TEST(NatPmpMapper, TheMappingRequestStartsItsOwnSchedule) {
  NatPmpMapper m(config());
  m.start(t0);
  m.on_timer(t0 + 250ms);
  m.on_timer(t0 + 750ms);
  auto out = m.on_datagram(address_answer(), t0 + 800ms);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(*m.next_deadline(), t0 + 1050ms);
  ASSERT_EQ(m.on_timer(t0 + 1050ms).size(), 1u);
  EXPECT_EQ(*m.next_deadline(), t0 + 1550ms);
  out = m.on_timer(t0 + 1550ms);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(to_hex(out[0]),
            "00010000"
            "13889c40"
            "00000e10");
}

TEST(NatPmpMapper, AnswersToAnotherOpcodeAreIgnoredAndCounted) {
  NatPmpMapper m(config());
  m.start(t0);
  EXPECT_TRUE(m.on_datagram(map_answer(), t0).empty());   // opcode 129 while asking with op 0
  EXPECT_TRUE(m.on_datagram(map_answer(2), t0).empty());  // even a refusal
  EXPECT_EQ(m.state(), State::AskingAddress);
  EXPECT_EQ(m.ignored(), 2);
  EXPECT_EQ(m.last_ignored(), "an answer to another request");
  m.on_datagram(address_answer(), t0 + 1ms);
  EXPECT_EQ(m.state(), State::AskingMapping);
  EXPECT_EQ(m.ignored(), 0);  // counted per request
}

TEST(NatPmpMapper, AnswersForAnotherInternalPortAreIgnored) {
  NatPmpMapper m(config());
  m.start(t0);
  m.on_datagram(address_answer(), t0);
  m.on_datagram(address_answer(), t0 + 2ms);  // a duplicate answer to the first request
  m.on_datagram(map_answer(0, 40001, 3600, /*internal=*/5001), t0 + 3ms);
  EXPECT_EQ(m.state(), State::AskingMapping);
  EXPECT_EQ(m.ignored(), 2);
  EXPECT_EQ(m.last_ignored(), "an answer to another request");
  m.on_datagram(map_answer(), t0 + 4ms);
  EXPECT_EQ(m.state(), State::Mapped);
  EXPECT_EQ(m.external()->port, 40001);
}

TEST(NatPmpMapper, MalformedDatagramsAreIgnored) {
  NatPmpMapper m(config());
  m.start(t0);
  struct Case {
    std::string_view hex;
    natpmp::NatPmpError error;
  };
  const Case cases[] = {
      {"", natpmp::NatPmpError::Truncated},
      {"0080", natpmp::NatPmpError::Truncated},
      {"00800000"
       "0000004d",
       natpmp::NatPmpError::Truncated},  // success without the address
      {"02800000"
       "0000004d"
       "cb007114",
       natpmp::NatPmpError::WrongVersion},
      {"0000", natpmp::NatPmpError::NotAResponse},  // our own request, echoed
      {"00820000"
       "0000004d"
       "cb007114",
       natpmp::NatPmpError::UnknownOpcode},
  };
  int n = 0;
  for (const auto& c : cases) {
    EXPECT_TRUE(m.on_datagram(*from_hex(c.hex), t0 + 1ms).empty()) << c.hex;
    EXPECT_EQ(m.state(), State::AskingAddress) << c.hex;
    EXPECT_EQ(m.ignored(), ++n);
    EXPECT_EQ(m.last_ignored(), natpmp::to_string(c.error)) << c.hex;
  }
  m.on_datagram(Bytes(1101, std::byte{0}), t0 + 1ms);
  EXPECT_EQ(m.last_ignored(), natpmp::to_string(natpmp::NatPmpError::Oversize));
  EXPECT_EQ(*m.next_deadline(), t0 + 250ms);  // the schedule is untouched
  m.on_datagram(address_answer(), t0 + 2ms);
  EXPECT_EQ(m.state(), State::AskingMapping);
}

TEST(NatPmpMapper, EachRefusalIsRefusedWithAReadableError) {
  for (std::uint16_t code : {1, 2, 3, 4, 5, 99}) {
    const auto text = "NAT-PMP: gateway 192.168.1.1:5351 refused: " +
                      std::string(natpmp::describe(static_cast<natpmp::ResultCode>(code))) + " (result code " +
                      std::to_string(code) + ")";
    NatPmpMapper a(config());  // refusing the external address
    a.start(t0);
    EXPECT_TRUE(a.on_datagram(address_answer(code), t0).empty());
    EXPECT_EQ(a.state(), State::Refused) << code;
    EXPECT_EQ(a.error(), text);
    EXPECT_FALSE(a.next_deadline());

    NatPmpMapper b(config());  // refusing the mapping (an error answer stops after the epoch)
    b.start(t0);
    b.on_datagram(address_answer(), t0);
    EXPECT_TRUE(b.on_datagram(map_answer(code), t0).empty());
    EXPECT_EQ(b.state(), State::Refused) << code;
    EXPECT_EQ(b.error(), text);
    EXPECT_FALSE(b.external());
  }
  NatPmpMapper m(config());
  m.start(t0);
  m.on_datagram(address_answer(2), t0);
  EXPECT_EQ(m.error(),
            "NAT-PMP: gateway 192.168.1.1:5351 refused: not authorized / refused (port mapping disabled on the "
            "gateway?) (result code 2)");
}

TEST(NatPmpMapper, NoExternalAddressOrNoPortOrNoLifetimeIsAnError) {
  NatPmpMapper a(config());
  a.start(t0);
  a.on_datagram(address_answer(0, {0, 0, 0, 0}), t0);
  EXPECT_EQ(a.state(), State::Failed);
  EXPECT_EQ(a.error(), "NAT-PMP: gateway 192.168.1.1:5351 has no external address (0.0.0.0)");

  for (auto [port, lifetime] : {std::pair<std::uint16_t, std::uint32_t>{0, 3600}, {40001, 0}}) {
    NatPmpMapper b(config());
    b.start(t0);
    b.on_datagram(address_answer(), t0);
    b.on_datagram(map_answer(0, port, lifetime), t0);
    EXPECT_EQ(b.state(), State::Failed);
    EXPECT_EQ(b.error(), "NAT-PMP: gateway 192.168.1.1:5351 answered with no port or no lifetime");
    EXPECT_FALSE(b.external());
  }
}

TEST(NatPmpMapper, ALifetimeOfZeroOnlyDeletesAndWaitsForTheAnswer) {
  auto c = config();
  c.lifetime_s = 0;
  NatPmpMapper m(c);
  auto out = m.start(t0);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(to_hex(out[0]),
            "00010000"
            "13880000"
            "00000000");  // §3.4: suggested port 0 too
  EXPECT_EQ(m.state(), State::Deleting);
  out = m.on_timer(t0 + 250ms);
  ASSERT_EQ(out.size(), 1u);                       // retransmitted like any request
  m.on_datagram(map_answer(0, 0, 0), t0 + 300ms);  // the answer to a delete has port 0, lifetime 0
  EXPECT_EQ(m.state(), State::Closed);
  EXPECT_TRUE(m.error().empty());

  NatPmpMapper refused(c);
  refused.start(t0);
  refused.on_datagram(map_answer(2), t0);
  EXPECT_EQ(refused.state(), State::Refused);

  c.max_sends = 2;
  NatPmpMapper silent(c);
  silent.start(t0);
  silent.on_timer(t0 + 250ms);
  silent.on_timer(t0 + 750ms);
  EXPECT_EQ(silent.state(), State::NoServer);
}

TEST(NatPmpMapper, RenewsAtHalfTheLifetimeSuggestingThePortItHolds) {
  auto m = mapped(t0);
  ASSERT_EQ(m.state(), State::Mapped);
  EXPECT_EQ(*m.next_deadline(), t0 + 1800s);
  EXPECT_TRUE(m.on_timer(t0 + 1799s).empty());
  auto out = m.on_timer(t0 + 1800s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(to_hex(out[0]),
            "00010000"
            "13889c41"
            "00000e10");  // suggests 40001
  EXPECT_EQ(*m.next_deadline(), t0 + 1800s + 250ms);
  m.on_datagram(map_answer(2), t0 + 1800s);  // a refused renewal keeps the mapping and tries again
  EXPECT_EQ(m.state(), State::Mapped);
  EXPECT_EQ(m.on_timer(t0 + 1800s + 250ms).size(), 1u);
  m.on_datagram(map_answer(0, 40002, 1200), t0 + 1801s);
  EXPECT_EQ(m.renewals(), 1);
  EXPECT_EQ(m.external()->to_string(), "203.0.113.20:40002");
  EXPECT_EQ(m.lifetime_s(), 1200u);
  EXPECT_EQ(*m.next_deadline(), t0 + 1801s + 600s);
}

TEST(NatPmpMapper, CloseDeletesOnlyWhatTheGatewayMayHaveMapped) {
  NatPmpMapper idle(config());
  EXPECT_TRUE(idle.close(t0).empty());

  NatPmpMapper asking_address(config());
  asking_address.start(t0);
  EXPECT_TRUE(asking_address.close(t0).empty());

  NatPmpMapper asking_mapping(config());  // its request may have been granted, the answer lost
  asking_mapping.start(t0);
  asking_mapping.on_datagram(address_answer(), t0);
  auto out = asking_mapping.close(t0);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(to_hex(out[0]),
            "00010000"
            "13880000"
            "00000000");

  for (auto* m : {&idle, &asking_address, &asking_mapping}) {
    EXPECT_EQ(m->state(), State::Closed);
    EXPECT_TRUE(m->start(t0).empty());
    EXPECT_TRUE(m->on_datagram(map_answer(), t0).empty());
  }
}

}  // namespace
}  // namespace natpunch
