// The plan with router port mappings (issue 7): a mapping on either side makes the PortMapped step
// the first one after Direct and lifts the "hopeless" verdict of two symmetric NATs; the
// Puncher's PortMapped step probes the peer's mapping first.
#include <gtest/gtest.h>

#include "punch/plan.h"
#include "punch/puncher.h"
#include "wire/punch_packet.h"

namespace natpunch {
namespace {

SocketAddress addr(const char* s) { return *parse_socket_address(s); }

NatBehavior symmetric_random() {
  NatBehavior b;
  b.behind_nat = true;
  b.mapping = Dependence::AddressAndPortDependent;
  b.filtering = Dependence::AddressAndPortDependent;
  b.allocation = Allocation::Random;
  return b;
}

NatBehavior port_restricted_cone() {
  NatBehavior b = symmetric_random();
  b.mapping = Dependence::EndpointIndependent;
  b.allocation = Allocation::Preserved;
  return b;
}

PairFacts sym_pair() {
  return PairFacts{symmetric_random(), symmetric_random(), addr("198.51.100.7:4000"), addr("203.0.113.5:5000"), true};
}

// A Puncher's setup between two IDs, the peer's public mapping 203.0.113.5:5000 (no plan yet).
PunchSetup setup(const char* self, const char* peer) {
  PunchSetup s;
  s.self = *make_device_id(IdKind::UserName, self);
  s.peer = *make_device_id(IdKind::UserName, peer);
  s.server = addr("192.0.2.1:3478");
  s.peer_mapped = addr("203.0.113.5:5000");
  return s;
}

TEST(PlanPortMapped, TwoSymmetricNatsAreHopelessWithoutAMapping) {
  auto plan = choose_plan(sym_pair(), PunchTuning{});
  EXPECT_TRUE(plan.steps.empty());
  EXPECT_NE(plan.hopeless.find("port mapping"), std::string::npos) << plan.hopeless;
}

TEST(PlanPortMapped, AMappingOnEitherSideComesFirstAndIsNotHopeless) {
  for (bool self_side : {true, false}) {
    SCOPED_TRACE(self_side ? "our mapping" : "the peer's mapping");
    auto f = sym_pair();
    (self_side ? f.self_port_mapped : f.peer_port_mapped) = addr(self_side ? "198.51.100.7:40001" : "203.0.113.5:40002");
    auto plan = choose_plan(f, PunchTuning{});
    ASSERT_FALSE(plan.steps.empty());
    EXPECT_TRUE(plan.hopeless.empty()) << plan.hopeless;
    EXPECT_EQ(plan.steps[0].method, Method::PortMapped);
    EXPECT_EQ(plan.steps[0].budget, PunchTuning{}.direct_budget);
    // Both sides compute the same plan from the mirrored facts.
    PairFacts mirror{f.peer, f.self, f.peer_mapped, f.self_mapped, !f.initiator, f.peer_port_mapped, f.self_port_mapped};
    auto other = choose_plan(mirror, PunchTuning{});
    ASSERT_EQ(other.steps.size(), plan.steps.size());
    for (std::size_t i = 0; i < plan.steps.size(); ++i) EXPECT_EQ(other.steps[i].method, plan.steps[i].method);
  }
}

TEST(PlanPortMapped, ConePairsKeepTheirOtherStepsAfterTheMapping) {
  PairFacts f{port_restricted_cone(), port_restricted_cone(), addr("198.51.100.7:4000"), addr("203.0.113.5:5000"),
              false, addr("198.51.100.7:40001"), std::nullopt};
  auto plan = choose_plan(f, PunchTuning{});
  ASSERT_GE(plan.steps.size(), 2u);
  EXPECT_EQ(plan.steps[0].method, Method::PortMapped);
  EXPECT_EQ(plan.steps[1].method, Method::Simultaneous);
  EXPECT_EQ(parse_method("port-mapped"), Method::PortMapped);
}

TEST(PunchPortMapped, ProbesThePeersMappingFirst) {
  auto s = setup("phone", "home");
  s.peer_port_mapped = addr("203.0.113.5:40002");
  auto f = sym_pair();
  f.peer_port_mapped = s.peer_port_mapped;
  s.plan = choose_plan(f, PunchTuning{});
  s.token[0] = std::byte{7};
  Puncher p(s);
  auto out = p.start(TimePoint{});
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out[0].to, *s.peer_port_mapped);
  auto probe = read_punch(out[0].bytes, s.token);
  ASSERT_TRUE(probe.has_value());
  EXPECT_EQ(probe->stage, PunchStage::Probe);
  EXPECT_EQ(probe->target, *s.peer_port_mapped);
}

// The peer's GiveUp signal (it goes through the relay) ends our punching at once; a GiveUp for
// another attempt changes nothing.
TEST(PunchGiveUp, ThePeersGiveUpEndsTheAttempt) {
  auto s = setup("home", "phone");
  PairFacts f{port_restricted_cone(), port_restricted_cone(), addr("198.51.100.7:4000"), s.peer_mapped, false};
  s.plan = choose_plan(f, PunchTuning{});
  s.token[0] = std::byte{9};
  Puncher p(s);
  p.start(TimePoint{});
  Signal other{s.peer, s.self, AttemptToken{}, SignalKind::GiveUp, std::nullopt};
  p.on_datagram({0, s.server, encode_signal(other, stun::MessageClass::Indication, TransactionId{})},
                TimePoint{} + std::chrono::milliseconds(10));
  EXPECT_FALSE(p.finished());
  Signal ours{s.peer, s.self, s.token, SignalKind::GiveUp, std::nullopt};
  p.on_datagram({0, s.server, encode_signal(ours, stun::MessageClass::Indication, TransactionId{})},
                TimePoint{} + std::chrono::milliseconds(20));
  EXPECT_TRUE(p.finished());
  EXPECT_FALSE(p.outcome().ok);
  EXPECT_NE(p.outcome().error.find("gave up"), std::string::npos) << p.outcome().error;
}

}  // namespace
}  // namespace natpunch
