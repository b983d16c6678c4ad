// TurnClient (src/relay) against a scripted TURN server, on a virtual clock: the IP-wide
// permission a peer behind a symmetric NAT needs (permit_ip), data from a port nobody announced,
// the channel bound for it, answers to the observed address, refresh, refusal and the cap on
// learned addresses. The answers are unsigned: the script never sends a 401, so the client never
// learns a realm and does not require MESSAGE-INTEGRITY (the coturn interop test covers auth).
#include <gtest/gtest.h>

#include "relay/turn_client.h"
#include "wire/address_codec.h"
#include "wire/builder.h"

namespace natpunch {
namespace {

using namespace std::chrono_literals;
using stun::MessageClass;

const SocketAddress kServer = SocketAddress::v4({192, 0, 2, 1}, 3478);
const SocketAddress kRelayed = SocketAddress::v4({192, 0, 2, 1}, 50000);
const SocketAddress kPeerIp = SocketAddress::v4({198, 51, 100, 7}, 0);

MessageView parsed(const Bytes& b) {
  ParseLimits limits;
  limits.reject_unknown_required = false;
  auto m = parse_message(b, limits);
  EXPECT_TRUE(m);
  return *m;
}

struct ScriptedServer {
  TurnClient client{TurnConfig{kServer, {"user", "pass"}}};
  TimePoint now = TimePoint() + 1h;

  // The Allocate and its success answer.
  void allocate() {
    auto out = client.start(now);
    ASSERT_EQ(out.size(), 1u);
    auto req = parsed(out[0]);
    ASSERT_EQ(req.method(), turn::method::kAllocate);
    MessageBuilder b(turn::method::kAllocate, MessageClass::Success, req.transaction);
    b.add(turn::attr::kXorRelayedAddress, encode_xor_address(kRelayed, req.transaction));
    b.add_u32(turn::attr::kLifetime, 600);
    EXPECT_TRUE(client.on_datagram(b.finish(), now).empty());
    ASSERT_EQ(client.state(), TurnClient::State::Allocated);
  }
  // A success (or an error with `code`) for request `req`.
  std::vector<Bytes> answer(const Bytes& req, int code = 0) {
    auto m = parsed(req);
    MessageBuilder b(m.method(), code ? MessageClass::Error : MessageClass::Success, m.transaction);
    if (code) b.add_error(code, "Forbidden");
    return client.on_datagram(b.finish(), now);
  }
  // A Data indication from `peer`.
  std::vector<Bytes> data_from(const SocketAddress& peer, std::string_view text) {
    TransactionId id{};
    id[0] = std::byte{static_cast<std::uint8_t>(peer.port)};
    MessageBuilder b(turn::method::kData, MessageClass::Indication, id);
    b.add(turn::attr::kXorPeerAddress, encode_xor_address(peer, id));
    b.add(turn::attr::kData, as_bytes(std::string(text)));
    return client.on_datagram(b.finish(std::nullopt, false), now);
  }
};

SocketAddress peer_of(const Bytes& req) {
  auto m = parsed(req);
  const auto* a = m.find(turn::attr::kXorPeerAddress);
  EXPECT_NE(a, nullptr);
  return *decode_xor_address(a->value, m.transaction);
}

// Transaction IDs come from the config's RandomSource: the same seed gives the same Allocate.
TEST(TurnClient, TransactionIdsComeFromTheInjectedRandomSource) {
  auto allocate_id = [](std::uint64_t seed) {
    TurnConfig c{kServer, {"user", "pass"}};
    c.random = seeded_random(seed);
    TurnClient client(c);
    auto out = client.start(TimePoint() + 1h);
    EXPECT_EQ(out.size(), 1u);
    return out.empty() ? TransactionId{} : parsed(out[0]).transaction;
  };
  EXPECT_EQ(allocate_id(3), allocate_id(3));
  EXPECT_NE(allocate_id(3), allocate_id(4));
}

TEST(TurnClientPermitIp, AdmitsEveryPortOfThePermittedIpAndBindsAChannelForTheObservedOne) {
  ScriptedServer s;
  s.allocate();
  auto perm = s.client.permit_ip(SocketAddress::v4({198, 51, 100, 7}, 1234), s.now);
  ASSERT_EQ(perm.size(), 1u);
  EXPECT_EQ(parsed(perm[0]).method(), turn::method::kCreatePermission);
  EXPECT_EQ(peer_of(perm[0]).ip_string(), "198.51.100.7");
  EXPECT_EQ(s.client.ip_permission(kPeerIp), TurnClient::Permission::Pending);
  EXPECT_TRUE(s.client.permit_ip(kPeerIp, s.now).empty()) << "a second permit_ip of the same IP sends nothing";
  EXPECT_TRUE(s.answer(perm[0]).empty());
  EXPECT_EQ(s.client.ip_permission(kPeerIp), TurnClient::Permission::Granted);

  // The peer's NAT picked port 40001: its data is delivered and a channel is bound for it.
  const auto observed = SocketAddress::v4({198, 51, 100, 7}, 40001);
  EXPECT_TRUE(s.client.permitted(observed));
  auto bind = s.data_from(observed, "hello");
  ASSERT_EQ(bind.size(), 1u);
  EXPECT_EQ(parsed(bind[0]).method(), turn::method::kChannelBind);
  EXPECT_EQ(peer_of(bind[0]), observed);
  auto got = s.client.take_received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].peer, observed);
  EXPECT_EQ(std::string(as_text(got[0].data)), "hello");

  // Until the channel is bound the answer is a Send indication to the observed address.
  auto reply = s.client.send(observed, as_bytes(std::string("hi")));
  ASSERT_TRUE(reply) << reply.error();
  auto ind = parsed(*reply);
  EXPECT_EQ(ind.method(), turn::method::kSend);
  EXPECT_EQ(ind.cls(), MessageClass::Indication);
  EXPECT_EQ(peer_of(*reply), observed);
  // More data from the same address binds nothing new.
  EXPECT_TRUE(s.data_from(observed, "again").empty());

  EXPECT_TRUE(s.answer(bind[0]).empty());
  EXPECT_TRUE(s.client.channel_bound(observed));
  auto cd = s.client.send(observed, as_bytes(std::string("hi")));
  ASSERT_TRUE(cd);
  auto frame = turn::parse_channel_data(*cd);
  ASSERT_TRUE(frame);
  // ChannelData on that channel comes from the observed address.
  s.client.take_received();
  EXPECT_TRUE(
      s.client.on_datagram(turn::encode_channel_data(frame->channel, as_bytes(std::string("x"))), s.now).empty());
  got = s.client.take_received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].peer, observed);
}

TEST(TurnClientPermitIp, SendsToAPendingPermissionAndDropsOtherIps) {
  ScriptedServer s;
  s.allocate();
  EXPECT_FALSE(s.client.send(SocketAddress::v4({198, 51, 100, 7}, 9), as_bytes(std::string("x"))));
  s.client.permit_ip(kPeerIp, s.now);
  // Pending: a Send indication may go (the server handles the CreatePermission first).
  EXPECT_TRUE(s.client.send(SocketAddress::v4({198, 51, 100, 7}, 9), as_bytes(std::string("x"))));
  EXPECT_FALSE(s.client.send(SocketAddress::v4({198, 51, 100, 8}, 9), as_bytes(std::string("x"))));
  EXPECT_TRUE(s.data_from(SocketAddress::v4({198, 51, 100, 8}, 9), "stray").empty());
  EXPECT_TRUE(s.client.take_received().empty()) << "data from an IP without a permission is dropped";
}

TEST(TurnClientPermitIp, RefusalIsReportedAndClosesTheIp) {
  ScriptedServer s;
  s.allocate();
  auto perm = s.client.permit_ip(kPeerIp, s.now);
  ASSERT_EQ(perm.size(), 1u);
  s.answer(perm[0], 403);
  EXPECT_EQ(s.client.ip_permission(kPeerIp), TurnClient::Permission::Refused);
  EXPECT_NE(s.client.error().find("403"), std::string::npos) << s.client.error();
  EXPECT_EQ(s.client.state(), TurnClient::State::Allocated) << "a refused permission keeps the allocation";
  EXPECT_FALSE(s.client.send(SocketAddress::v4({198, 51, 100, 7}, 9), as_bytes(std::string("x"))));
  EXPECT_EQ(s.client.permit_ip(kPeerIp, s.now).size(), 1u) << "a refused IP may be asked for again";
}

TEST(TurnClientPermitIp, UnansweredPermissionIsRefusedInBoundedTime) {
  ScriptedServer s;
  s.allocate();
  s.client.permit_ip(kPeerIp, s.now);
  for (int i = 0; i < 100 && s.client.ip_permission(kPeerIp) == TurnClient::Permission::Pending; ++i) {
    auto d = s.client.next_deadline();
    ASSERT_TRUE(d);
    s.now = *d;
    s.client.on_timer(s.now);
  }
  EXPECT_EQ(s.client.ip_permission(kPeerIp), TurnClient::Permission::Refused);
  EXPECT_NE(s.client.error().find("no answer"), std::string::npos) << s.client.error();
}

TEST(TurnClientPermitIp, GrantedPermissionIsRefreshedBeforeItsFiveMinutes) {
  ScriptedServer s;
  s.allocate();
  auto perm = s.client.permit_ip(kPeerIp, s.now);
  s.answer(perm[0]);
  auto start = s.now;
  std::vector<Bytes> refresh;
  while (refresh.empty() && s.now < start + 300s) {
    s.now = *s.client.next_deadline();
    for (auto& b : s.client.on_timer(s.now))
      if (parsed(b).method() == turn::method::kCreatePermission) refresh.push_back(b);
  }
  ASSERT_EQ(refresh.size(), 1u);
  EXPECT_LT(s.now - start, 300s);
  EXPECT_EQ(peer_of(refresh[0]).ip_string(), "198.51.100.7");
  s.answer(refresh[0]);
  EXPECT_EQ(s.client.ip_permission(kPeerIp), TurnClient::Permission::Granted);
}

TEST(TurnClientPermitIp, LearnedAddressesAreCapped) {
  ScriptedServer s;
  s.allocate();
  s.answer(s.client.permit_ip(kPeerIp, s.now).at(0));
  std::size_t binds = 0;
  for (std::uint16_t port = 40000; port < 40000 + 2 * TurnClient::kMaxLearnedPeers; ++port)
    binds += s.data_from(SocketAddress::v4({198, 51, 100, 7}, port), "p").size();
  EXPECT_EQ(binds, TurnClient::kMaxLearnedPeers);
  EXPECT_EQ(s.client.take_received().size(), 2 * TurnClient::kMaxLearnedPeers) << "every datagram is still delivered";
}

}  // namespace
}  // namespace natpunch
