// RFC 5769 vectors: decode, verify MESSAGE-INTEGRITY and FINGERPRINT, and re-encode byte for byte.
#include <gtest/gtest.h>

#include "rfc5769_vectors.h"
#include "wire/address_codec.h"
#include "wire/builder.h"
#include "wire/integrity.h"
#include "wire/message.h"

namespace natpunch {
namespace {

Bytes hex(const char* s) { return *from_hex(s); }

ParseLimits lenient() {
  ParseLimits l;
  l.reject_unknown_required = false;  // the request carries ICE's PRIORITY (understood) only
  return l;
}

// Rebuilds a parsed message from its attributes (keeping their padding bytes), then lets the
// builder compute MESSAGE-INTEGRITY and FINGERPRINT itself.
Bytes reencode(const MessageView& m, ByteView key) {
  MessageBuilder b(m.method(), m.cls(), m.transaction);
  for (const auto& a : m.attributes) {
    if (a.type == stun::attr::kMessageIntegrity || a.type == stun::attr::kFingerprint) continue;
    b.add_with_padding(a.type, a.value, a.padding);
  }
  return std::move(b).finish(key, true);
}

TEST(Rfc5769, SampleRequestDecodesVerifiesAndReencodes) {
  auto bytes = hex(test::kRfc5769Request);
  auto m = parse_message(bytes, lenient());
  ASSERT_TRUE(m.ok()) << to_string(m.error());
  EXPECT_EQ(m->method(), stun::method::kBinding);
  EXPECT_EQ(m->cls(), stun::MessageClass::Request);
  ASSERT_EQ(m->attributes.size(), 6u);
  EXPECT_TRUE(m->has_fingerprint());
  EXPECT_EQ(as_text(m->find(stun::attr::kSoftware)->value), "STUN test client");
  EXPECT_EQ(as_text(m->find(stun::attr::kUsername)->value), "evtj:h6vY");
  EXPECT_TRUE(integrity_matches(*m, as_bytes(test::kRfc5769Password)));
  EXPECT_FALSE(integrity_matches(*m, as_bytes("wrong password")));
  EXPECT_EQ(to_hex(reencode(*m, as_bytes(test::kRfc5769Password))), to_hex(bytes));
}

TEST(Rfc5769, Ipv4ResponseDecodesVerifiesAndReencodes) {
  auto bytes = hex(test::kRfc5769Ipv4Response);
  auto m = parse_message(bytes);
  ASSERT_TRUE(m.ok()) << to_string(m.error());
  EXPECT_EQ(m->cls(), stun::MessageClass::Success);
  auto mapped = mapped_address_of(*m);
  ASSERT_TRUE(mapped.ok());
  EXPECT_EQ(mapped->to_string(), "192.0.2.1:32853");
  EXPECT_TRUE(integrity_matches(*m, as_bytes(test::kRfc5769Password)));
  EXPECT_EQ(to_hex(reencode(*m, as_bytes(test::kRfc5769Password))), to_hex(bytes));
  // Encoding the address ourselves gives the vector's XOR-MAPPED-ADDRESS value.
  EXPECT_EQ(to_hex(encode_xor_address(*mapped, m->transaction)), "0001a147e112a643");
}

TEST(Rfc5769, Ipv6ResponseDecodesVerifiesAndReencodes) {
  auto bytes = hex(test::kRfc5769Ipv6Response);
  auto m = parse_message(bytes);
  ASSERT_TRUE(m.ok()) << to_string(m.error());
  auto mapped = mapped_address_of(*m);
  ASSERT_TRUE(mapped.ok());
  EXPECT_EQ(mapped->to_string(), "[2001:db8:1234:5678:11:2233:4455:6677]:32853");
  EXPECT_TRUE(integrity_matches(*m, as_bytes(test::kRfc5769Password)));
  EXPECT_EQ(to_hex(reencode(*m, as_bytes(test::kRfc5769Password))), to_hex(bytes));
}

TEST(Rfc5769, FlippedBitBreaksFingerprint) {
  auto bytes = hex(test::kRfc5769Ipv4Response);
  bytes[30] ^= std::byte{0x01};  // inside SOFTWARE
  auto m = parse_message(bytes);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error(), ParseError::BadFingerprint);
}

}  // namespace
}  // namespace natpunch
