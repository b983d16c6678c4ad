// session/quic_header.h on real flights of a QuicSession pair (ngtcp2 0.12, greased fixed bit) and
// on hand-made edge cases.
#include "session/quic_header.h"

#include <gtest/gtest.h>

#include "../fuzz/session_pair.h"
#include "session/quic_path.h"
#include "wire/message.h"

namespace natpunch {
namespace {

using namespace std::chrono_literals;

Bytes bytes_of(std::initializer_list<int> v) {
  Bytes b;
  for (int x : v) b.push_back(std::byte(static_cast<std::uint8_t>(x)));
  return b;
}

TEST(QuicHeader, TheClientsInitialOpensAndEveryLaterPacketCarriesAConnectionIdTheReceiverIssued) {
  auto now = fuzz::session_start();
  auto client = fuzz::make_session(fuzz::session_config(SessionRole::Client), now);
  auto server = fuzz::make_session(fuzz::session_config(SessionRole::Server), now);
  ASSERT_TRUE(client && server);
  auto first = (*client)->start(now);
  ASSERT_FALSE(first.empty());
  auto h = parse_quic_header(first.front().bytes, quic::kCidLength);
  ASSERT_TRUE(h);
  EXPECT_TRUE(h->long_header);
  EXPECT_TRUE(h->initial());
  EXPECT_EQ(h->version, 1u);
  EXPECT_EQ(h->scid.size(), quic::kCidLength);
  Bytes client_cid(h->scid.begin(), h->scid.end());

  // Run the handshake and some data; every datagram parses, and what reaches the client is
  // addressed to the connection ID it announced (long or short header alike).
  std::vector<OutPacket> to_server = first, to_client;
  int to_client_seen = 0, short_seen = 0;
  for (int round = 0; round < 20 && (!to_server.empty() || !to_client.empty()); ++round) {
    now += 5ms;
    std::vector<OutPacket> next_to_server, next_to_client;
    for (auto& p : to_server) {
      ASSERT_FALSE(looks_like_stun(p.bytes));
      auto ph = parse_quic_header(p.bytes, quic::kCidLength);
      ASSERT_TRUE(ph) << "a client packet that does not parse";
      for (auto& o : (*server)->on_datagram(p.bytes, fuzz::client_address(), now)) next_to_client.push_back(o);
    }
    for (auto& p : to_client) {
      auto ph = parse_quic_header(p.bytes, quic::kCidLength);
      ASSERT_TRUE(ph) << "a server packet that does not parse";
      EXPECT_EQ(Bytes(ph->dcid.begin(), ph->dcid.end()), client_cid);
      EXPECT_FALSE(ph->initial() && round > 2) << "no Initial once the handshake is done";
      ++to_client_seen;
      if (!ph->long_header) ++short_seen;
      for (auto& o : (*client)->on_datagram(p.bytes, fuzz::server_address(), now)) next_to_server.push_back(o);
    }
    to_server = std::move(next_to_server);
    to_client = std::move(next_to_client);
  }
  EXPECT_TRUE((*client)->established());
  EXPECT_GT(to_client_seen, 1);
  EXPECT_GT(short_seen, 0) << "the handshake ends with short-header packets";
}

TEST(QuicHeader, AShortHeaderTakesTheReceiversLengthWhateverTheGreasedFirstByte) {
  Bytes p = bytes_of({0x01});
  for (int i = 0; i < 16; ++i) p.push_back(std::byte(static_cast<std::uint8_t>(0xa0 + i)));
  p.push_back(std::byte{0x99});
  auto h = parse_quic_header(p, 16);
  ASSERT_TRUE(h);
  EXPECT_FALSE(h->long_header);
  EXPECT_FALSE(h->initial());
  ASSERT_EQ(h->dcid.size(), 16u);
  EXPECT_EQ(h->dcid[0], std::byte{0xa0});
  EXPECT_FALSE(parse_quic_header(ByteView(p).first(16), 16)) << "one byte short of the DCID";
  EXPECT_FALSE(parse_quic_header(ByteView{}, 16));
}

TEST(QuicHeader, ALongHeaderThatClaimsMoreThanItHasIsRefused) {
  // Version 1 Initial, DCID length 8 with 8 bytes, SCID length 4 with 4 bytes.
  auto ok = bytes_of({0xc3, 0, 0, 0, 1, 8, 1, 2, 3, 4, 5, 6, 7, 8, 4, 9, 9, 9, 9});
  auto h = parse_quic_header(ok, 16);
  ASSERT_TRUE(h);
  EXPECT_TRUE(h->initial());
  EXPECT_EQ(h->dcid.size(), 8u);
  EXPECT_EQ(h->scid.size(), 4u);
  for (std::size_t cut = 0; cut < ok.size(); ++cut)
    EXPECT_FALSE(parse_quic_header(ByteView(ok).first(cut), 16)) << "cut at " << cut;
  // A Handshake packet (type 2) and a version negotiation (version 0) are not Initials.
  auto handshake = ok;
  handshake[0] = std::byte{0xe3};
  EXPECT_FALSE(parse_quic_header(handshake, 16)->initial());
  auto negotiation = ok;
  negotiation[4] = std::byte{0};
  EXPECT_FALSE(parse_quic_header(negotiation, 16)->initial());
  // A DCID length of 255 is within the invariants (RFC 8999 allows up to 255) when the bytes are there.
  Bytes big = bytes_of({0xc0, 0, 0, 0, 1, 255});
  big.resize(big.size() + 255, std::byte{7});
  big.push_back(std::byte{0});
  auto b = parse_quic_header(big, 16);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->dcid.size(), 255u);
  EXPECT_TRUE(b->scid.empty());
}

}  // namespace
}  // namespace natpunch
