// The sprayer's port order: predicted ports first, then the peer's port pool, then the range;
// never a port twice; deterministic for a seed.
#include <gtest/gtest.h>

#include <set>

#include "punch/port_sequence.h"
#include "test_seed.h"

namespace natpunch {
namespace {

NatBehavior symmetric(Allocation a, std::int16_t delta = 0, std::uint16_t lo = 0, std::uint16_t hi = 0) {
  NatBehavior b;
  b.mapping = Dependence::AddressAndPortDependent;
  b.filtering = Dependence::AddressAndPortDependent;
  b.allocation = a;
  b.port_delta = delta;
  b.pool_lo = lo;
  b.pool_hi = hi;
  return b;
}

TEST(PortSequence, SequentialPeerIsProbedAroundItsLastPortFirst) {
  PortSequence seq(1024, 65535, 7, 40007, symmetric(Allocation::Sequential, 1), 16);
  std::vector<std::uint16_t> first;
  for (int i = 0; i < 6; ++i) first.push_back(seq.next());
  EXPECT_EQ(first, (std::vector<std::uint16_t>{40008, 40006, 40009, 40005, 40010, 40004}));
}

TEST(PortSequence, PoolIsExhaustedBeforeTheRestAndNoPortRepeats) {
  // A registered pool of 300 ports, 29900-30199: all of it first, each port once, then the range.
  PortSequence seq(1024, 65535, 11, 30050, symmetric(Allocation::Random, 0, 29900, 30199), 0);
  EXPECT_EQ(seq.window(), (std::pair<std::uint16_t, std::uint16_t>{29900, 30199}));
  std::set<std::uint16_t> seen;
  for (int i = 0; i < 300; ++i) {
    auto p = seq.next();
    EXPECT_GE(p, 29900);
    EXPECT_LE(p, 30199);
    EXPECT_TRUE(seen.insert(p).second);
  }
  auto after = seq.next();
  EXPECT_TRUE(after < 29900 || after > 30199);
}

TEST(PortSequence, SmallRangeIsExhaustedThenReturnsZero) {
  PortSequence seq(5000, 5009, 3, 0, std::nullopt, 0);
  std::set<std::uint16_t> seen;
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(seen.insert(seq.next()).second);
  EXPECT_EQ(seq.next(), 0);
  EXPECT_EQ(*seen.begin(), 5000);
  EXPECT_EQ(*seen.rbegin(), 5009);
}

TEST(PortSequence, SameSeedSameOrderOtherSeedOtherOrder) {
  const auto seed = test::test_seed("PortSequence.SameSeedSameOrder");
  PortSequence a(1024, 65535, seed, 0, std::nullopt, 0), b(1024, 65535, seed, 0, std::nullopt, 0);
  PortSequence c(1024, 65535, seed + 1, 0, std::nullopt, 0);
  int same_as_other = 0;
  for (int i = 0; i < 100; ++i) {
    auto p = a.next();
    EXPECT_EQ(p, b.next());
    same_as_other += p == c.next();
  }
  // Two different random orders of 64,512 ports share about 100/64,512 positions.
  EXPECT_LT(same_as_other, 5) << "seeds " << seed << " and " << seed + 1 << " gave the same order";
}

TEST(NatBehaviorWire, PoolRoundTripsAndOldEightByteFormStillParses) {
  auto b = symmetric(Allocation::Random, 0, 20000, 20999);
  auto bytes = encode_nat_behavior(b);
  EXPECT_EQ(bytes.size(), 12u);
  EXPECT_EQ(*decode_nat_behavior(bytes), b);
  auto plain = symmetric(Allocation::Sequential, 1);
  auto eight = encode_nat_behavior(plain);
  EXPECT_EQ(eight.size(), 8u);
  EXPECT_EQ(*decode_nat_behavior(eight), plain);
  bytes[8] = std::byte{0xff};  // pool low above pool high
  EXPECT_FALSE(decode_nat_behavior(bytes).ok());
}

}  // namespace
}  // namespace natpunch
