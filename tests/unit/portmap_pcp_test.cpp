// PCP (RFC 6887) MAP codec: golden request bytes written out from the RFC's layout, responses as a
// gateway sends them, and every way a response can be wrong.
#include <gtest/gtest.h>

#include "portmap/pcp_message.h"
#include "wire/bytes.h"

namespace natpunch::pcp {
namespace {

Bytes hex(std::string_view h) { return *from_hex(h); }

MapRequest request() {
  MapRequest r;
  r.client = SocketAddress::v4({10, 0, 2, 2}, 0);
  for (std::size_t i = 0; i < r.nonce.size(); ++i) r.nonce[i] = std::byte(static_cast<std::uint8_t>(i + 1));
  r.internal_port = 5000;
  r.lifetime_s = 3600;
  return r;
}

// A MAP success response for request(): external 203.0.113.20:40000, lifetime 3600, epoch 77.
std::string response_hex(std::string_view head = "02810000", std::string_view tail = "") {
  return std::string(head) + "00000e10" "0000004d" "000000000000000000000000"  // lifetime, epoch, reserved
         "0102030405060708090a0b0c" "11000000" "13889c40"                       // nonce, UDP, ports
         "00000000000000000000ffffcb007114" + std::string(tail);                // ::ffff:203.0.113.20
}

TEST(PcpMessage, MapRequestMatchesTheRfcLayout) {
  auto bytes = encode_map_request(request());
  EXPECT_EQ(to_hex(bytes),
            "02010000" "00000e10" "00000000000000000000ffff0a000202"  // version, MAP, lifetime, client
            "0102030405060708090a0b0c" "11000000"                      // nonce, protocol UDP
            "13880000" "00000000000000000000ffff00000000");            // internal 5000, no suggestion
  EXPECT_EQ(bytes.size(), kMapMessageSize);
}

TEST(PcpMessage, ASuggestedExternalAddressIsCarried) {
  auto r = request();
  r.suggested_external = SocketAddress::v4({203, 0, 113, 20}, 40000);
  auto bytes = encode_map_request(r);
  EXPECT_EQ(to_hex(bytes).substr(84), "9c40" "00000000000000000000ffffcb007114");
}

TEST(PcpMessage, ASuccessResponseIsParsedAndMatchedToItsRequest) {
  auto m = parse_map_response(hex(response_hex()));
  ASSERT_TRUE(m) << to_string(m.error());
  EXPECT_EQ(m->result, ResultCode::Success);
  EXPECT_EQ(m->lifetime_s, 3600u);
  EXPECT_EQ(m->epoch_s, 77u);
  EXPECT_EQ(m->external.to_string(), "203.0.113.20:40000");
  EXPECT_EQ(m->internal_port, 5000);
  EXPECT_TRUE(matches(*m, request()));
  auto other = request();
  other.nonce[0] = std::byte{0x55};
  EXPECT_FALSE(matches(*m, other));  // §11.3: another mapping's answer (or a forged one)
}

TEST(PcpMessage, ErrorResultsAreParsedWithTheirMeaning) {
  auto m = parse_map_response(hex(response_hex("02810002")));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->result, ResultCode::NotAuthorized);
  EXPECT_NE(describe(m->result).find("NOT_AUTHORIZED"), std::string_view::npos);
}

TEST(PcpMessage, OptionalOptionsAreSkippedAndMandatoryOnesRefused) {
  // Option 0x80 (optional), length 4, then one 0x01 (mandatory, THIRD_PARTY) we never asked for.
  EXPECT_TRUE(parse_map_response(hex(response_hex("02810000", "80000004deadbeef"))));
  EXPECT_EQ(parse_map_response(hex(response_hex("02810000", "0100000400000000"))).error(), PcpError::BadOption);
  EXPECT_EQ(parse_map_response(hex(response_hex("02810000", "80000008deadbeef"))).error(), PcpError::BadOption);
}

TEST(PcpMessage, MalformedResponsesGetNamedErrors) {
  EXPECT_EQ(parse_map_response({}).error(), PcpError::Truncated);
  EXPECT_EQ(parse_map_response(hex("0281")).error(), PcpError::Truncated);
  EXPECT_EQ(parse_map_response(hex(response_hex("00810000"))).error(), PcpError::OldVersion);  // NAT-PMP
  EXPECT_EQ(parse_map_response(hex(response_hex("03810000"))).error(), PcpError::UnknownVersion);
  EXPECT_EQ(parse_map_response(hex(response_hex("02010000"))).error(), PcpError::NotAResponse);
  EXPECT_EQ(parse_map_response(hex(response_hex("02820000"))).error(), PcpError::WrongOpcode);
  auto full = hex(response_hex());
  EXPECT_EQ(parse_map_response(ByteView(full).first(40)).error(), PcpError::Truncated);
  EXPECT_EQ(parse_map_response(ByteView(full).first(58)).error(), PcpError::NotMultipleOf4);
  Bytes huge(1104, std::byte{0});
  huge[0] = std::byte{2};
  EXPECT_EQ(parse_map_response(huge).error(), PcpError::Oversize);
}

}  // namespace
}  // namespace natpunch::pcp
