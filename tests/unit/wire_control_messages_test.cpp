// natpunch control messages: encode → hex → parse round trips, and rejection of bad fields.
#include <gtest/gtest.h>

#include "wire/builder.h"
#include "wire/control_messages.h"
#include "wire/retransmit.h"

namespace natpunch {
namespace {

const TransactionId kTxid{std::byte{0xaa}, std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}, std::byte{5},
                          std::byte{6},    std::byte{7}, std::byte{8}, std::byte{9}, std::byte{10}, std::byte{11}};

SocketAddress addr(const char* s) { return *parse_socket_address(s); }

TEST(ControlMessages, RegisterRequestRoundTrip) {
  RegisterRequest r{*make_device_id(IdKind::UserName, "alice"), {addr("10.0.0.2:5000"), addr("[fd00::2]:5000")}, 30};
  auto bytes = encode_register_request(r, kTxid);
  auto m = parse_message(bytes);
  ASSERT_TRUE(m.ok()) << to_string(m.error());
  EXPECT_TRUE(m->has_fingerprint());
  auto back = decode_register_request(*m);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->id, r.id);
  EXPECT_EQ(back->locals, r.locals);
  EXPECT_EQ(back->lifetime_s, 30u);
  // The wrong decoder refuses it by name.
  EXPECT_EQ(decode_connect_request(*m).error(), ParseError::WrongMessage);
}

TEST(ControlMessages, RegisterResponseGoldenBytes) {
  auto bytes = encode_register_response({addr("192.0.2.1:32853"), 60}, kTxid);
  // Header (NP-REGISTER success = 0x0340), XOR-MAPPED-ADDRESS as in RFC 5769, NP-LIFETIME 60.
  EXPECT_EQ(to_hex(ByteView(bytes).first(40)),
            "0340001c" "2112a442" "aa0102030405060708090a0b" "00200008" "0001a147e112a643" "c4a60004" "0000003c");
  auto m = parse_message(bytes);
  ASSERT_TRUE(m.ok());
  auto back = decode_register_response(*m);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->mapped.to_string(), "192.0.2.1:32853");
  EXPECT_EQ(back->lifetime_s, 60u);
}

TEST(ControlMessages, ConnectAndPeerInfoRoundTrip) {
  ConnectRequest c{*make_device_id(IdKind::UserId, "+81-90-0000"), *make_device_id(IdKind::Mac, "00:11:22:AA:BB:CC")};
  auto connect_bytes = encode_connect_request(c, kTxid);  // the view below points into it
  auto cm = parse_message(connect_bytes);
  ASSERT_TRUE(cm.ok());
  auto cback = decode_connect_request(*cm);
  ASSERT_TRUE(cback.ok());
  EXPECT_EQ(cback->peer.value, "00:11:22:aa:bb:cc");  // normalised
  EXPECT_EQ(cback->self.kind, IdKind::UserId);

  PeerInfo p{c.peer, addr("198.51.100.7:40000"), {addr("10.1.0.5:41000")}, {}, true};
  p.token[0] = std::byte{0x42};
  p.token[15] = std::byte{0x99};
  p.peer_key = std::array<std::byte, 32>{};
  (*p.peer_key)[31] = std::byte{0x7e};
  for (auto [cls, method] : {std::pair{stun::MessageClass::Success, stun::method::kConnect},
                             std::pair{stun::MessageClass::Indication, stun::method::kPeerInfo}}) {
    auto bytes = encode_peer_info(p, cls, method, kTxid);
    auto m = parse_message(bytes);
    ASSERT_TRUE(m.ok());
    auto back = decode_peer_info(*m);
    ASSERT_TRUE(back.ok()) << to_string(back.error());
    EXPECT_EQ(back->peer, p.peer);
    EXPECT_EQ(back->peer_mapped, p.peer_mapped);
    EXPECT_EQ(back->peer_locals, p.peer_locals);
    EXPECT_EQ(back->token, p.token);
    EXPECT_TRUE(back->initiator);
    EXPECT_EQ(back->peer_key, p.peer_key);
    EXPECT_FALSE(back->peer_port_mapped);
    EXPECT_FALSE(back->peer_relayed);
  }
}

// Issue 7's optional addresses: a router port mapping in the registration and the peer-info, a
// relayed address in the connect request and the peer-info; a truncated one is a named error.
TEST(ControlMessages, PortMappedAndRelayedAddressesRoundTrip) {
  RegisterRequest r{*make_device_id(IdKind::UserName, "home"), {}, std::nullopt, std::nullopt, std::nullopt,
                    addr("198.51.100.7:40001")};
  auto rb = encode_register_request(r, kTxid);
  auto rback = decode_register_request(*parse_message(rb));
  ASSERT_TRUE(rback.ok());
  EXPECT_EQ(rback->port_mapped, r.port_mapped);

  ConnectRequest c{*make_device_id(IdKind::UserName, "phone"), *make_device_id(IdKind::UserName, "home"),
                   addr("203.0.113.3:49152")};
  auto cb = encode_connect_request(c, kTxid);
  auto cback = decode_connect_request(*parse_message(cb));
  ASSERT_TRUE(cback.ok());
  EXPECT_EQ(cback->relayed, c.relayed);

  PeerInfo p{c.self, addr("203.0.113.5:5000"), {}, {}, false};
  p.peer_port_mapped = addr("203.0.113.5:40002");
  p.peer_relayed = addr("203.0.113.3:49152");
  auto pb = encode_peer_info(p, stun::MessageClass::Indication, stun::method::kPeerInfo, kTxid);
  auto pback = decode_peer_info(*parse_message(pb));
  ASSERT_TRUE(pback.ok());
  EXPECT_EQ(pback->peer_port_mapped, p.peer_port_mapped);
  EXPECT_EQ(pback->peer_relayed, p.peer_relayed);

  MessageBuilder bad(stun::method::kConnect, stun::MessageClass::Request, kTxid);
  bad.add(stun::attr::kDeviceId, encode_device_id(c.self));
  bad.add(stun::attr::kPeerId, encode_device_id(c.peer));
  bad.add(stun::attr::kRelayed, Bytes{std::byte{0}, std::byte{1}});
  auto badb = bad.finish();
  EXPECT_FALSE(decode_connect_request(*parse_message(badb)).ok());
}

TEST(ControlMessages, ErrorResponseCarriesCodeReasonAndUnknownList) {
  auto bytes = encode_error_response(stun::method::kConnect, kTxid, 420, "Unknown Attribute", {0x7abc, 0x0100});
  auto m = parse_message(bytes);
  ASSERT_TRUE(m.ok());
  auto e = decode_error_response(*m);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->code, 420);
  EXPECT_EQ(e->reason, "Unknown Attribute");
  auto list = decode_unknown_attributes(m->find(stun::attr::kUnknownAttributes)->value);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(*list, (std::vector<std::uint16_t>{0x7abc, 0x0100}));
}

TEST(ControlMessages, MissingOrBadFieldsAreNamedErrors) {
  // A register request without NP-DEVICE-ID.
  auto no_id = MessageBuilder(stun::method::kRegister, stun::MessageClass::Request, kTxid).finish();
  EXPECT_EQ(decode_register_request(*parse_message(no_id)).error(), ParseError::MissingAttribute);
  // An ID with a control character.
  Bytes bad_id{std::byte{3}, std::byte{'a'}, std::byte{0x07}};
  auto with_bad = MessageBuilder(stun::method::kRegister, stun::MessageClass::Request, kTxid)
                      .add(stun::attr::kDeviceId, bad_id)
                      .finish();
  EXPECT_EQ(decode_register_request(*parse_message(with_bad)).error(), ParseError::BadAttributeValue);
  // An over-long ID.
  Bytes long_id(1 + kMaxIdLength + 1, std::byte{'x'});
  long_id[0] = std::byte{3};
  auto with_long = MessageBuilder(stun::method::kRegister, stun::MessageClass::Request, kTxid)
                       .add(stun::attr::kDeviceId, long_id)
                       .finish();
  EXPECT_EQ(decode_register_request(*parse_message(with_long)).error(), ParseError::BadAttributeValue);
  // Too many local addresses.
  MessageBuilder many(stun::method::kRegister, stun::MessageClass::Request, kTxid);
  many.add(stun::attr::kDeviceId, encode_device_id(*make_device_id(IdKind::UserName, "a")));
  for (int i = 0; i < 9; ++i) many.add_xor_address(stun::attr::kLocalAddress, addr("10.0.0.1:1"));
  EXPECT_EQ(decode_register_request(*parse_message(std::move(many).finish())).error(), ParseError::BadAttributeValue);
  // An address with a bad family.
  Bytes bad_addr{std::byte{0}, std::byte{9}, std::byte{0}, std::byte{1}, std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}};
  EXPECT_EQ(decode_xor_address(bad_addr, kTxid).error(), ParseError::BadAttributeValue);
  // A token of the wrong size.
  PeerInfo p{*make_device_id(IdKind::UserName, "b"), addr("1.2.3.4:5"), {}, {}, false};
  MessageBuilder pb(stun::method::kPeerInfo, stun::MessageClass::Indication, kTxid);
  pb.add(stun::attr::kPeerId, encode_device_id(p.peer));
  pb.add_xor_address(stun::attr::kPeerMappedAddress, p.peer_mapped);
  pb.add(stun::attr::kAttemptToken, Bytes(8));
  EXPECT_EQ(decode_peer_info(*parse_message(std::move(pb).finish())).error(), ParseError::BadAttributeValue);
}

TEST(DeviceId, KindsAndValidation) {
  EXPECT_EQ(make_device_id(IdKind::Mac, "AA-BB-CC-DD-EE-FF")->value, "aa:bb:cc:dd:ee:ff");
  EXPECT_FALSE(make_device_id(IdKind::Mac, "AA-BB-CC-DD-EE"));
  EXPECT_FALSE(make_device_id(IdKind::Mac, "gg:bb:cc:dd:ee:ff"));
  EXPECT_FALSE(make_device_id(IdKind::UserName, ""));
  EXPECT_FALSE(make_device_id(IdKind::UserName, std::string(129, 'a')));
  EXPECT_TRUE(make_device_id(IdKind::UserName, std::string(128, 'a')));
  EXPECT_TRUE(make_device_id(IdKind::UserId, "utf8 ユーザー"));
  EXPECT_EQ(parse_id_kind("mac"), IdKind::Mac);
  EXPECT_FALSE(parse_id_kind("phone"));
}

TEST(SocketAddressText, ParsesAndPrints) {
  EXPECT_EQ(addr("1.2.3.4:5").to_string(), "1.2.3.4:5");
  EXPECT_EQ(addr("[2001:db8::1]:443").to_string(), "[2001:db8::1]:443");
  EXPECT_FALSE(parse_socket_address("1.2.3.4"));
  EXPECT_FALSE(parse_socket_address("1.2.3.4:65536"));
  EXPECT_FALSE(parse_socket_address("2001:db8::1:443"));  // IPv6 needs brackets
  EXPECT_FALSE(parse_socket_address("[1.2.3.4]:5"));
  EXPECT_FALSE(parse_socket_address("host:5"));
}

TEST(Retransmit, Rfc8489Schedule) {
  using std::chrono::milliseconds;
  auto plan = plan_retransmissions(RetransmitPolicy{});
  // RFC 8489 §6.2.1 example: sends at 0, 500, 1500, 3500, 7500, 15500, 31500; fail at 39500.
  EXPECT_EQ(plan.sends, (std::vector<milliseconds>{milliseconds(0), milliseconds(500), milliseconds(1500),
                                                   milliseconds(3500), milliseconds(7500), milliseconds(15500),
                                                   milliseconds(31500)}));
  EXPECT_EQ(plan.give_up, milliseconds(39500));
  auto short_plan = plan_retransmissions(RetransmitPolicy{milliseconds(100), 7, 16, milliseconds(1000)});
  EXPECT_EQ(short_plan.sends, (std::vector<milliseconds>{milliseconds(0), milliseconds(100), milliseconds(300),
                                                         milliseconds(700)}));
  EXPECT_EQ(short_plan.give_up, milliseconds(1000));
}

}  // namespace
}  // namespace natpunch
