// Who may connect (issue 6): a device's NP-ALLOW in its registration; the server passes a connect
// request on only to a device that allows the requester, refuses the rest with a 403 never larger
// than the request, and counts them. NP-ALLOW parsing is bounded. And the agent's spray budget.
#include <gtest/gtest.h>

#include "identity/signed_request.h"
#include "punch/spray_budget.h"
#include "server/request_handler.h"
#include "wire/address_codec.h"
#include "wire/control_messages.h"
#include "relay/turn_message.h"
#include "wire/builder.h"
#include "wire/padding.h"

namespace natpunch {
namespace {

using namespace std::chrono_literals;

SocketAddress addr(const char* s) { return *parse_socket_address(s); }
DeviceId id(const char* s) { return *make_device_id(IdKind::UserName, s); }

class AllowTest : public ::testing::Test {
 protected:
  explicit AllowTest(ServerConfig config = {})
      : handler_(std::move(config), [n = std::make_shared<std::uint8_t>(0)](std::span<std::byte> out) {
          for (auto& b : out) b = std::byte{++*n};
        }) {}
  TransactionId next_txid() {
    TransactionId t{};
    ++tx_;
    t[0] = std::byte{static_cast<std::uint8_t>(tx_)};
    return t;
  }
  std::vector<Reply> send(const Bytes& b, const char* from) {
    return handler_.handle(Datagram{b, addr(from), 0, kUnixTime}, t0);
  }
  static constexpr std::int64_t kUnixTime = 1'800'000'000;
  // Registers as natpunch's client does: padded so the answer carries the server's nonce, then again
  // quoting it, which proves the source (connect requests and indications need that).
  void register_id(const char* who, const char* from, std::optional<AllowList> allow,
                   std::optional<SocketAddress> port_mapped = std::nullopt) {
    RegisterRequest r{id(who), {addr("10.0.0.9:1000")}, std::nullopt, std::nullopt, std::move(allow), port_mapped};
    auto first = send(padded_to(encode_register_request(r, next_txid()), register_response_size(Family::V4)), from);
    ASSERT_EQ(first.size(), 1u);
    const Bytes answer = first[0].bytes;
    auto m = parse_message(answer);
    ASSERT_EQ(m->cls(), stun::MessageClass::Success);
    const auto* n = m->find(stun::attr::kNonce);
    ASSERT_NE(n, nullptr);
    auto replies = send(with_attribute(encode_register_request(r, next_txid()), stun::attr::kNonce, n->value), from);
    ASSERT_EQ(replies.size(), 1u);
    EXPECT_EQ(parse_message(replies[0].bytes)->cls(), stun::MessageClass::Success);
  }
  // Sends a connect request; returns the replies and checks any refusal's size against it.
  std::vector<Reply> connect(const char* self, const char* peer, const char* from,
                             std::optional<SocketAddress> relayed = std::nullopt) {
    auto request = encode_connect_request({id(self), id(peer), relayed}, next_txid());
    auto replies = send(request, from);
    for (const auto& r : replies)
      if (parse_message(r.bytes)->cls() == stun::MessageClass::Error && !handler_.proven_sources().proven(addr(from), t0)) {
        EXPECT_LE(r.bytes.size(), request.size()) << "a refusal to an unproven source is never larger than the request";
      }
    return replies;
  }
  static int code_of(const std::vector<Reply>& r) {
    if (r.empty()) return -1;
    auto m = parse_message(r[0].bytes);
    auto e = decode_error_response(*m);
    return e ? e->code : 0;
  }

  TimePoint t0{std::chrono::seconds(5000)};
  RequestHandler handler_;
  std::uint16_t tx_ = 0;
};

TEST_F(AllowTest, OnlyListedPeersAreIntroduced) {
  register_id("home", "198.51.100.7:4000", AllowList{false, {id("phone")}});
  register_id("phone", "203.0.113.5:5000", AllowList{});
  register_id("stranger", "203.0.113.66:6000", AllowList{});
  auto ok = connect("phone", "home", "203.0.113.5:5000");
  ASSERT_EQ(ok.size(), 2u) << "the allowed peer gets its answer and home its peer-info";
  EXPECT_EQ(code_of(ok), 0);
  auto refused = connect("stranger", "home", "203.0.113.66:6000");
  ASSERT_EQ(refused.size(), 1u) << "nothing reaches home";
  EXPECT_EQ(code_of(refused), 403);
  EXPECT_EQ(handler_.counters().connect_not_allowed, 1u);
  EXPECT_EQ(handler_.counters().peer_info_sent, 1u);
}

TEST_F(AllowTest, AnEmptyListAllowsNobodyAndAnyAllowsEveryone) {
  register_id("closed", "198.51.100.7:4000", AllowList{});
  register_id("open", "198.51.100.8:4000", AllowList{true, {}});
  register_id("phone", "203.0.113.5:5000", AllowList{});
  EXPECT_EQ(code_of(connect("phone", "closed", "203.0.113.5:5000")), 403);
  EXPECT_EQ(connect("phone", "open", "203.0.113.5:5000").size(), 2u);
  // A device that says nothing (older clients, `natpunch register`) is reachable as before.
  register_id("legacy", "198.51.100.9:4000", std::nullopt);
  EXPECT_EQ(connect("phone", "legacy", "203.0.113.5:5000").size(), 2u);
  EXPECT_EQ(handler_.counters().connect_not_allowed, 1u);
}

TEST_F(AllowTest, TheRefusalCarriesItsReasonWhenTheRequestIsLargeEnough) {
  register_id("home", "198.51.100.7:4000", AllowList{false, {id("phone")}});
  register_id("a-rather-long-device-name-for-a-stranger", "203.0.113.66:6000", AllowList{});
  auto r = connect("a-rather-long-device-name-for-a-stranger", "home", "203.0.113.66:6000");
  auto m = parse_message(r.at(0).bytes);
  auto e = decode_error_response(*m);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->code, 403);
  EXPECT_EQ(e->reason, "Peer does not allow you");
}

TEST_F(AllowTest, ARegistrationCanChangeItsList) {
  register_id("home", "198.51.100.7:4000", AllowList{});
  register_id("phone", "203.0.113.5:5000", AllowList{});
  EXPECT_EQ(code_of(connect("phone", "home", "203.0.113.5:5000")), 403);
  register_id("home", "198.51.100.7:4000", AllowList{false, {id("tablet"), id("phone")}});
  EXPECT_EQ(connect("phone", "home", "203.0.113.5:5000").size(), 2u);
}

// The peer-info sent to a signing device carries the NONCE it quoted when it registered: what the
// device checks before it sprays (a peer-info spoofed from the server's address cannot know it).
TEST_F(AllowTest, PeerInfoEchoesTheNonceTheTargetRegisteredWith) {
  auto key = DeviceKey::generate();
  RegisterRequest r{id("home"), {}, std::nullopt, std::nullopt, AllowList{false, {id("phone")}}};
  auto first = send(sign_request(encode_register_request(r, next_txid()), key, std::nullopt), "198.51.100.7:4000");
  auto challenge = parse_message(first.at(0).bytes);
  const auto* n = challenge->find(stun::attr::kNonce);
  ASSERT_NE(n, nullptr);
  std::string nonce(as_text(n->value));
  auto ok = send(sign_request(encode_register_request(r, next_txid()), key, nonce), "198.51.100.7:4000");
  ASSERT_EQ(parse_message(ok.at(0).bytes)->cls(), stun::MessageClass::Success);
  register_id("phone", "203.0.113.5:5000", AllowList{});
  auto replies = connect("phone", "home", "203.0.113.5:5000");
  ASSERT_EQ(replies.size(), 2u);
  auto to_home = decode_peer_info(*parse_message(replies[1].bytes));
  ASSERT_TRUE(to_home.ok());
  EXPECT_EQ(to_home->nonce, nonce);
  auto to_phone = decode_peer_info(*parse_message(replies[0].bytes));
  ASSERT_TRUE(to_phone.ok());
  EXPECT_FALSE(to_phone->nonce) << "phone registered unsigned: nothing to echo, and never its peer's nonce";
}

// With --turn, each side's peer-info offers the relay with its own credentials in coturn's
// shared-secret form, expiring --turn-lifetime after the request.
class TurnOfferTest : public AllowTest {
 protected:
  static ServerConfig with_turn() {
    ServerConfig c;
    c.turn = TurnOffer{addr("203.0.113.3:3478"), "relay-secret", std::chrono::seconds(600)};
    return c;
  }
  TurnOfferTest() : AllowTest(with_turn()) {}
};

TEST_F(TurnOfferTest, EachSideGetsItsOwnExpiringCredentials) {
  register_id("home", "198.51.100.7:4000", AllowList{true, {}});
  register_id("phone", "203.0.113.5:5000", AllowList{});
  auto replies = connect("phone", "home", "203.0.113.5:5000");
  ASSERT_EQ(replies.size(), 2u);
  auto to_phone = decode_peer_info(*parse_message(replies[0].bytes));
  auto to_home = decode_peer_info(*parse_message(replies[1].bytes));
  ASSERT_TRUE(to_phone.ok() && to_home.ok());
  ASSERT_TRUE(to_phone->turn && to_home->turn);
  EXPECT_EQ(to_phone->turn->server, addr("203.0.113.3:3478"));
  // Expiry = the request's unix time (1 800 000 000) + the 600 s lifetime; the passwords were computed
  // outside natpunch: printf '%s' '1800000600:phone' | openssl dgst -sha1 -hmac 'relay-secret' -binary | base64
  EXPECT_EQ(to_phone->turn->username, "1800000600:phone");
  EXPECT_EQ(to_phone->turn->password, "EE53LGq2srZ6XGmbRQz++LdUd4E=");
  // printf '%s' '1800000600:home' | openssl dgst -sha1 -hmac 'relay-secret' -binary | base64
  EXPECT_EQ(to_home->turn->username, "1800000600:home");
  EXPECT_EQ(to_home->turn->password, "WSahWyNp6qVlv8wBJb9JwLV98Y4=");
}

// coturn's shared-secret credentials (--use-auth-secret): "<expiry>:<id>" and base64(HMAC-SHA1(secret,
// username)), checked against values computed outside natpunch with openssl.
TEST(TurnOfferCredentials, MatchOpensslHmacSha1) {
  // printf '%s' '1800000600:alice' | openssl dgst -sha1 -hmac 'relay-secret' -binary | base64
  auto c = turn::rest_credentials("relay-secret", "alice", 1'800'000'600);
  EXPECT_EQ(c.username, "1800000600:alice");
  EXPECT_EQ(c.password, "TTfQjbf8pXT+g4Qzk5z64WAGxlc=");
  // A secret longer than SHA-1's 64-byte block (HMAC hashes it first), and a MAC address as the ID:
  //   K='a-relay-secret-longer-than-the-64-byte-block-of-sha1-so-hmac-hashes-it-first'
  //   printf '%s' '1800000600:00:11:22:aa:bb:cc' | openssl dgst -sha1 -hmac "$K" -binary | base64
  auto mac = turn::rest_credentials("a-relay-secret-longer-than-the-64-byte-block-of-sha1-so-hmac-hashes-it-first",
                                    "00:11:22:aa:bb:cc", 1'800'000'600);
  EXPECT_EQ(mac.username, "1800000600:00:11:22:aa:bb:cc");
  EXPECT_EQ(mac.password, "0I17QSo4TR038SiTjwkL/0hsWDs=");
}

// A relayed attempt (issue 7): the requester names its relayed address on the offered relay, and
// only the peer's peer-info carries it; any other address is refused (no aiming a device's
// packets at a third party).
TEST_F(TurnOfferTest, RelayedAddressGoesToThePeerOnlyOnTheOfferedRelay) {
  register_id("home", "198.51.100.7:4000", AllowList{true, {}});
  register_id("phone", "203.0.113.5:5000", AllowList{});
  auto replies = connect("phone", "home", "203.0.113.5:5000", addr("203.0.113.3:49200"));
  ASSERT_EQ(replies.size(), 2u);
  auto to_phone = decode_peer_info(*parse_message(replies[0].bytes));
  auto to_home = decode_peer_info(*parse_message(replies[1].bytes));
  ASSERT_TRUE(to_phone.ok() && to_home.ok());
  EXPECT_FALSE(to_phone->peer_relayed);
  ASSERT_TRUE(to_home->peer_relayed);
  EXPECT_EQ(*to_home->peer_relayed, addr("203.0.113.3:49200"));
  EXPECT_EQ(code_of(connect("phone", "home", "203.0.113.5:5000", addr("192.0.2.99:49200"))), 400);
}

TEST_F(AllowTest, RelayedAddressWithoutAnOfferedRelayIsRefused) {
  register_id("home", "198.51.100.7:4000", AllowList{true, {}});
  register_id("phone", "203.0.113.5:5000", AllowList{});
  EXPECT_EQ(code_of(connect("phone", "home", "203.0.113.5:5000", addr("203.0.113.3:49200"))), 400);
}

// A router port mapping is passed on to the peer when it is on the registration's own public IP,
// and dropped (counted) when it names another IP (behind a further NAT, or aimed elsewhere).
TEST_F(AllowTest, PortMappingOnTheSourceIpReachesThePeer) {
  register_id("home", "198.51.100.7:4000", AllowList{true, {}}, addr("198.51.100.7:40001"));
  register_id("phone", "203.0.113.5:5000", AllowList{}, addr("10.99.0.1:40002"));
  auto replies = connect("phone", "home", "203.0.113.5:5000");
  ASSERT_EQ(replies.size(), 2u);
  auto to_phone = decode_peer_info(*parse_message(replies[0].bytes));
  auto to_home = decode_peer_info(*parse_message(replies[1].bytes));
  ASSERT_TRUE(to_phone.ok() && to_home.ok());
  ASSERT_TRUE(to_phone->peer_port_mapped);
  EXPECT_EQ(*to_phone->peer_port_mapped, addr("198.51.100.7:40001"));
  EXPECT_FALSE(to_home->peer_port_mapped);
  EXPECT_GE(handler_.counters().port_mappings_ignored, 1u);
}

TEST(TurnGrantCodec, AllThreeAttributesOrNone) {
  PeerInfo p{id("home"), addr("198.51.100.7:4000"), {}, AttemptToken{}, true, std::nullopt};
  p.turn = TurnGrant{addr("203.0.113.3:3478"), "1800000600:home", "c2VjcmV0"};
  const Bytes encoded = encode_peer_info(p, stun::MessageClass::Success, stun::method::kConnect, TransactionId{});
  auto back = decode_peer_info(*parse_message(encoded));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->turn, p.turn);
  // A username without the server and password is malformed, not half a grant.
  MessageBuilder b(stun::method::kConnect, stun::MessageClass::Success, TransactionId{});
  b.add(stun::attr::kPeerId, encode_device_id(id("home")));
  b.add_xor_address(stun::attr::kPeerMappedAddress, addr("198.51.100.7:4000"));
  b.add(stun::attr::kAttemptToken, AttemptToken{});
  b.add_u32(stun::attr::kInitiator, 1);
  b.add_text(stun::attr::kTurnUsername, "1800000600:home");
  const Bytes half = b.finish();
  EXPECT_FALSE(decode_peer_info(*parse_message(half)).ok());
}

TEST(AllowList, RoundTripsAndRejectsMalformedValues) {
  AllowList a{false, {id("phone"), *make_device_id(IdKind::Mac, "00-11-22-AA-BB-CC")}};
  auto bytes = encode_allow_list(a);
  auto back = decode_allow_list(bytes);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, a);
  EXPECT_TRUE(back->allows(id("phone")));
  EXPECT_FALSE(back->allows(id("phon")));
  auto any = decode_allow_list(encode_allow_list(AllowList{true, {}}));
  ASSERT_TRUE(any.ok());
  EXPECT_TRUE(any->any);

  auto bad = [](std::initializer_list<int> v) {
    Bytes b;
    for (int x : v) b.push_back(std::byte(x));
    return decode_allow_list(b);
  };
  EXPECT_FALSE(bad({}).ok()) << "no mode byte";
  EXPECT_FALSE(bad({2}).ok()) << "unknown mode";
  EXPECT_FALSE(bad({1, 2, 3, 'x'}).ok()) << "any with a list";
  EXPECT_FALSE(bad({0, 5, 3, 'a', 'b'}).ok()) << "entry runs past the end";
  EXPECT_FALSE(bad({0, 0}).ok()) << "empty entry";
  EXPECT_FALSE(bad({0, 2, 3, 0x01}).ok()) << "control character in an ID";
  EXPECT_FALSE(bad({0, 2, 9, 'a'}).ok()) << "unknown ID kind";
  Bytes many{std::byte{0}};
  for (int i = 0; i < 17; ++i) many.insert(many.end(), {std::byte{2}, std::byte{3}, std::byte('a' + i)});
  EXPECT_FALSE(decode_allow_list(many).ok()) << "more than 16 peers";
  Bytes huge(kMaxAllowBytes + 1, std::byte{0});
  EXPECT_FALSE(decode_allow_list(huge).ok()) << "over the byte cap";

  RegisterRequest r{id("home"), {}, std::nullopt, std::nullopt, a};
  const Bytes encoded = encode_register_request(r, TransactionId{});  // the view below points into it
  auto m = parse_message(encoded);
  ASSERT_TRUE(m.ok());
  auto decoded = decode_register_request(*m);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->allow, a);
}

TEST(SprayBudget, AtMostNPerPeerPerMinute) {
  SprayBudget budget(2, 2);
  TimePoint t{std::chrono::seconds(100)};
  EXPECT_TRUE(budget.take("phone", t));
  EXPECT_TRUE(budget.take("phone", t + 1s));
  EXPECT_FALSE(budget.take("phone", t + 2s)) << "third in the minute";
  EXPECT_TRUE(budget.take("tablet", t + 2s)) << "another peer has its own budget";
  EXPECT_TRUE(budget.take("phone", t + 60s)) << "the first attempt left the window";
  EXPECT_FALSE(budget.take("laptop", t + 61s)) << "table full of peers active in the last minute";
  EXPECT_TRUE(budget.take("laptop", t + 200s)) << "idle peers are forgotten";
  EXPECT_LE(budget.peers(), 2u);
}

}  // namespace
}  // namespace natpunch
