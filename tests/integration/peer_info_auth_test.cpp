// A signing agent's peer-infos are authenticated by the nonce it registered with: the server echoes
// it, and a peer-info "from the server" without it (spoofed by an off-path sender) is dropped and
// counted. End to end over loopback: the agent talks to the real server through a relay that can
// also inject datagrams from the server's address as the agent sees it.
#include "identity/device_key.h"
#include "loopback_harness.h"
#include "wire/control_messages.h"

namespace natpunch {
namespace {

using namespace std::chrono_literals;
using test::run;

// Relays between one client and the server; `inject` sends to the client from the relay's address,
// which is the client's "server".
class InjectingRelay {
 public:
  InjectingRelay(asio::io_context& io, asio::ip::udp::endpoint server)
      : socket_(io, asio::ip::udp::endpoint(server.address(), 0)), server_(server) {
    asio::co_spawn(io, loop(), asio::detached);
  }
  asio::ip::udp::endpoint endpoint() const { return socket_.local_endpoint(); }
  void inject(const Bytes& b) {
    asio::error_code ec;
    socket_.send_to(asio::buffer(b), client_, 0, ec);
  }
  void close() { socket_.close(); }

 private:
  asio::awaitable<void> loop() {
    std::array<std::byte, 2048> buf{};
    asio::ip::udp::endpoint from;
    for (;;) {
      auto [ec, n] = co_await socket_.async_receive_from(asio::buffer(buf), from, use_nothrow);
      if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) co_return;
      if (ec) continue;
      const bool to_server = from != server_;
      if (to_server) client_ = from;
      asio::error_code sec;
      socket_.send_to(asio::buffer(buf.data(), n), to_server ? server_ : client_, 0, sec);
    }
  }
  asio::ip::udp::socket socket_;
  asio::ip::udp::endpoint server_;
  asio::ip::udp::endpoint client_;
};

TEST(PeerInfoAuth, ASpoofedPeerInfoIsDroppedAndTheServersIsDelivered) {
  asio::io_context io;
  ServerConfig config;
  auto s = RendezvousServer::create(io, {*parse_ip("127.0.0.1", 0)}, config, ServerRunOptions{});
  ASSERT_TRUE(s.ok()) << s.error();
  auto server = std::move(*s);
  server->start();
  auto endpoint = to_endpoint(server->local_addresses().at(0));
  InjectingRelay relay(io, endpoint);

  auto home_key = DeviceKey::generate();
  auto home = test::make_client(io, relay.endpoint());
  home->set_key(&home_key);
  auto home_id = *make_device_id(IdKind::UserName, "home");
  auto phone_id = *make_device_id(IdKind::UserName, "phone");
  RegisterRequest reg{home_id, {home->local_address()}, std::nullopt, std::nullopt, AllowList{false, {phone_id}}};
  auto r = *run(io, home->register_device(reg));
  ASSERT_TRUE(r.ok()) << r.error().message();

  // A forged peer-info pointing home at a victim, from the address home knows as its server.
  PeerInfo forged{phone_id, *parse_socket_address("192.0.2.99:9"), {}, AttemptToken{}, false, std::nullopt};
  relay.inject(encode_peer_info(forged, stun::MessageClass::Indication, stun::method::kPeerInfo, TransactionId{}));
  forged.nonce = "guessed";
  relay.inject(encode_peer_info(forged, stun::MessageClass::Indication, stun::method::kPeerInfo, TransactionId{}));
  auto nothing = *run(io, home->wait_peer_info(300ms));
  EXPECT_FALSE(nothing.has_value()) << "a spoofed peer-info was accepted";
  EXPECT_EQ(home->unauthenticated_peer_infos(), 2u);

  // The server's own peer-info (phone asks for home) carries home's nonce and is delivered.
  auto phone = test::make_client(io, endpoint);
  RegisterRequest phone_reg{phone_id, {phone->local_address()}, std::nullopt};
  ASSERT_TRUE((*run(io, phone->register_device(phone_reg))).ok());
  const ConnectRequest req{phone_id, home_id};
  auto info = *run(io, phone->connect(req));
  ASSERT_TRUE(info.ok()) << info.error().message();
  auto delivered = *run(io, home->wait_peer_info(2000ms));
  ASSERT_TRUE(delivered.has_value()) << "the server's peer-info was dropped";
  EXPECT_EQ(delivered->peer.value, "phone");
  EXPECT_EQ(delivered->token, info->token);
  EXPECT_EQ(home->unauthenticated_peer_infos(), 2u);
  relay.close();
  server->stop();
}

}  // namespace
}  // namespace natpunch
