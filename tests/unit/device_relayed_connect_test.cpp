// device/RelayedConnect against a scripted TURN server, on a virtual clock: the allocation, the
// peer's IP permitted, the relayed request re-sent until the peer's probe arrives through the relay,
// the session's data both ways, the make-before-break probes for a direct path and the relay's
// retirement; and what must not move it: datagrams from others than the TURN server, probes from
// other IPs or of other attempts, acks from addresses never probed, a relay that never answers or
// refuses, a peer that never comes. Answers are unsigned (no 401: the client learns no realm), as in
// relay_turn_client_test.cpp; the coturn interop tests cover authentication.
#include "device/relayed_connect.h"

#include <gtest/gtest.h>

#include "relay/turn_message.h"
#include "wire/address_codec.h"
#include "wire/builder.h"
#include "wire/punch_packet.h"

namespace natpunch {
namespace {

using namespace std::chrono_literals;
using stun::MessageClass;

const SocketAddress kTurn = SocketAddress::v4({192, 0, 2, 1}, 3478);
const SocketAddress kRendezvous = SocketAddress::v4({192, 0, 2, 1}, 3479);
const SocketAddress kRelayed = SocketAddress::v4({192, 0, 2, 1}, 50000);
const SocketAddress kPeerMapped = SocketAddress::v4({198, 51, 100, 7}, 40000);
const SocketAddress kPeerAtRelay = SocketAddress::v4({198, 51, 100, 7}, 41234);  // its NAT's port for the relay
const SocketAddress kPeerLan = SocketAddress::v4({10, 0, 0, 7}, 40000);
const SocketAddress kStranger = SocketAddress::v4({203, 0, 113, 9}, 40000);
constexpr SocketHandle kRelaySocket = 5;

// Short header QUIC starts with 0b01……: '@' (0x40) is not STUN.
Bytes bytes_of(std::string_view s) {
  auto v = as_bytes(s);
  return Bytes(v.begin(), v.end());
}

AttemptToken token_of(std::uint8_t n) {
  AttemptToken t{};
  t.fill(std::byte{n});
  return t;
}

MessageView parsed(const Bytes& b) {
  ParseLimits limits;
  limits.reject_unknown_required = false;
  auto m = parse_message(b, limits);
  EXPECT_TRUE(m) << "not STUN";
  return *m;
}

class Relayed : public ::testing::Test {
 protected:
  PeerInfo punched() const {
    PeerInfo p;
    p.peer_mapped = kPeerMapped;
    p.peer_locals = {kPeerLan, kPeerMapped};  // a duplicate of the mapping is probed once
    p.token = token_of(1);
    p.initiator = true;
    p.turn = TurnGrant{kTurn, "1700000000:app", "secret"};
    return p;
  }
  RelayedConnect::Config config(bool upgrade = true) const {
    RelayedConnect::Config c;
    c.punched = punched();
    c.socket = kRelaySocket;
    c.server = kRendezvous;
    c.main_local = SocketAddress::v4({10, 0, 1, 2}, 40000);
    c.deadline = now + 10s;
    c.upgrade = upgrade;
    c.random = seeded_random(7);
    return c;
  }
  void make(bool upgrade = true) { rc = std::make_unique<RelayedConnect>(config(upgrade), now); }

  // The one datagram out, which must go to the TURN server on the relay's socket.
  MessageView one_to_turn() {
    auto out = rc->take_datagrams();
    EXPECT_EQ(out.size(), 1u);
    if (out.empty()) return parsed(MessageBuilder(0x001, MessageClass::Request, {}).finish());
    EXPECT_EQ(out[0].socket, kRelaySocket);
    EXPECT_EQ(out[0].to, kTurn);
    last = out[0].bytes;
    return parsed(last);
  }
  void answer(const MessageView& req, int code = 0, bool relayed = false) {
    MessageBuilder b(req.method(), code ? MessageClass::Error : MessageClass::Success, req.transaction);
    if (code) b.add_error(code, "Forbidden");
    if (relayed) {
      b.add(turn::attr::kXorRelayedAddress, encode_xor_address(kRelayed, req.transaction));
      b.add_u32(turn::attr::kLifetime, 600);
    }
    rc->on_relay_datagram(kTurn, b.finish(), now);
  }
  // A Data indication from `peer` carrying `data`, as the TURN server relays it (from `from`).
  void data(const SocketAddress& peer, const Bytes& bytes, const SocketAddress& from = kTurn) {
    TransactionId id{};
    id[0] = std::byte{static_cast<std::uint8_t>(++indications)};
    MessageBuilder b(turn::method::kData, MessageClass::Indication, id);
    b.add(turn::attr::kXorPeerAddress, encode_xor_address(peer, id));
    b.add(turn::attr::kData, bytes);
    rc->on_relay_datagram(from, b.finish(std::nullopt, false), now);
  }
  Bytes probe(const AttemptToken& t, PunchStage stage = PunchStage::Probe) {
    TransactionId id{};
    id[1] = std::byte{static_cast<std::uint8_t>(++indications)};
    return encode_punch(punch_packet(t, stage, kRelayed, 1), id);
  }
  // Up to the relayed attempt's introduction: allocated, the peer's IP permitted, introduced.
  void introduce() {
    make();
    rc->on_socket_opened(true, "", now);
    auto alloc = one_to_turn();
    ASSERT_EQ(alloc.method(), turn::method::kAllocate);
    answer(alloc, 0, true);
    auto perm = one_to_turn();
    ASSERT_EQ(perm.method(), turn::method::kCreatePermission);
    const auto* a = perm.find(turn::attr::kXorPeerAddress);
    ASSERT_NE(a, nullptr);
    auto permitted = decode_xor_address(a->value, perm.transaction);
    ASSERT_TRUE(permitted);
    EXPECT_TRUE(permitted->same_ip(kPeerMapped));  // the IP: the peer's port toward the relay is unknown
    EXPECT_FALSE(rc->wants_introduction());
    answer(perm);
    ASSERT_EQ(rc->state(), RelayedConnect::State::Introducing);
    ASSERT_TRUE(rc->wants_introduction());
    rc->asking();
    EXPECT_FALSE(rc->wants_introduction());
    PeerInfo info = punched();
    info.token = token_of(2);
    info.turn.reset();
    rc->introduced(info, request, now);
    ASSERT_EQ(rc->state(), RelayedConnect::State::Waiting);
    ASSERT_EQ(rc->relayed(), kRelayed);
  }
  void reach() {
    introduce();
    data(kPeerAtRelay, probe(token_of(2)));
    ASSERT_EQ(rc->state(), RelayedConnect::State::Reached);
  }

  TimePoint now = TimePoint() + 1h;
  std::unique_ptr<RelayedConnect> rc;
  Bytes last;
  Bytes request = bytes_of("the relayed NP-CONNECT");
  int indications = 0;
};

TEST_F(Relayed, WithoutAnOfferedRelayItFailsAtOnceAndSendsNothing) {
  auto c = config();
  c.punched.turn.reset();
  RelayedConnect r(c, now);
  r.on_socket_opened(true, "", now);
  EXPECT_TRUE(r.failed());
  EXPECT_NE(r.error().find("offers no relay"), std::string::npos);
  EXPECT_TRUE(r.take_datagrams().empty());
  EXPECT_FALSE(r.next_deadline());
}

TEST_F(Relayed, ASocketThatCannotOpenFailsWithItsError) {
  make();
  rc->on_socket_opened(false, "no buffer space", now);
  EXPECT_TRUE(rc->failed());
  EXPECT_NE(rc->error().find("no buffer space"), std::string::npos);
  EXPECT_TRUE(rc->take_datagrams().empty());
}

TEST_F(Relayed, TheRelayedRequestIsSentAgainEverySecondUntilThePeerArrives) {
  introduce();
  EXPECT_TRUE(rc->take_datagrams().empty());  // the machine sent the first itself
  EXPECT_EQ(rc->next_deadline(), now + RelayedConnect::kReintroduceEvery);
  for (int i = 0; i < 3; ++i) {
    now += RelayedConnect::kReintroduceEvery;
    rc->on_timer(now);
    auto out = rc->take_datagrams();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].socket, kMainSocket);
    EXPECT_EQ(out[0].to, kRendezvous);
    EXPECT_EQ(out[0].bytes, request);
  }
  data(kPeerAtRelay, probe(token_of(2)));
  EXPECT_EQ(rc->state(), RelayedConnect::State::Reached);
  EXPECT_EQ(rc->elapsed(), 3s);
  now += 5s;
  rc->on_timer(now);
  for (const auto& d : rc->take_datagrams()) EXPECT_NE(d.to, kRendezvous);  // no more requests
}

TEST_F(Relayed, ThePeersProbeThroughTheRelayIsAckedThereAndNamesTheSessionsRemote) {
  introduce();
  data(kPeerAtRelay, probe(token_of(2)));
  ASSERT_TRUE(rc->reached());
  EXPECT_EQ(rc->remote(), kPeerAtRelay);
  // The ack goes back through the relay (a Send indication to the peer as the relay saw it).
  bool acked = false;
  for (const auto& d : rc->take_datagrams()) {
    if (d.socket != kRelaySocket) continue;
    auto m = parsed(d.bytes);
    if (m.method() != turn::method::kSend && m.method() != turn::method::kChannelBind) continue;
    if (m.method() == turn::method::kChannelBind) continue;
    const auto* peer = m.find(turn::attr::kXorPeerAddress);
    const auto* inner = m.find(turn::attr::kData);
    ASSERT_TRUE(peer && inner);
    EXPECT_EQ(*decode_xor_address(peer->value, m.transaction), kPeerAtRelay);
    auto p = read_punch(Bytes(inner->value.begin(), inner->value.end()), token_of(2));
    ASSERT_TRUE(p);
    EXPECT_EQ(p->stage, PunchStage::Ack);
    acked = true;
  }
  EXPECT_TRUE(acked);

  // The session's data: in from the peer (not punch packets), out wrapped for the relay.
  data(kPeerAtRelay, bytes_of("@quic short header"));
  auto in = rc->take_session_data();
  ASSERT_EQ(in.size(), 1u);
  EXPECT_EQ(in[0].peer, kPeerAtRelay);
  auto out = rc->wrap(kPeerAtRelay, bytes_of("@reply"));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->socket, kRelaySocket);
  EXPECT_EQ(out->to, kTurn);
}

TEST_F(Relayed, NothingButTheTurnServerTheRightAttemptAndThePeersIpMovesIt) {
  introduce();
  data(kPeerAtRelay, probe(token_of(2)), kStranger);           // not from the TURN server
  data(kPeerAtRelay, probe(token_of(9)));                      // another attempt's token
  data(kPeerAtRelay, probe(token_of(1)));                      // the punch attempt's, not the relayed one
  data(kPeerAtRelay, probe(token_of(2), PunchStage::Ack));     // not a probe
  data(kStranger, probe(token_of(2)));                         // another IP (the relay should not pass it)
  EXPECT_EQ(rc->state(), RelayedConnect::State::Waiting);
  EXPECT_FALSE(rc->remote());
  EXPECT_TRUE(rc->take_session_data().empty());
  // Session data before the peer is reached is not taken either.
  data(kPeerAtRelay, bytes_of("@early"));
  EXPECT_TRUE(rc->take_session_data().empty());
  EXPECT_FALSE(rc->wrap(kPeerAtRelay, bytes_of("x")));
}

TEST_F(Relayed, ARelayThatNeverAnswersFailsAtTheDeadline) {
  make();
  rc->on_socket_opened(true, "", now);
  one_to_turn();
  while (!rc->failed()) {
    auto d = rc->next_deadline();
    ASSERT_TRUE(d);
    ASSERT_LE(*d, config().deadline);
    now = *d;
    rc->on_timer(now);
    rc->take_datagrams();
  }
  EXPECT_LE(now, config().deadline);
  EXPECT_FALSE(rc->error().empty());
  EXPECT_FALSE(rc->next_deadline());
}

TEST_F(Relayed, ARefusedPermissionFailsAndNamesThePeer) {
  make();
  rc->on_socket_opened(true, "", now);
  answer(one_to_turn(), 0, true);
  answer(one_to_turn(), 403);
  EXPECT_TRUE(rc->failed());
  EXPECT_NE(rc->error().find("198.51.100.7"), std::string::npos);
}

TEST_F(Relayed, ARefusedIntroductionFails) {
  make();
  rc->on_socket_opened(true, "", now);
  answer(one_to_turn(), 0, true);
  answer(one_to_turn());
  ASSERT_TRUE(rc->wants_introduction());
  rc->introduced(fail(std::string("peer not registered")), {}, now);
  EXPECT_TRUE(rc->failed());
  EXPECT_NE(rc->error().find("peer not registered"), std::string::npos);
}

TEST_F(Relayed, APeerThatNeverComesFailsAtTheDeadlineNamingTheRelayedAddress) {
  introduce();
  now = config().deadline;
  rc->on_timer(now);
  EXPECT_TRUE(rc->failed());
  EXPECT_NE(rc->error().find(kRelayed.to_string()), std::string::npos);
}

TEST_F(Relayed, WhileRelayedItProbesThePeersMappingAndLanAddressesThenTakesTheFirstAck) {
  reach();
  // The first round goes with the ack: the mapping and the LAN address (the duplicate once), from
  // the main socket.
  std::vector<SocketAddress> probed;
  for (const auto& d : rc->take_datagrams())
    if (d.socket == kMainSocket) {
      auto p = read_punch(d.bytes, token_of(2));
      ASSERT_TRUE(p);
      EXPECT_EQ(p->stage, PunchStage::Probe);
      probed.push_back(d.to);
    }
  EXPECT_EQ(probed, (std::vector<SocketAddress>{kPeerMapped, kPeerLan}));
  auto ack = encode_punch(punch_packet(token_of(2), PunchStage::Ack, kPeerMapped, 1), TransactionId{});
  // Not a path: an address never probed, the wrong attempt, a probe rather than an ack.
  EXPECT_FALSE(rc->on_direct(kStranger, ack, now));
  EXPECT_FALSE(rc->on_direct(kPeerMapped, encode_punch(punch_packet(token_of(9), PunchStage::Ack, kPeerMapped, 1),
                                                       TransactionId{}), now));
  EXPECT_FALSE(rc->on_direct(kPeerMapped, encode_punch(punch_packet(token_of(2), PunchStage::Probe, kPeerMapped, 1),
                                                       TransactionId{}), now));
  EXPECT_FALSE(rc->direct());
  EXPECT_TRUE(rc->on_direct(kPeerLan, ack, now));
  EXPECT_EQ(rc->direct(), kPeerLan);
  EXPECT_FALSE(rc->on_direct(kPeerMapped, ack, now));  // the first one holds
  // No more probes once the path is found; retiring deletes the allocation (a Refresh, lifetime 0).
  now += 2s;
  rc->on_timer(now);
  for (const auto& d : rc->take_datagrams()) EXPECT_NE(d.socket, kMainSocket);
  rc->retire(now);
  auto refresh = one_to_turn();
  EXPECT_EQ(refresh.method(), turn::method::kRefresh);
  const auto* lifetime = refresh.find(turn::attr::kLifetime);
  ASSERT_NE(lifetime, nullptr);
  EXPECT_EQ(lifetime->value.size(), 4u);
  for (auto b : lifetime->value) EXPECT_EQ(b, std::byte{0});
  EXPECT_EQ(rc->state(), RelayedConnect::State::Retired);
  // A retired relay passes no more session data.
  data(kPeerAtRelay, bytes_of("@late"));
  EXPECT_TRUE(rc->take_session_data().empty());
}

TEST_F(Relayed, TheUpgradeProbesAreBoundedAndStopByThemselves) {
  reach();
  std::uint64_t rounds = 0;
  auto limit = now + 10min;  // far past the budget (120 rounds × 500 ms); the relay's own timers go on
  for (int steps = 0; steps < 10'000; ++steps) {
    auto d = rc->next_deadline();
    if (!d || *d > limit) break;
    now = std::max(now + 1ms, *d);
    rc->on_timer(now);
    for (const auto& x : rc->take_datagrams()) rounds += x.socket == kMainSocket;
  }
  EXPECT_EQ(rc->direct_probes_sent(), RelayedConnect::kDirectRounds * 2);
  EXPECT_EQ(rounds, RelayedConnect::kDirectRounds * 2);
}

TEST_F(Relayed, WithoutTheUpgradeNothingIsProbedDirectly) {
  make(false);
  rc->on_socket_opened(true, "", now);
  answer(one_to_turn(), 0, true);
  answer(one_to_turn());
  rc->asking();
  PeerInfo info = punched();
  info.token = token_of(2);
  rc->introduced(info, request, now);
  data(kPeerAtRelay, probe(token_of(2)));
  ASSERT_TRUE(rc->reached());
  now += 3s;
  rc->on_timer(now);
  for (const auto& d : rc->take_datagrams()) EXPECT_NE(d.socket, kMainSocket);
  auto ack = encode_punch(punch_packet(token_of(2), PunchStage::Ack, kPeerMapped, 1), TransactionId{});
  EXPECT_FALSE(rc->on_direct(kPeerMapped, ack, now));
  EXPECT_EQ(rc->direct_probes_sent(), 0u);
}

}  // namespace
}  // namespace natpunch
