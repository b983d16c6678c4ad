// Register / connect-request / peer-info / unknown-peer / expiry / retransmission, end to end over
// loopback with real UDP sockets and the real server loop.
#include "loopback_harness.h"

namespace natpunch {
namespace {

using namespace std::chrono_literals;
using test::run;

class RendezvousLoopback : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    ServerConfig config;
    config.ttl = 20s;
    ServerRunOptions options;
    options.tick = 50ms;
    options.clock = clock_.fn();
    auto s = RendezvousServer::create(io_, {*parse_ip(GetParam(), 0)}, config, options);
    ASSERT_TRUE(s.ok()) << s.error();
    server_ = std::move(*s);
    server_->start();
    endpoint_ = to_endpoint(server_->local_addresses().at(0));
  }
  void TearDown() override {
    if (server_) server_->stop();
  }

  Result<RegisterResult, ClientError> register_as(RendezvousClient& c, const char* id) {
    RegisterRequest r{*make_device_id(IdKind::UserName, id), {c.local_address()}, std::nullopt};
    return run(io_, c.register_device(r));
  }
  ConnectRequest connect_req(const char* self, const char* peer) {
    return {*make_device_id(IdKind::UserName, self), *make_device_id(IdKind::UserName, peer)};
  }

  asio::io_context io_;
  test::ShiftableClock clock_;
  std::unique_ptr<RendezvousServer> server_;
  asio::ip::udp::endpoint endpoint_;
};

TEST_P(RendezvousLoopback, BindingReportsTheClientsAddress) {
  auto c = test::make_client(io_, endpoint_);
  auto r = run(io_, c->binding());
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->mapped, c->local_address());
}

TEST_P(RendezvousLoopback, ConnectInEitherDirectionDeliversPeerInfoToBothSides) {
  auto alice = test::make_client(io_, endpoint_);
  auto bob = test::make_client(io_, endpoint_);
  auto ra = register_as(*alice, "alice");
  ASSERT_TRUE(ra.ok()) << ra.error().message();
  EXPECT_EQ(ra->response.mapped, alice->local_address());
  EXPECT_EQ(ra->response.lifetime_s, 20u);
  ASSERT_TRUE(register_as(*bob, "bob").ok());

  for (auto [initiator, target, self, peer] :
       {std::tuple{alice.get(), bob.get(), "alice", "bob"}, std::tuple{bob.get(), alice.get(), "bob", "alice"}}) {
    auto info = run(io_, initiator->connect(connect_req(self, peer)));
    ASSERT_TRUE(info.ok()) << info.error().message();
    EXPECT_EQ(info->peer.value, peer);
    EXPECT_EQ(info->peer_mapped, target->local_address());
    EXPECT_EQ(info->peer_locals, std::vector<SocketAddress>{target->local_address()});
    EXPECT_TRUE(info->initiator);

    auto other = run(io_, target->wait_peer_info(2000ms));
    ASSERT_TRUE(other.has_value()) << "the target never got its peer-info";
    EXPECT_EQ(other->peer.value, self);
    EXPECT_EQ(other->peer_mapped, initiator->local_address());
    EXPECT_FALSE(other->initiator);
    EXPECT_EQ(other->token, info->token);
  }
}

TEST_P(RendezvousLoopback, UnknownPeerIsRefusedWithAReason) {
  auto alice = test::make_client(io_, endpoint_);
  ASSERT_TRUE(register_as(*alice, "alice").ok());
  auto info = run(io_, alice->connect(connect_req("alice", "nobody")));
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.error().kind, ClientError::Kind::Rejected);
  EXPECT_EQ(info.error().code, 404);
  EXPECT_EQ(info.error().reason, "Unknown peer");
}

TEST_P(RendezvousLoopback, RegistrationsExpireUnlessRefreshed) {
  auto alice = test::make_client(io_, endpoint_);
  auto bob = test::make_client(io_, endpoint_);
  ASSERT_TRUE(register_as(*alice, "alice").ok());
  ASSERT_TRUE(register_as(*bob, "bob").ok());
  clock_.advance(15s);
  ASSERT_TRUE(register_as(*alice, "alice").ok());  // alice refreshes; bob does not
  clock_.advance(10s);                             // bob is 25 s old, TTL 20 s
  auto info = run(io_, alice->connect(connect_req("alice", "bob")));
  ASSERT_FALSE(info.ok());
  EXPECT_TRUE(info.error().code == 410 || info.error().code == 404) << info.error().message();
  EXPECT_EQ(server_->handler().registry().size(), 1u);
  // Re-registering brings bob back.
  ASSERT_TRUE(register_as(*bob, "bob").ok());
  EXPECT_TRUE(run(io_, alice->connect(connect_req("alice", "bob"))).ok());
}

TEST_P(RendezvousLoopback, LostRequestsAreRetransmittedAndDuplicatesAnsweredIdempotently) {
  auto bob = test::make_client(io_, endpoint_);
  ASSERT_TRUE(register_as(*bob, "bob").ok());
  // Alice talks through a forwarder that loses her first two requests and the server's first answer.
  test::LossyForwarder lossy(io_, endpoint_, 2, 0);
  auto alice = test::make_client(io_, lossy.endpoint());
  auto r = register_as(*alice, "alice");
  ASSERT_TRUE(r.ok()) << r.error().message();
  // Three sends of the first request, then one quoting the nonce its answer carried.
  EXPECT_EQ(alice->last_sends(), 4);
  EXPECT_EQ(lossy.dropped_to_server(), 2);

  // Carol's first connect answer is lost: she retransmits the same transaction, and the server
  // answers the duplicate with the same answer and sends bob the same peer-info again.
  test::LossyForwarder lose_answer(io_, endpoint_, 0, 0);
  auto carol = test::make_client(io_, lose_answer.endpoint());
  ASSERT_TRUE(register_as(*carol, "carol").ok());
  lose_answer.lose_next_to_client(1);
  auto info = run(io_, carol->connect(connect_req("carol", "bob")));
  ASSERT_TRUE(info.ok()) << info.error().message();
  EXPECT_EQ(carol->last_sends(), 2);
  EXPECT_EQ(lose_answer.dropped_to_client(), 1);
  EXPECT_EQ(server_->handler().counters().duplicate_requests, 1u);
  for (int i = 0; i < 2; ++i) {
    auto got = run(io_, bob->wait_peer_info(2000ms));
    ASSERT_TRUE(got.has_value()) << "peer-info " << i << " missing";
    EXPECT_EQ(got->token, info->token);
    EXPECT_EQ(got->peer.value, "carol");
  }
}

INSTANTIATE_TEST_SUITE_P(IPv4AndIPv6, RendezvousLoopback, ::testing::Values("127.0.0.1", "::1"),
                         [](const auto& info) { return std::string(info.param[0] == ':' ? "v6" : "v4"); });

}  // namespace
}  // namespace natpunch
