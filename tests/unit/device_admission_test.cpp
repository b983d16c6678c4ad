// The device's admission of a peer (device/admission.h): the allow list, keys pinned by the device
// itself, relayed attempts and the per-peer budget, in that order, before anything is sent.
#include <gtest/gtest.h>

#include "device/admission.h"
#include "wire/bytes.h"

namespace natpunch {
namespace {

using namespace std::chrono_literals;

const TimePoint t0 = TimePoint() + std::chrono::hours(1);

DeviceId id(const char* v) { return *make_device_id(IdKind::Unspecified, v); }
PublicKey key(std::uint8_t b) {
  PublicKey k{};
  k.fill(std::byte{b});
  return k;
}

TEST(Admission, OnlyListedPeersWithTheServersKeyUnlessPinned) {
  AdmissionPolicy p;
  p.allowed = {id("phone")};
  Admission a(p);
  auto ok = a.admit(id("phone"), key(1), false, t0);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->peer_key, key(1)) << "without a pin the session pins the key the server vouched for";
  auto stranger = a.admit(id("stranger"), key(2), false, t0);
  ASSERT_FALSE(stranger);
  EXPECT_EQ(stranger.error(), Refusal::NotAllowed);
  EXPECT_TRUE(a.admit(id("phone"), std::nullopt, false, t0)) << "an unpinned peer may have no key";
}

TEST(Admission, APinnedPeerIsAcceptedOnlyWithItsKeyWhateverTheServerSays) {
  AdmissionPolicy p;
  p.pinned["installer"] = key(7);
  Admission a(p);
  auto ok = a.admit(id("installer"), key(7), false, t0);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->peer_key, key(7));
  auto impostor = a.admit(id("installer"), key(8), false, t0);  // a compromised server's key
  ASSERT_FALSE(impostor);
  EXPECT_EQ(impostor.error(), Refusal::PinnedKeyMismatch);
  auto keyless = a.admit(id("installer"), std::nullopt, false, t0);
  ASSERT_FALSE(keyless);
  EXPECT_EQ(keyless.error(), Refusal::PinnedKeyMissing);
  // An open device still holds its pinned peers to their keys.
  AdmissionPolicy open = p;
  open.allow_any = true;
  Admission b(open);
  EXPECT_TRUE(b.admit(id("anyone"), key(9), false, t0));
  EXPECT_FALSE(b.admit(id("installer"), key(9), false, t0));
}

TEST(Admission, RefusalsSpendNoBudgetAndTheBudgetIsPerPeer) {
  AdmissionPolicy p;
  p.allowed = {id("phone"), id("tablet")};
  p.pinned["installer"] = key(7);
  p.refuse_relayed = true;
  p.attempts_per_minute = 2;
  Admission a(p);
  EXPECT_EQ(a.admit(id("phone"), key(1), true, t0).error(), Refusal::RelayedRefused);
  EXPECT_EQ(a.admit(id("installer"), key(8), false, t0).error(), Refusal::PinnedKeyMismatch);
  EXPECT_TRUE(a.admit(id("phone"), key(1), false, t0));
  EXPECT_TRUE(a.admit(id("phone"), key(1), false, t0 + 1s));
  EXPECT_EQ(a.admit(id("phone"), key(1), false, t0 + 2s).error(), Refusal::RateLimited);
  EXPECT_EQ(event_name(Refusal::RateLimited), "rate-limited");
  EXPECT_TRUE(a.admit(id("tablet"), key(3), false, t0 + 2s)) << "another peer has its own budget";
  EXPECT_TRUE(a.admit(id("installer"), key(7), false, t0 + 2s));
  EXPECT_TRUE(a.admit(id("phone"), key(1), false, t0 + 61s)) << "the window slides";
}

TEST(Admission, TheRegistrationNamesListedAndPinnedPeersOrAnyoneWhenTheyDoNotFit) {
  AdmissionPolicy p;
  p.allowed = {id("phone")};
  p.pinned["installer"] = key(7);
  p.pinned["phone"] = key(1);  // listed both ways: named once
  auto named = Admission(p).announced();
  EXPECT_FALSE(named.any);
  ASSERT_EQ(named.peers.size(), 2u);
  EXPECT_TRUE(named.allows(id("installer")));
  EXPECT_TRUE(named.allows(id("phone")));
  for (int i = 0; i < 20; ++i) p.pinned["peer-" + std::to_string(i)] = key(static_cast<std::uint8_t>(i));
  auto many = Admission(p).announced();
  EXPECT_TRUE(many.any) << "more than 16 IDs: the server passes everything on and the device decides";
  AdmissionPolicy nobody;
  auto none = Admission(nobody).announced();
  EXPECT_FALSE(none.any);
  EXPECT_TRUE(none.peers.empty());
}

TEST(AllowEntry, SplitsOnTheLastEqualsSignOnlyBeforeAKey) {
  const std::string hex(64, 'a');
  auto pinned = parse_allow_entry("phone=" + hex);
  ASSERT_TRUE(pinned);
  EXPECT_EQ(pinned->id.value, "phone");
  ASSERT_TRUE(pinned->key);
  EXPECT_EQ(to_hex(*pinned->key), hex);
  auto with_equals = parse_allow_entry("a=b=" + hex);
  ASSERT_TRUE(with_equals);
  EXPECT_EQ(with_equals->id.value, "a=b");
  auto plain = parse_allow_entry("a=b");  // not a key: the whole text is the ID
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->id.value, "a=b");
  EXPECT_FALSE(plain->key);
  EXPECT_FALSE(parse_allow_entry("=" + hex)) << "an empty ID";
  EXPECT_FALSE(parse_allow_entry(""));
  EXPECT_FALSE(parse_allow_entry("bad\x1b"));
}

}  // namespace
}  // namespace natpunch
