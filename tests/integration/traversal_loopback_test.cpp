// The traversal path over real sockets on loopback: the real server introduces two clients, both
// run the Puncher through the io driver at once, then a message crosses the path and is echoed.
#include "io/session_runner.h"
#include "io/traversal.h"
#include "loopback_harness.h"

namespace natpunch {
namespace {

using namespace std::chrono_literals;
using test::run;

class TraversalLoopback : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = RendezvousServer::create(io_, {*parse_socket_address("127.0.0.1:0")}, ServerConfig{}, ServerRunOptions{});
    ASSERT_TRUE(s.ok()) << s.error();
    server_ = std::move(*s);
    server_->start();
    endpoint_ = to_endpoint(server_->local_addresses().at(0));
  }
  void TearDown() override { server_->stop(); }

  asio::io_context io_;
  std::unique_ptr<RendezvousServer> server_;
  asio::ip::udp::endpoint endpoint_;
};

asio::awaitable<Path> punch(RendezvousClient& c, DeviceId self, PeerInfo info, TraversalOptions o) {
  NatBehavior open;
  open.behind_nat = false;
  co_return co_await punch_path(c, self, open, c.local_address(), info, o);
}

TEST_F(TraversalLoopback, BothSidesFindTheSamePathAndAMessageIsEchoed) {
  auto alice = test::make_client(io_, endpoint_);
  auto bob = test::make_client(io_, endpoint_);
  auto alice_id = *make_device_id(IdKind::UserName, "alice");
  auto bob_id = *make_device_id(IdKind::UserName, "bob");
  NatBehavior open;
  open.behind_nat = false;
  ASSERT_TRUE(run(io_, alice->register_device({alice_id, {alice->local_address()}, std::nullopt, open})).ok());
  ASSERT_TRUE(run(io_, bob->register_device({bob_id, {bob->local_address()}, std::nullopt, open})).ok());
  auto info_a = run(io_, alice->connect({alice_id, bob_id}));
  ASSERT_TRUE(info_a.ok()) << info_a.error().message();
  auto info_b = run(io_, bob->wait_peer_info(2000ms));
  ASSERT_TRUE(info_b.has_value());
  ASSERT_TRUE(info_b->peer_nat.has_value());
  EXPECT_FALSE(info_b->peer_nat->behind_nat);

  TraversalOptions options;
  std::optional<Path> pa, pb;
  asio::co_spawn(io_, test::store(punch(*alice, alice_id, *info_a, options), pa), asio::detached);
  asio::co_spawn(io_, test::store(punch(*bob, bob_id, *info_b, options), pb), asio::detached);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while ((!pa || !pb) && std::chrono::steady_clock::now() < deadline) io_.run_one_for(20ms);
  ASSERT_TRUE(pa && pb);
  ASSERT_TRUE(pa->outcome.ok) << pa->outcome.error;
  ASSERT_TRUE(pb->outcome.ok) << pb->outcome.error;
  EXPECT_EQ(pa->outcome.method, Method::Direct);
  EXPECT_EQ(pa->outcome.remote, bob->local_address());
  EXPECT_EQ(pb->outcome.remote, alice->local_address());

  // Bob serves the path over QUIC; alice (the QUIC client) pins bob's key, sends a message on a
  // stream, gets it back, and closes the session.
  auto alice_key = DeviceKey::generate();
  auto bob_key = DeviceKey::generate();
  SessionOptions bob_side;
  bob_side.key = &bob_key;
  bob_side.peer_key = alice_key.public_key();
  bob_side.keepalive = 1000ms;
  bob_side.idle_timeout = 5000ms;
  SessionOptions alice_side = bob_side;
  alice_side.key = &alice_key;
  alice_side.peer_key = bob_key.public_key();
  std::optional<SessionSummary> served;
  std::vector<std::string> seen;
  bool stopping = false;
  asio::co_spawn(io_,
                 test::store(run_server_session(
                                 path_socket(*pb, *bob), pb->outcome.remote, info_b->token, bob_side,
                                 [&](const std::string& t) { seen.push_back(t); }, stopping),
                             served),
                 asio::detached);
  auto result = run(io_, run_client_session(path_socket(*pa, *alice), pa->outcome.remote, info_a->token, alice_side,
                                            std::string("hello"), 5000ms));
  ASSERT_TRUE(result.error.empty()) << result.error;
  ASSERT_TRUE(result.reply.has_value());
  EXPECT_EQ(*result.reply, "hello");
  EXPECT_TRUE(result.summary.peer_authenticated);
  deadline = std::chrono::steady_clock::now() + 5s;
  while (!served && std::chrono::steady_clock::now() < deadline) io_.run_one_for(20ms);
  ASSERT_TRUE(served.has_value());
  EXPECT_EQ(served->ended, "closed by peer");
  EXPECT_TRUE(served->peer_authenticated);
  EXPECT_EQ(served->messages, 1u);
  EXPECT_EQ(seen, std::vector<std::string>{"hello"});
}

}  // namespace
}  // namespace natpunch
