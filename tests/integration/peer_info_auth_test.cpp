// A signing agent's peer-infos are authenticated by the nonce it registered with: the server echoes
// it, and a peer-info "from the server" without it (spoofed by an off-path sender) is dropped and
// counted. End to end over loopback: the agent talks to the real server through the harness's
// forwarder, which can also inject datagrams from the server's address as the agent sees it.
#include "identity/device_key.h"
#include "loopback_harness.h"
#include "wire/control_messages.h"

namespace natpunch {
namespace {

using namespace std::chrono_literals;
using test::run;

TEST(PeerInfoAuth, ASpoofedPeerInfoIsDroppedAndTheServersIsDelivered) {
  asio::io_context io;
  ServerConfig config;
  auto s = RendezvousServer::create(io, {*parse_ip("127.0.0.1", 0)}, config, ServerRunOptions{});
  ASSERT_TRUE(s.ok()) << s.error();
  auto server = std::move(*s);
  server->start();
  auto endpoint = to_endpoint(server->local_addresses().at(0));
  test::LossyForwarder relay(io, endpoint, 0, 0);  // forwards everything; can inject

  auto home_key = DeviceKey::generate();
  auto home = test::make_client(io, relay.endpoint());
  home->set_key(&home_key);
  auto home_id = *make_device_id(IdKind::UserName, "home");
  auto phone_id = *make_device_id(IdKind::UserName, "phone");
  RegisterRequest reg{home_id, {home->local_address()}, std::nullopt, std::nullopt, AllowList{false, {phone_id}}};
  auto r = run(io, home->register_device(reg));
  ASSERT_TRUE(r.ok()) << r.error().message();

  // A forged peer-info pointing home at a victim, from the address home knows as its server.
  PeerInfo forged{phone_id, *parse_socket_address("192.0.2.99:9"), {}, AttemptToken{}, false, std::nullopt};
  relay.inject(encode_peer_info(forged, stun::MessageClass::Indication, stun::method::kPeerInfo, TransactionId{}));
  forged.nonce = "guessed";
  relay.inject(encode_peer_info(forged, stun::MessageClass::Indication, stun::method::kPeerInfo, TransactionId{}));
  auto nothing = run(io, home->wait_peer_info(300ms));
  EXPECT_FALSE(nothing.has_value()) << "a spoofed peer-info was accepted";
  EXPECT_EQ(home->unauthenticated_peer_infos(), 2u);

  // The server's own peer-info (phone asks for home) carries home's nonce and is delivered.
  auto phone = test::make_client(io, endpoint);
  RegisterRequest phone_reg{phone_id, {phone->local_address()}, std::nullopt};
  ASSERT_TRUE((run(io, phone->register_device(phone_reg))).ok());
  const ConnectRequest req{phone_id, home_id};
  auto info = run(io, phone->connect(req));
  ASSERT_TRUE(info.ok()) << info.error().message();
  auto delivered = run(io, home->wait_peer_info(2000ms));
  ASSERT_TRUE(delivered.has_value()) << "the server's peer-info was dropped";
  EXPECT_EQ(delivered->peer.value, "phone");
  EXPECT_EQ(delivered->token, info->token);
  EXPECT_EQ(home->unauthenticated_peer_infos(), 2u);
  relay.close();
  server->stop();
}

}  // namespace
}  // namespace natpunch
