// device/DatagramRouter: STUN by sender and token, QUIC by connection ID, on real messages and a real
// ngtcp2 flight.
#include "device/datagram_router.h"

#include <gtest/gtest.h>

#include "../fuzz/session_pair.h"
#include "session/quic_header.h"
#include "session/quic_path.h"
#include "wire/address_codec.h"
#include "wire/builder.h"
#include "wire/padding.h"
#include "wire/punch_packet.h"

namespace natpunch {
namespace {

using namespace std::chrono_literals;

SocketAddress addr(const char* s) { return *parse_socket_address(s); }

AttemptToken token(std::uint8_t v) {
  AttemptToken t{};
  t.fill(std::byte{v});
  return t;
}

TransactionId txid(std::uint8_t v) {
  TransactionId t{};
  t.fill(std::byte{v});
  return t;
}

class Router : public ::testing::Test {
 protected:
  Router() : router_(quic::kCidLength) {
    router_.set_servers({server_, alternate_});
    router_.add_attempt(token(1));
  }
  DatagramRouter router_;
  SocketAddress server_ = addr("192.0.2.1:3478");
  SocketAddress alternate_ = addr("192.0.2.2:3479");
  SocketAddress peer_ = addr("203.0.113.9:40000");
};

TEST_F(Router, PunchPacketsGoToTheAttemptTheirTokenNames) {
  auto probe = encode_punch(punch_packet(token(1), PunchStage::Probe, addr("198.51.100.1:5000")), txid(1));
  auto r = router_.route(probe, peer_);
  EXPECT_EQ(r.to, Route::To::Attempt);
  EXPECT_EQ(r.attempt, token(1));
  auto stranger = encode_punch(punch_packet(token(9), PunchStage::Probe, addr("198.51.100.1:5000")), txid(2));
  r = router_.route(stranger, peer_);
  EXPECT_EQ(r.to, Route::To::Drop);
  EXPECT_EQ(r.why, DropReason::UnknownAttempt);
  EXPECT_EQ(router_.drops()[static_cast<std::size_t>(DropReason::UnknownAttempt)], 1u);
}

TEST_F(Router, OnlyTheServerSpeaksForTheServer) {
  PeerInfo info;
  info.peer = *make_device_id(IdKind::UserName, "mallory");
  info.peer_mapped = addr("203.0.113.66:6666");
  auto indication = encode_peer_info(info, stun::MessageClass::Indication, stun::method::kPeerInfo, txid(3));
  EXPECT_EQ(router_.route(indication, server_).to, Route::To::Client);
  EXPECT_EQ(router_.route(indication, alternate_).to, Route::To::Client);
  auto spoofed = router_.route(indication, peer_);
  EXPECT_EQ(spoofed.to, Route::To::Drop);
  EXPECT_EQ(spoofed.why, DropReason::NotFromServer);
  // A binding request from anyone: natpunch devices do not answer STUN servers' work for others.
  auto binding = padded_binding_request(txid(4), Family::V4);
  EXPECT_EQ(router_.route(binding, peer_).why, DropReason::NotFromServer);
  EXPECT_EQ(router_.route(binding, server_).why, DropReason::UnexpectedFromServer);
}

TEST_F(Router, AnswersGoToWhoeverAskedAndTheRestToTheClient) {
  MessageBuilder signal_answer(stun::method::kSignal, stun::MessageClass::Success, txid(5));
  auto bytes = signal_answer.finish();
  EXPECT_EQ(router_.route(bytes, server_).to, Route::To::Client) << "not registered: the client's, or a late one";
  router_.add_transaction(txid(5), token(1));
  auto r = router_.route(bytes, server_);
  EXPECT_EQ(r.to, Route::To::Attempt);
  EXPECT_EQ(r.attempt, token(1));
  MessageBuilder discovery(stun::method::kBinding, stun::MessageClass::Success, txid(6));
  router_.add_transaction(txid(6), 42u);
  r = router_.route(discovery.finish(), alternate_);
  EXPECT_EQ(r.to, Route::To::Owner);
  EXPECT_EQ(r.id, 42u);
  // The attempt ends: its transactions go with it.
  router_.remove_attempt(token(1));
  EXPECT_EQ(router_.route(bytes, server_).to, Route::To::Client);
  router_.remove_transaction(txid(6));
  MessageBuilder again(stun::method::kBinding, stun::MessageClass::Success, txid(6));
  EXPECT_EQ(router_.route(again.finish(), server_).to, Route::To::Client);
}

TEST_F(Router, SignalIndicationsGoByToken) {
  Signal s;
  s.from = *make_device_id(IdKind::UserName, "phone");
  s.to = *make_device_id(IdKind::UserName, "lamp");
  s.token = token(1);
  auto bytes = encode_signal(s, stun::MessageClass::Indication, txid(7));
  EXPECT_EQ(router_.route(bytes, server_).to, Route::To::Attempt);
  s.token = token(2);
  EXPECT_EQ(router_.route(encode_signal(s, stun::MessageClass::Indication, txid(8)), server_).why,
            DropReason::UnknownAttempt);
  EXPECT_EQ(router_.route(encode_signal(s, stun::MessageClass::Indication, txid(8)), peer_).why,
            DropReason::NotFromServer);
}

TEST_F(Router, QuicOpensASessionOnlyFromTheChosenPathThenFollowsItsConnectionIds) {
  auto now = fuzz::session_start();
  auto client = fuzz::make_session(fuzz::session_config(SessionRole::Client), now);
  auto server = fuzz::make_session(fuzz::session_config(SessionRole::Server), now);
  ASSERT_TRUE(client && server);
  auto flight = (*client)->start(now);
  ASSERT_FALSE(flight.empty());
  const auto from = fuzz::client_address();
  // No attempt chose that address yet: an Initial opens nothing.
  auto r = router_.route(flight.front().bytes, from);
  EXPECT_EQ(r.to, Route::To::Drop);
  EXPECT_EQ(r.why, DropReason::UnknownConnectionId);
  router_.expect_session(from, token(1));
  EXPECT_EQ(router_.route(flight.front().bytes, peer_).to, Route::To::Drop) << "from elsewhere";
  r = router_.route(flight.front().bytes, from);
  ASSERT_EQ(r.to, Route::To::NewSession);
  EXPECT_EQ(r.attempt, token(1));
  // The session answers; its connection ID is registered, and the client's packets find it.
  std::vector<OutPacket> to_client;
  for (auto& p : flight)
    for (auto& o : (*server)->on_datagram(p.bytes, from, now)) to_client.push_back(o);
  ASSERT_FALSE(to_client.empty());
  auto sh = parse_quic_header(to_client.front().bytes, quic::kCidLength);
  ASSERT_TRUE(sh && sh->long_header);
  router_.add_connection_id(sh->scid, 7);
  int routed = 0;
  std::vector<OutPacket> to_server;
  for (int round = 0; round < 40 && !(*client)->established(); ++round) {
    now += 5ms;
    to_server.clear();
    for (auto& p : to_client)
      for (auto& o : (*client)->on_datagram(p.bytes, fuzz::server_address(), now)) to_server.push_back(o);
    if (auto due = (*client)->next_deadline(); due && *due <= now)
      for (auto& o : (*client)->on_timer(now)) to_server.push_back(o);
    to_client.clear();
    if (auto due = (*server)->next_deadline(); due && *due <= now)
      for (auto& o : (*server)->on_timer(now)) to_client.push_back(o);
    for (auto& p : to_server) {
      auto route = router_.route(p.bytes, from);
      EXPECT_EQ(route.to, Route::To::Session);
      EXPECT_EQ(route.id, 7u);
      ++routed;
      for (auto& o : (*server)->on_datagram(p.bytes, from, now)) to_client.push_back(o);
    }
  }
  EXPECT_GT(routed, 1);
  EXPECT_TRUE((*client)->established());
  router_.remove_session(7);
  Bytes last;
  for (int round = 0; round < 100 && last.empty(); ++round) {
    now += 50ms;
    for (auto& o : (*client)->on_timer(now)) last = o.bytes;
  }
  ASSERT_FALSE(last.empty()) << "the client sends again (keepalive or retransmission)";
  EXPECT_NE(router_.route(last, from).to, Route::To::Session) << "the session is gone";
}

TEST_F(Router, AGreasedShortHeaderIsQuicNotStun) {
  Bytes cid(quic::kCidLength, std::byte{0x5c});
  router_.add_connection_id(cid, 3);
  for (int first : {0x00, 0x01, 0x02, 0x03, 0x3f}) {
    Bytes p(1 + cid.size() + 24, std::byte{0x11});
    p[0] = std::byte(static_cast<std::uint8_t>(first));
    std::copy(cid.begin(), cid.end(), p.begin() + 1);
    auto r = router_.route(p, peer_);
    EXPECT_EQ(r.to, Route::To::Session) << "first byte " << first;
    EXPECT_EQ(r.id, 3u);
  }
  EXPECT_EQ(router_.route(ByteView{}, peer_).why, DropReason::Malformed);
}

}  // namespace
}  // namespace natpunch
