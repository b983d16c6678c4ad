// NAT-PMP (RFC 6886) codec: golden request bytes from the RFC's layout, answers as miniupnpd sends
// them, and every way an answer can be short, stray or wrong.
#include <gtest/gtest.h>

#include "portmap/natpmp_message.h"
#include "wire/bytes.h"

namespace natpunch::natpmp {
namespace {

Bytes hex(std::string_view h) { return *from_hex(h); }

TEST(NatPmpMessage, RequestsMatchTheRfcLayout) {
  EXPECT_EQ(to_hex(encode_external_address_request()), "0000");
  // §3.3: version 0, op 1 (UDP), reserved, internal 5000, suggested 40000, lifetime 3600.
  EXPECT_EQ(to_hex(encode_map_request(5000, 40000, 3600)), "00010000" "13889c40" "00000e10");
  EXPECT_EQ(to_hex(encode_map_request(5000, 0, 0)), "00010000" "13880000" "00000000");  // §3.4 delete
}

TEST(NatPmpMessage, ExternalAddressAnswer) {
  auto r = parse_response(hex("00800000" "0000004d" "cb007114"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->opcode, 128);
  EXPECT_EQ(r->result, ResultCode::Success);
  EXPECT_EQ(r->epoch_s, 77u);
  ASSERT_TRUE(r->external_address);
  EXPECT_EQ(r->external_address->to_string(), "203.0.113.20:0");
  EXPECT_TRUE(answers(*r, kOpExternalAddress, 5000));
  EXPECT_FALSE(answers(*r, kOpMapUdp, 5000));
}

TEST(NatPmpMessage, MappingAnswer) {
  auto r = parse_response(hex("00810000" "0000004d" "13889c40" "00000e10"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->internal_port, 5000);
  EXPECT_EQ(r->external_port, 40000);
  EXPECT_EQ(r->lifetime_s, 3600u);
  EXPECT_TRUE(answers(*r, kOpMapUdp, 5000));
  EXPECT_FALSE(answers(*r, kOpMapUdp, 5001));  // another port's mapping is not ours
  EXPECT_FALSE(answers(*r, kOpExternalAddress, 5000));
}

TEST(NatPmpMessage, ErrorAnswersMayStopAfterTheEpoch) {
  // miniupnpd's answer when it has no usable external address: NETWORK_FAILURE (3).
  auto r = parse_response(hex("00810003" "0000004d"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->result, ResultCode::NetworkFailure);
  EXPECT_TRUE(answers(*r, kOpMapUdp, 5000));
  EXPECT_NE(describe(r->result).find("network failure"), std::string_view::npos);
  EXPECT_EQ(describe(static_cast<ResultCode>(99)), "unknown result code");
}

TEST(NatPmpMessage, ShortAndStrayAnswersAreNamedErrors) {
  EXPECT_EQ(parse_response({}).error(), NatPmpError::Truncated);
  EXPECT_EQ(parse_response(hex("00")).error(), NatPmpError::Truncated);
  EXPECT_EQ(parse_response(hex("008000")).error(), NatPmpError::Truncated);
  // libnatpmp would read a success answer cut here from its uninitialised buffer.
  EXPECT_EQ(parse_response(hex("00800000" "0000004d" "cb00")).error(), NatPmpError::Truncated);
  EXPECT_EQ(parse_response(hex("00810000" "0000004d" "1388")).error(), NatPmpError::Truncated);
  EXPECT_EQ(parse_response(hex("02810000" "0000004d")).error(), NatPmpError::WrongVersion);  // a PCP answer
  EXPECT_EQ(parse_response(hex("00010000" "13889c40" "00000e10")).error(), NatPmpError::NotAResponse);
  EXPECT_EQ(parse_response(hex("00820000" "0000004d" "13889c40" "00000e10")).error(), NatPmpError::UnknownOpcode);
  EXPECT_EQ(parse_response(Bytes(1101, std::byte{0})).error(), NatPmpError::Oversize);
  EXPECT_EQ(to_string(NatPmpError::Truncated), "truncated NAT-PMP answer");
}

TEST(NatPmpMessage, TrailingBytesAreIgnored) {
  auto r = parse_response(hex("00810000" "0000004d" "13889c40" "00000e10" "deadbeef"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->external_port, 40000);
}

}  // namespace
}  // namespace natpunch::natpmp
