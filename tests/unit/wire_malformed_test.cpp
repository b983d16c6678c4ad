// One test per malformed-input class: each is a named error, never a crash.
#include <gtest/gtest.h>

#include "wire/builder.h"
#include "wire/message.h"

namespace natpunch {
namespace {

const TransactionId kTxid{std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}, std::byte{5}, std::byte{6},
                          std::byte{7}, std::byte{8}, std::byte{9}, std::byte{10}, std::byte{11}, std::byte{12}};

Bytes valid_request() {
  return MessageBuilder(stun::method::kBinding, stun::MessageClass::Request, kTxid)
      .add_text(stun::attr::kSoftware, "abc")
      .finish(std::nullopt, false);
}

void set_length(Bytes& b, std::uint16_t len) { put_u16_at(b, 2, len); }

ParseError error_of(const Bytes& b, ParseLimits limits = {}) {
  auto r = parse_message(b, limits);
  EXPECT_FALSE(r.ok());
  return r.ok() ? ParseError::WrongMessage : r.error();
}

TEST(Malformed, ShorterThanHeaderIsTruncated) {
  auto b = valid_request();
  b.resize(19);
  EXPECT_EQ(error_of(b), ParseError::Truncated);
  EXPECT_EQ(error_of(Bytes{}), ParseError::Truncated);
}

TEST(Malformed, LengthFieldBeyondDatagramIsTruncated) {
  auto b = valid_request();
  b.resize(b.size() - 4);  // the header still claims the full length
  EXPECT_EQ(error_of(b), ParseError::Truncated);
}

TEST(Malformed, LargerThanFrameCapIsOversize) {
  auto b = valid_request();
  ParseLimits l;
  l.max_message = b.size() - 1;
  EXPECT_EQ(error_of(b, l), ParseError::Oversize);
}

TEST(Malformed, WrongCookieOrTopBitsIsNotStun) {
  auto b = valid_request();
  b[4] = std::byte{0x00};
  EXPECT_EQ(error_of(b), ParseError::NotStun);
  auto c = valid_request();
  c[0] = std::byte{0x40};  // top bits 01: e.g. a QUIC or RTP packet
  EXPECT_EQ(error_of(c), ParseError::NotStun);
  EXPECT_FALSE(looks_like_stun(c));
}

TEST(Malformed, TrailingBytesBeyondLengthIsBadLength) {
  auto c = valid_request();
  c.insert(c.end(), 4, std::byte{0});  // bytes the length field does not cover
  EXPECT_EQ(error_of(c), ParseError::BadLength);
}

Bytes with_body(std::initializer_list<std::uint8_t> body) {
  Bytes b = MessageBuilder(stun::method::kBinding, stun::MessageClass::Request, kTxid).finish(std::nullopt, false);
  for (auto x : body) b.push_back(std::byte{x});
  set_length(b, static_cast<std::uint16_t>(b.size() - 20));
  return b;
}

TEST(Malformed, AttributeValueLongerThanMessageIsBadAttributeLength) {
  auto b = valid_request();
  put_u16_at(b, 22, 200);  // SOFTWARE claims 200 bytes
  EXPECT_EQ(error_of(b), ParseError::BadAttributeLength);
}

TEST(Malformed, AttributeHeaderCutShortIsBadAttributeLength) {
  // Two bytes of a type, then the message ends: no room for the attribute's length.
  EXPECT_EQ(error_of(with_body({0x80, 0x22, 0x00, 0x01, 'a', 0, 0, 0, 0x80, 0x22})),
            ParseError::BadAttributeLength);
}

TEST(Malformed, MissingPaddingIsBadPadding) {
  // SOFTWARE with a 1-byte value and no padding: the message length is 5, not a multiple of 4.
  EXPECT_EQ(error_of(with_body({0x80, 0x22, 0x00, 0x01, 'a'})), ParseError::BadPadding);
  // Two of its three padding bytes present.
  EXPECT_EQ(error_of(with_body({0x80, 0x22, 0x00, 0x01, 'a', 0, 0})), ParseError::BadPadding);
  // All three present: valid, whatever their content (RFC 8489 §14: padding is ignored).
  EXPECT_TRUE(parse_message(with_body({0x80, 0x22, 0x00, 0x01, 'a', 1, 2, 3})).ok());
  EXPECT_FALSE(looks_like_stun(with_body({0x80, 0x22, 0x00, 0x01, 'a'})));
}

TEST(Malformed, TooManyAttributes) {
  MessageBuilder b(stun::method::kBinding, stun::MessageClass::Request, kTxid);
  for (int i = 0; i < 40; ++i) b.add_text(stun::attr::kSoftware, "x");
  auto bytes = std::move(b).finish(std::nullopt, false);
  EXPECT_EQ(error_of(bytes), ParseError::TooManyAttributes);
  ParseLimits l;
  l.max_attributes = 64;
  EXPECT_TRUE(parse_message(bytes, l).ok());
}

TEST(Malformed, BadFingerprint) {
  auto good = MessageBuilder(stun::method::kBinding, stun::MessageClass::Request, kTxid).finish();
  ASSERT_TRUE(parse_message(good).ok());
  auto b = good;
  b.back() ^= std::byte{0xff};  // CRC mismatch
  EXPECT_EQ(error_of(b), ParseError::BadFingerprint);
  // FINGERPRINT not last.
  auto c = MessageBuilder(stun::method::kBinding, stun::MessageClass::Request, kTxid).finish();
  c.insert(c.end(), {std::byte{0x80}, std::byte{0x22}, std::byte{0}, std::byte{0}});
  set_length(c, static_cast<std::uint16_t>(c.size() - 20));
  EXPECT_EQ(error_of(c), ParseError::BadFingerprint);
}

TEST(Malformed, UnknownComprehensionRequiredAttribute) {
  auto b = MessageBuilder(stun::method::kBinding, stun::MessageClass::Request, kTxid)
               .add_u32(0x7ABC, 1)
               .add_u32(0xFABC, 1)  // comprehension-optional: ignored
               .finish();
  EXPECT_EQ(error_of(b), ParseError::UnknownComprehensionRequired);
  ParseLimits lenient;
  lenient.reject_unknown_required = false;
  auto m = parse_message(b, lenient);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->unknown_required(), std::vector<std::uint16_t>{0x7ABC});
}

TEST(Malformed, RandomBodiesParseOrFailByNameAndRoundTrip) {
  // A cheap deterministic sweep (the fuzz targets do the real search): whatever parses must
  // re-encode to the same bytes from its attributes, and everything else fails with a name.
  std::uint32_t x = 12345;
  auto rnd = [&x] {
    x = x * 1103515245 + 12345;
    return x >> 16;
  };
  int parsed = 0;
  for (int i = 0; i < 20000; ++i) {
    // Well-formed attribute runs with random types, lengths, values and padding bytes...
    Bytes b = MessageBuilder(stun::method::kBinding, stun::MessageClass::Request, kTxid).finish(std::nullopt, false);
    for (unsigned n = rnd() % 6; n > 0; --n) {
      auto len = rnd() % 13;
      b.push_back(std::byte(rnd()));
      b.push_back(std::byte(rnd()));
      b.push_back(std::byte{0});
      b.push_back(std::byte(len));
      for (unsigned k = 0; k < len + (4 - len % 4) % 4; ++k) b.push_back(std::byte(rnd()));
    }
    set_length(b, static_cast<std::uint16_t>(b.size() - 20));
    // ...then, two times in three, one corrupted byte anywhere.
    if (rnd() % 3 != 0) b[rnd() % b.size()] = std::byte(rnd());
    ParseLimits l;
    l.reject_unknown_required = false;
    auto m = parse_message(b, l);
    if (!m) {
      EXPECT_NE(to_string(m.error()), "unknown");
      continue;
    }
    ++parsed;
    MessageBuilder rebuilt(m->method(), m->cls(), m->transaction);
    for (const auto& a : m->attributes) rebuilt.add_with_padding(a.type, a.value, a.padding);
    EXPECT_EQ(to_hex(std::move(rebuilt).finish(std::nullopt, false)), to_hex(b));
  }
  EXPECT_GT(parsed, 100);
}

}  // namespace
}  // namespace natpunch
