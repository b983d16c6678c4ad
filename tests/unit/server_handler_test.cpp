// The rendezvous request handler as a pure function: bytes + source + time in, replies out.
#include <gtest/gtest.h>

#include "server/request_handler.h"
#include "wire/address_codec.h"
#include "wire/builder.h"
#include "wire/control_messages.h"
#include "wire/padding.h"

namespace natpunch {
namespace {

using namespace std::chrono_literals;

SocketAddress addr(const char* s) { return *parse_socket_address(s); }

TransactionId txid(std::uint8_t n) {
  TransactionId t{};
  t[0] = std::byte{n};
  t[11] = std::byte{0x5a};
  return t;
}

RandomSource counting_random() {
  auto counter = std::make_shared<std::uint8_t>(0);
  return [counter](std::span<std::byte> out) {
    for (auto& b : out) b = std::byte{++*counter};
  };
}

class HandlerTest : public ::testing::Test {
 protected:
  HandlerTest() : handler_(config(), counting_random()) {}
  static ServerConfig config() {
    ServerConfig c;
    c.ttl = 30s;
    c.max_registrations = 3;
    return c;
  }
  std::vector<Reply> send(const Bytes& b, const char* from, TimePoint now) {
    return handler_.handle(Datagram{b, addr(from), 0}, now);
  }
  MessageView only_reply(const std::vector<Reply>& r) {
    EXPECT_EQ(r.size(), 1u);
    keep_ = r.at(0).bytes;
    return *parse_message(keep_);
  }
  // Registers as natpunch's client does: padded so the answer carries the server's nonce, then
  // again quoting it, which proves the source (connect requests and indications need that).
  void register_id(const char* id, const char* from, TimePoint now, std::uint8_t t) {
    RegisterRequest r{*make_device_id(IdKind::UserName, id), {addr("10.0.0.9:1000")}, std::nullopt};
    auto first = padded_to(encode_register_request(r, txid(t)), register_response_size(Family::V4));
    auto m = only_reply(send(first, from, now));
    ASSERT_EQ(m.cls(), stun::MessageClass::Success);
    const auto* n = m.find(stun::attr::kNonce);
    ASSERT_NE(n, nullptr);
    auto again = with_attribute(encode_register_request(r, txid(static_cast<std::uint8_t>(t + 100))),
                                stun::attr::kNonce, n->value);
    ASSERT_EQ(only_reply(send(again, from, now)).cls(), stun::MessageClass::Success);
  }
  int error_code_of(const std::vector<Reply>& r) {
    auto m = only_reply(r);
    auto e = decode_error_response(m);
    return e ? e->code : -1;
  }

  TimePoint t0{std::chrono::seconds(1000)};
  RequestHandler handler_;
  Bytes keep_;
};

TEST_F(HandlerTest, BindingAnswersWithTheSourceAddress) {
  auto req = padded_binding_request(txid(1), Family::V4);
  auto m = only_reply(send(req, "203.0.113.5:4000", t0));
  EXPECT_EQ(m.cls(), stun::MessageClass::Success);
  EXPECT_EQ(m.transaction, txid(1));
  EXPECT_EQ(mapped_address_of(m)->to_string(), "203.0.113.5:4000");
  EXPECT_TRUE(m.has_fingerprint());
}

TEST_F(HandlerTest, RegisterRecordsObservedMappingAndGrantsLifetime) {
  RegisterRequest r{*make_device_id(IdKind::UserName, "alice"), {addr("10.0.0.2:5000")}, 3600};
  auto m = only_reply(send(encode_register_request(r, txid(2)), "198.51.100.1:6000", t0));
  auto resp = decode_register_response(m);
  ASSERT_TRUE(resp.ok());
  EXPECT_EQ(resp->mapped.to_string(), "198.51.100.1:6000");
  EXPECT_EQ(resp->lifetime_s, 30u);  // capped by the server's TTL
  EXPECT_EQ(handler_.registry().size(), 1u);
  EXPECT_EQ(handler_.counters().registrations_created, 1u);
}

TEST_F(HandlerTest, ConnectHandsEachSideTheOthersMappingWithOneToken) {
  register_id("alice", "198.51.100.1:6000", t0, 1);
  register_id("bob", "203.0.113.9:7000", t0, 2);
  ConnectRequest c{*make_device_id(IdKind::UserName, "alice"), *make_device_id(IdKind::UserName, "bob")};
  auto replies = send(encode_connect_request(c, txid(3)), "198.51.100.1:6000", t0 + 1s);
  ASSERT_EQ(replies.size(), 2u);
  // To the requester: the connect success response with bob's mapping.
  EXPECT_EQ(replies[0].destination.to_string(), "198.51.100.1:6000");
  auto to_alice_m = parse_message(replies[0].bytes);
  auto to_alice = decode_peer_info(*to_alice_m);
  ASSERT_TRUE(to_alice.ok());
  EXPECT_EQ(to_alice_m->transaction, txid(3));
  EXPECT_EQ(to_alice->peer.value, "bob");
  EXPECT_EQ(to_alice->peer_mapped.to_string(), "203.0.113.9:7000");
  EXPECT_EQ(to_alice->peer_locals.at(0).to_string(), "10.0.0.9:1000");
  EXPECT_TRUE(to_alice->initiator);
  // To the target: a peer-info indication with alice's mapping and the same token.
  EXPECT_EQ(replies[1].destination.to_string(), "203.0.113.9:7000");
  auto to_bob_m = parse_message(replies[1].bytes);
  EXPECT_EQ(to_bob_m->cls(), stun::MessageClass::Indication);
  auto to_bob = decode_peer_info(*to_bob_m);
  ASSERT_TRUE(to_bob.ok());
  EXPECT_EQ(to_bob->peer.value, "alice");
  EXPECT_EQ(to_bob->peer_mapped.to_string(), "198.51.100.1:6000");
  EXPECT_FALSE(to_bob->initiator);
  EXPECT_EQ(to_bob->token, to_alice->token);
}

TEST_F(HandlerTest, RetransmittedConnectGetsTheSameAnswerAndTheSameToken) {
  register_id("alice", "198.51.100.1:6000", t0, 1);
  register_id("bob", "203.0.113.9:7000", t0, 2);
  ConnectRequest c{*make_device_id(IdKind::UserName, "bob"), *make_device_id(IdKind::UserName, "alice")};
  auto req = encode_connect_request(c, txid(4));
  auto first = send(req, "203.0.113.9:7000", t0 + 1s);
  auto again = send(req, "203.0.113.9:7000", t0 + 2s);
  ASSERT_EQ(first.size(), 2u);
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(first[0].bytes, again[0].bytes);
  EXPECT_EQ(first[1].bytes, again[1].bytes);  // the peer-info is re-sent too
  EXPECT_EQ(handler_.counters().duplicate_requests, 1u);
  // A new transaction is a new attempt: a fresh token.
  auto next = send(encode_connect_request(c, txid(5)), "203.0.113.9:7000", t0 + 3s);
  EXPECT_NE(decode_peer_info(*parse_message(next[0].bytes))->token,
            decode_peer_info(*parse_message(first[0].bytes))->token);
}

TEST_F(HandlerTest, UnknownPeerExpiredPeerAndUnregisteredRequesterAreRefused) {
  register_id("alice", "198.51.100.1:6000", t0, 1);
  ConnectRequest to_nobody{*make_device_id(IdKind::UserName, "alice"), *make_device_id(IdKind::UserName, "nobody")};
  EXPECT_EQ(error_code_of(send(encode_connect_request(to_nobody, txid(6)), "198.51.100.1:6000", t0)), 404);

  register_id("bob", "203.0.113.9:7000", t0, 2);
  register_id("alice", "198.51.100.1:6000", t0 + 29s, 7);  // alice refreshes, bob does not
  ConnectRequest to_bob{*make_device_id(IdKind::UserName, "alice"), *make_device_id(IdKind::UserName, "bob")};
  EXPECT_EQ(error_code_of(send(encode_connect_request(to_bob, txid(8)), "198.51.100.1:6000", t0 + 31s)), 410);
  EXPECT_EQ(error_code_of(send(encode_connect_request(to_bob, txid(9)), "198.51.100.1:6000", t0 + 32s)), 404);

  // An ID without a registration, from a proven address: 403. (From an unproven one: 401, a challenge.)
  ConnectRequest from_ghost{*make_device_id(IdKind::UserName, "ghost"), *make_device_id(IdKind::UserName, "alice")};
  EXPECT_EQ(error_code_of(send(encode_connect_request(from_ghost, txid(10)), "198.51.100.1:6000", t0 + 32s)), 403);
  EXPECT_EQ(error_code_of(send(encode_connect_request(from_ghost, txid(11)), "192.0.2.1:1", t0 + 32s)), 401);
}

TEST_F(HandlerTest, ReRegisteringFromANewAddressMovesTheEntry) {
  register_id("alice", "198.51.100.1:6000", t0, 1);
  register_id("alice", "198.51.100.1:6001", t0 + 1s, 2);
  register_id("bob", "203.0.113.9:7000", t0 + 1s, 3);
  EXPECT_EQ(handler_.counters().registrations_moved, 1u);
  ConnectRequest c{*make_device_id(IdKind::UserName, "bob"), *make_device_id(IdKind::UserName, "alice")};
  auto r = send(encode_connect_request(c, txid(4)), "203.0.113.9:7000", t0 + 2s);
  EXPECT_EQ(decode_peer_info(*parse_message(r[0].bytes))->peer_mapped.to_string(), "198.51.100.1:6001");
}

TEST_F(HandlerTest, TickExpiresRegistrations) {
  register_id("alice", "198.51.100.1:6000", t0, 1);
  handler_.tick(t0 + 29s);
  EXPECT_EQ(handler_.registry().size(), 1u);
  handler_.tick(t0 + 30s);
  EXPECT_EQ(handler_.registry().size(), 0u);
  EXPECT_EQ(handler_.counters().registrations_expired, 1u);
}

TEST_F(HandlerTest, RegistryCapacityIsEnforced) {
  register_id("a", "192.0.2.1:1", t0, 1);
  register_id("b", "192.0.2.1:2", t0, 2);
  register_id("c", "192.0.2.1:3", t0, 3);
  RegisterRequest r{*make_device_id(IdKind::UserName, "d"), {}, std::nullopt};
  EXPECT_EQ(error_code_of(send(encode_register_request(r, txid(4)), "192.0.2.1:4", t0)), 508);
  EXPECT_EQ(handler_.registry().size(), 3u);
}

TEST_F(HandlerTest, BadBodyInARequestGets400) {
  // (Padded: a 400 is larger than a bare header, and no answer is larger than its request.)
  auto req = MessageBuilder(stun::method::kRegister, stun::MessageClass::Request, txid(1))
                 .add(stun::attr::kPadding, Bytes(32, std::byte{0}))
                 .finish(std::nullopt, false);
  const std::uint8_t body[] = {0x80, 0x22, 0x00, 0x09, 'a', 'b'};  // value runs past the end
  for (auto b : body) req.push_back(std::byte{b});
  put_u16_at(req, 2, static_cast<std::uint16_t>(req.size() - 20));
  EXPECT_EQ(error_code_of(send(req, "192.0.2.1:1", t0)), 400);
  EXPECT_EQ(handler_.counters().dropped[static_cast<std::size_t>(ParseError::BadAttributeLength)], 1u);
  // A register request without an ID: 400 too.
  auto no_id = MessageBuilder(stun::method::kRegister, stun::MessageClass::Request, txid(2)).finish();
  EXPECT_EQ(error_code_of(send(no_id, "192.0.2.1:1", t0)), 400);
}

TEST_F(HandlerTest, UnknownComprehensionRequiredGets420ListingThem) {
  auto req = MessageBuilder(stun::method::kBinding, stun::MessageClass::Request, txid(1))
                 .add_u32(0x7001, 0)
                 .add_u32(0x7002, 0)
                 .finish();
  auto m = only_reply(send(req, "192.0.2.1:1", t0));
  EXPECT_EQ(decode_error_response(m)->code, 420);
  EXPECT_EQ(*decode_unknown_attributes(m.find(stun::attr::kUnknownAttributes)->value),
            (std::vector<std::uint16_t>{0x7001, 0x7002}));
}

TEST_F(HandlerTest, EverythingElseIsDroppedSilentlyAndCounted) {
  Bytes garbage{std::byte{0x17}, std::byte{0x03}, std::byte{0x03}};
  EXPECT_TRUE(send(garbage, "192.0.2.1:1", t0).empty());
  auto good = MessageBuilder(stun::method::kBinding, stun::MessageClass::Request, txid(1)).finish();
  auto bad_fp = good;
  bad_fp.back() ^= std::byte{1};
  EXPECT_TRUE(send(bad_fp, "192.0.2.1:1", t0).empty());
  auto indication = MessageBuilder(stun::method::kBinding, stun::MessageClass::Indication, txid(2)).finish();
  EXPECT_TRUE(send(indication, "192.0.2.1:1", t0).empty());
  auto response = MessageBuilder(stun::method::kBinding, stun::MessageClass::Success, txid(3)).finish();
  EXPECT_TRUE(send(response, "192.0.2.1:1", t0).empty());
  const auto& c = handler_.counters();
  EXPECT_EQ(c.dropped[static_cast<std::size_t>(ParseError::Truncated)], 1u);
  EXPECT_EQ(c.dropped[static_cast<std::size_t>(ParseError::BadFingerprint)], 1u);
  EXPECT_EQ(c.dropped_not_request, 2u);
  EXPECT_EQ(c.dropped_total(), 4u);
}

TEST_F(HandlerTest, UnknownMethodGets400) {
  auto req = MessageBuilder(0x0777, stun::MessageClass::Request, txid(1)).finish();
  EXPECT_EQ(error_code_of(send(req, "192.0.2.1:1", t0)), 400);
}

}  // namespace
}  // namespace natpunch

namespace natpunch {
namespace {

// RFC 5780: OTHER-ADDRESS, RESPONSE-ORIGIN, CHANGE-REQUEST and RESPONSE-PORT.
class Rfc5780Handler : public ::testing::Test {
 protected:
  static ServerConfig config() {
    ServerConfig c;
    c.sockets = {{0, false, false, *parse_socket_address("203.0.113.1:3478")},
                 {0, false, true, *parse_socket_address("203.0.113.1:3479")},
                 {0, true, false, *parse_socket_address("203.0.113.2:3478")},
                 {0, true, true, *parse_socket_address("203.0.113.2:3479")}};
    return c;
  }
  Reply binding(std::optional<std::uint32_t> change, std::uint8_t socket = 0, std::optional<std::uint16_t> port = {}) {
    MessageBuilder b(stun::method::kBinding, stun::MessageClass::Request, TransactionId{});
    if (change) b.add_u32(stun::attr::kChangeRequest, *change);
    if (port) b.add_u32(stun::attr::kResponsePort, static_cast<std::uint32_t>(*port) << 16);
    auto request = padded_to(b.finish(), binding_response_size(Family::V4));  // room for the whole answer
    auto replies = handler_.handle(Datagram{request, *parse_socket_address("198.51.100.9:5000"), socket},
                                   TimePoint{});
    EXPECT_EQ(replies.size(), 1u);
    return replies.at(0);
  }
  static std::string attr_address(const Bytes& reply, std::uint16_t type) {
    auto m = parse_message(reply);
    const auto* a = m->find(type);
    return a ? decode_plain_address(a->value)->to_string() : "absent";
  }
  RequestHandler handler_{config(), [](std::span<std::byte> b) { std::fill(b.begin(), b.end(), std::byte{7}); }};
};

TEST_F(Rfc5780Handler, PlainBindingNamesTheOtherAddressAndItsOrigin) {
  auto r = binding(std::nullopt);
  EXPECT_EQ(r.socket, 0);
  EXPECT_EQ(attr_address(r.bytes, stun::attr::kOtherAddress), "203.0.113.2:3479");
  EXPECT_EQ(attr_address(r.bytes, stun::attr::kResponseOrigin), "203.0.113.1:3478");
}

TEST_F(Rfc5780Handler, ChangeRequestAnswersFromTheRequestedSocketToTheSourceOnly) {
  auto both = binding(stun::attr::kChangeIp | stun::attr::kChangePort);
  EXPECT_EQ(both.socket, 3);
  EXPECT_EQ(both.destination.to_string(), "198.51.100.9:5000");
  EXPECT_EQ(attr_address(both.bytes, stun::attr::kResponseOrigin), "203.0.113.2:3479");
  EXPECT_EQ(binding(stun::attr::kChangePort).socket, 1);
  EXPECT_EQ(binding(stun::attr::kChangeIp).socket, 2);
  // From the alternate IP, "change IP" means back to the primary IP.
  EXPECT_EQ(binding(stun::attr::kChangeIp, 2).socket, 0);
  EXPECT_EQ(handler_.counters().change_requests, 4u);
}

TEST_F(Rfc5780Handler, ResponsePortChangesOnlyThePort) {
  auto r = binding(std::nullopt, 0, 6000);
  EXPECT_EQ(r.destination.to_string(), "198.51.100.9:6000");
}

TEST(Rfc5780WithoutAlternate, ChangeRequestGets420) {
  RequestHandler h(ServerConfig{}, [](std::span<std::byte>) {});
  auto req = MessageBuilder(stun::method::kBinding, stun::MessageClass::Request, TransactionId{})
                 .add_u32(stun::attr::kChangeRequest, stun::attr::kChangeIp)
                 .finish();
  auto replies = h.handle(Datagram{req, *parse_socket_address("198.51.100.9:5000"), 0}, TimePoint{});
  ASSERT_EQ(replies.size(), 1u);
  auto m = parse_message(replies[0].bytes);
  EXPECT_EQ(decode_error_response(*m)->code, 420);
  EXPECT_EQ(m->find(stun::attr::kOtherAddress), nullptr);
}

}  // namespace
}  // namespace natpunch
