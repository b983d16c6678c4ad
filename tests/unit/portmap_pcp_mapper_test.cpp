// The PCP mapping keeper (src/portmap/pcp_mapper.h) on a virtual clock, against answers built the
// way a gateway builds them.
#include <gtest/gtest.h>

#include "portmap/pcp_mapper.h"

namespace natpunch {
namespace {

using namespace std::chrono_literals;

PcpMapperConfig config() {
  PcpMapperConfig c;
  c.client = SocketAddress::v4({10, 0, 2, 2}, 0);
  c.internal_port = 5000;
  c.lifetime_s = 3600;
  for (std::size_t i = 0; i < c.nonce.size(); ++i) c.nonce[i] = std::byte(static_cast<std::uint8_t>(0xA0 + i));
  return c;
}

// The gateway's answer to `request` (a MAP request as sent): result, lifetime, epoch, external.
Bytes answer(const Bytes& request, std::uint8_t result, std::uint32_t lifetime, std::uint32_t epoch,
             std::uint16_t external_port = 40000, std::uint8_t version = 2) {
  Bytes out;
  ByteWriter w(out);
  w.u8(version);
  w.u8(0x81);
  w.u8(0);
  w.u8(result);
  w.u32(lifetime);
  w.u32(epoch);
  w.zeros(12);
  w.bytes(ByteView(request).subspan(24, 12));  // nonce
  w.bytes(ByteView(request).subspan(36, 6));   // protocol, reserved, internal port
  w.u16(external_port);
  w.zeros(10);
  w.u8(0xff);
  w.u8(0xff);
  for (std::uint8_t b : {203, 0, 113, 20}) w.u8(b);
  return out;
}

TEST(PcpMapper, MapsRenewsAtHalfTheLifetimeAndDeletesOnClose) {
  PcpMapper m(config());
  TimePoint t0{};
  auto req = m.start(t0);
  ASSERT_EQ(req.size(), 1u);
  EXPECT_EQ(m.state(), PcpMapper::State::Requesting);
  m.on_datagram(answer(req[0], 0, 1200, 1000), t0 + 10ms);
  ASSERT_EQ(m.state(), PcpMapper::State::Mapped);
  EXPECT_EQ(m.external()->to_string(), "203.0.113.20:40000");
  EXPECT_EQ(m.lifetime_s(), 1200u);
  ASSERT_TRUE(m.next_deadline());
  EXPECT_EQ(*m.next_deadline(), t0 + 10ms + 600s);
  auto renew = m.on_timer(t0 + 10ms + 600s);
  ASSERT_EQ(renew.size(), 1u);
  EXPECT_EQ(to_hex(renew[0]).substr(84, 4), "9c40");  // suggests the external port it holds
  m.on_datagram(answer(renew[0], 0, 1200, 1600), t0 + 600s + 20ms);
  EXPECT_EQ(m.renewals(), 1);
  auto del = m.close(t0 + 700s);
  ASSERT_EQ(del.size(), 1u);
  EXPECT_EQ(to_hex(del[0]).substr(8, 8), "00000000");  // lifetime 0 deletes (§15)
  EXPECT_EQ(m.state(), PcpMapper::State::Closed);
}

TEST(PcpMapper, ASilentGatewayMeansNoPcpServerAfterABoundedSchedule) {
  PcpMapper m(config());
  TimePoint t{};
  int sends = static_cast<int>(m.start(t).size());
  while (auto d = m.next_deadline()) {
    t = *d;
    sends += static_cast<int>(m.on_timer(t).size());
  }
  EXPECT_EQ(m.state(), PcpMapper::State::NoServer);
  EXPECT_EQ(sends, 4);
  EXPECT_EQ(t, TimePoint{} + 3750ms);  // 0, 250, 750, 1750; given up at 3750
}

TEST(PcpMapper, ANatPmpGatewayAndRefusalsAreReported) {
  PcpMapper a(config());
  auto req = a.start({});
  a.on_datagram(answer(req[0], 1, 0, 0, 0, /*version=*/0), {});
  EXPECT_EQ(a.state(), PcpMapper::State::NatPmpOnly);

  PcpMapper b(config());
  req = b.start({});
  b.on_datagram(answer(req[0], 2, 30, 0), {});
  EXPECT_EQ(b.state(), PcpMapper::State::Refused);
  EXPECT_NE(b.error().find("NOT_AUTHORIZED"), std::string::npos);
}

TEST(PcpMapper, AnswersForAnotherNonceAreIgnored) {
  PcpMapper m(config());
  auto req = m.start({});
  auto forged = answer(req[0], 0, 1200, 5);
  forged[24] = std::byte{0x00};
  m.on_datagram(forged, {});
  EXPECT_EQ(m.state(), PcpMapper::State::Requesting);
}

TEST(PcpMapper, AGatewayWhoseEpochWentBackIsAskedAgainAtOnce) {
  PcpMapper m(config());
  TimePoint t0{};
  auto req = m.start(t0);
  m.on_datagram(answer(req[0], 0, 1200, 5000), t0);
  auto renew = m.on_timer(t0 + 600s);
  ASSERT_EQ(renew.size(), 1u);
  // The gateway restarted 100 s ago: its epoch says 100 where 5600 was due.
  auto again = m.on_datagram(answer(renew[0], 0, 1200, 100), t0 + 600s);
  EXPECT_EQ(again.size(), 1u);
}

}  // namespace
}  // namespace natpunch

namespace natpunch {
namespace {

// A renewal from another process (or a caller's preference) suggests the port before one is
// assigned; once assigned, the assigned address is suggested instead (§11.2.1).
TEST(PcpMapper, SuggestsTheConfiguredExternalPortUntilOneIsAssigned) {
  auto c = config();
  SocketAddress wanted;
  wanted.port = 40004;
  c.suggested_external = wanted;
  PcpMapper m(c);
  TimePoint t0{};
  auto out = m.start(t0);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(to_hex(ByteView(out[0]).subspan(42, 2)), "9c44");  // suggested external port 40004
  EXPECT_EQ(to_hex(ByteView(out[0]).subspan(44, 16)), "00000000000000000000ffff00000000");
  m.on_datagram(answer(out[0], 0, 3600, 10, 40005), t0 + 10ms);
  ASSERT_EQ(m.state(), PcpMapper::State::Mapped);
  auto renewal = m.on_timer(t0 + 1801s);
  ASSERT_EQ(renewal.size(), 1u);
  EXPECT_EQ(to_hex(ByteView(renewal[0]).subspan(42, 2)), "9c45");  // the port it holds now
}

}  // namespace
}  // namespace natpunch
