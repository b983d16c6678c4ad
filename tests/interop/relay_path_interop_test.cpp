// The io layer's relayed path (src/io/relay_path.h) against a real coturn on loopback: a QUIC
// session through a TURN allocation, the far side on a plain UDP socket talking to the relayed
// address as any peer would. Run by interop_coturn_relay_path.sh, which starts coturn with a shared
// secret (and --allow-loopback-peers, so the relay may reach 127.0.0.1) and passes TURN_SERVER and
// TURN_SECRET. Every wait is bounded.
#include <gtest/gtest.h>

#include <asio/ip/udp.hpp>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <optional>

#include "io/awaitable.h"
#include "io/endpoint.h"
#include "io/relay_path.h"
#include "io/session_driver.h"
#include "io/session_runner.h"
#include "io/socket_path.h"

namespace natpunch {
namespace {

using asio::ip::udp;
using namespace std::chrono_literals;
using std::chrono::milliseconds;

SocketAddress env_server() {
  const char* s = std::getenv("TURN_SERVER");
  if (!s) throw std::runtime_error("TURN_SERVER is not set (run interop_coturn_relay_path.sh)");
  auto a = parse_socket_address(s);
  if (!a) throw std::runtime_error("TURN_SERVER is not IP:PORT");
  return *a;
}

TurnConfig turn_config(const std::string& id, bool right_password = true) {
  const char* secret = std::getenv("TURN_SECRET");
  if (!secret) throw std::runtime_error("TURN_SECRET is not set (run interop_coturn_relay_path.sh)");
  TurnConfig c;
  c.server = env_server();
  c.credentials = turn::rest_credentials(secret, id, static_cast<std::int64_t>(std::time(nullptr)) + 3600);
  if (!right_password) c.credentials.password = "not-the-password";
  c.lifetime = std::chrono::seconds(300);
  return c;
}

udp::socket loopback_socket(asio::io_context& io) {
  return udp::socket(io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
}

// Runs `io` until `done()` or `limit` (an io_context with no work left stops: restart it first).
bool run_until(asio::io_context& io, const std::function<bool()>& done, milliseconds limit) {
  auto deadline = Clock::now() + limit;
  while (!done() && Clock::now() < deadline) {
    if (io.stopped()) io.restart();
    io.run_one_for(20ms);
  }
  return done();
}

// Runs `task` on `io` until it completes or `limit` passes (then the test fails).
template <class T>
std::optional<T> run(asio::io_context& io, asio::awaitable<T> task, milliseconds limit = 20s) {
  std::optional<T> out;
  bool done = false;
  auto store = [&](asio::awaitable<T> t) -> asio::awaitable<void> { out.emplace(co_await std::move(t)); };
  asio::co_spawn(io, store(std::move(task)), [&](std::exception_ptr) { done = true; });
  EXPECT_TRUE(run_until(
      io, [&] { return done; }, limit))
      << "task did not finish within its bound";
  return out;
}

struct Keys {
  DeviceKey client = DeviceKey::generate();
  DeviceKey server = DeviceKey::generate();
  SessionOptions client_side() const {
    SessionOptions o;
    o.key = &client;
    o.peer_key = server.public_key();
    o.keepalive = 0ms;
    return o;
  }
  SessionOptions server_side() const {
    SessionOptions o;
    o.key = &server;
    o.peer_key = client.public_key();
    o.keepalive = 0ms;
    o.idle_timeout = 5000ms;
    return o;
  }
};

const AttemptToken kNoToken{};  // no punching happened: no late probes to answer

// Allocates on coturn and permits `peer`'s IP; the relayed address.
asio::awaitable<Result<SocketAddress, std::string>> allocate_and_permit(RelayPath& relay, TurnConfig config,
                                                                        SocketAddress peer) {
  auto relayed = co_await relay.allocate(std::move(config), Clock::now() + 5s);
  if (!relayed) co_return relayed;
  auto permitted = co_await relay.permit(peer, Clock::now() + 5s);
  if (!permitted) co_return fail(permitted.error());
  co_return relayed;
}

TEST(RelayPathInterop, QuicClientThroughTheRelayEchoesWithAServerOnAPlainSocket) {
  asio::io_context io;
  Keys keys;
  RelayPath relay(io.get_executor());
  auto server_sock = loopback_socket(io);
  auto server_addr = from_endpoint(server_sock.local_endpoint());
  auto relayed = run(io, allocate_and_permit(relay, turn_config("relay-client"), server_addr));
  ASSERT_TRUE(relayed && *relayed) << (relayed ? relayed->error() : "");
  const SocketAddress relayed_addr = **relayed;
  EXPECT_EQ(relay.local(), relayed_addr);
  EXPECT_EQ(relayed_addr.ip_string(), "127.0.0.1");
  EXPECT_NE(relayed_addr.port, env_server().port);

  // The server is told the relayed address, as a peer-info would tell it the client's mapping.
  std::optional<SessionSummary> server;
  bool stopping = false;
  std::string heard;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        server = co_await run_server_session(
            server_sock, relayed_addr, kNoToken, keys.server_side(), [&](const std::string& m) { heard = m; },
            stopping);
      },
      asio::detached);
  auto client = run(
      io, run_client_session(relay, server_addr, kNoToken, keys.client_side(), std::string("through the relay"), 10s));
  ASSERT_TRUE(client);
  EXPECT_EQ(client->error, "");
  EXPECT_TRUE(client->summary.established);
  EXPECT_TRUE(client->summary.peer_authenticated);
  ASSERT_TRUE(client->reply);
  EXPECT_EQ(*client->reply, "through the relay");
  // The server hears the close through the relay and ends.
  run_until(
      io, [&] { return server.has_value(); }, 5s);
  ASSERT_TRUE(server) << "the server session did not end after the client closed";
  EXPECT_EQ(heard, "through the relay");
  EXPECT_TRUE(server->established);
  EXPECT_EQ(server->ended, "closed by peer");
  // The first packets went as Send indications; the channel carried the rest.
  EXPECT_TRUE(relay.turn()->channel_bound(server_addr));
  EXPECT_GT(relay.stats().sent, 0u);
  EXPECT_GT(relay.stats().received, 0u);
  EXPECT_EQ(relay.stats().dropped_out, 0u);
  relay.close();
  EXPECT_EQ(relay.turn()->state(), TurnClient::State::Closed);
}

TEST(RelayPathInterop, BurstOfDatagramsThroughTheRelayIsCountedOnArrival) {
  constexpr int kBurst = 200;
  asio::io_context io;
  Keys keys;
  RelayPath relay(io.get_executor());
  auto server_sock = loopback_socket(io);
  auto server_addr = from_endpoint(server_sock.local_endpoint());
  auto relayed = run(io, allocate_and_permit(relay, turn_config("relay-burst"), server_addr));
  ASSERT_TRUE(relayed && *relayed) << (relayed ? relayed->error() : "");

  // Server: counts DATAGRAM frames, echoes the message that follows them.
  int arrived = 0;
  std::uint64_t server_sent = 0;
  bool server_done = false, stopping = false;
  auto server_cfg = SessionConfig{};
  server_cfg.role = SessionRole::Server;
  server_cfg.local = server_addr;
  server_cfg.remote = **relayed;
  server_cfg.peer_key = keys.client.public_key();
  server_cfg.keepalive = 0ms;
  auto server = QuicSession::create(server_cfg, &keys.server, Clock::now());
  ASSERT_TRUE(server) << server.error();
  SocketPath server_path(server_sock);
  const auto never = TimePoint::max();
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await drive_session(server_path, **server, kNoToken, never, never, stopping, server_sent,
                               [&](const SessionEvent& e) -> std::vector<OutPacket> {
                                 if (e.kind == SessionEvent::Kind::Datagram) ++arrived;
                                 if (e.kind == SessionEvent::Kind::Message) (*server)->reply(e.stream, e.data);
                                 return {};
                               });
        server_done = true;
      },
      asio::detached);

  // Client: on establishment, the burst (1000 bytes each, numbered) and then a message.
  auto client_cfg = SessionConfig{};
  client_cfg.role = SessionRole::Client;
  client_cfg.local = relay.local();
  client_cfg.remote = server_addr;
  client_cfg.peer_key = keys.server.public_key();
  client_cfg.keepalive = 0ms;
  auto client = QuicSession::create(client_cfg, &keys.client, Clock::now());
  ASSERT_TRUE(client) << client.error();
  std::uint64_t client_sent = 0;
  int queued = 0;
  bool echoed = false;
  auto hard_end = Clock::now() + 15s;
  auto close_at = TimePoint::max();
  const SessionStep client_step = [&](const SessionEvent& e) -> std::vector<OutPacket> {
    if (e.kind == SessionEvent::Kind::Established) {
      for (int i = 0; i < kBurst; ++i) {
        Bytes d(1000, std::byte{static_cast<std::uint8_t>(i)});
        if ((*client)->send_datagram(d)) ++queued;
      }
      (void)(*client)->send_message(as_bytes("after the burst"));
    } else if (e.kind == SessionEvent::Kind::Message) {
      echoed = true;
      close_at = Clock::now() + 300ms;  // let the last datagrams land
    }
    return {};
  };
  auto wrap = [&]() -> asio::awaitable<bool> {
    co_await drive_session(relay, **client, kNoToken, hard_end, close_at, stopping, client_sent, client_step);
    co_return true;
  };
  ASSERT_TRUE(run(io, wrap()));
  run_until(
      io, [&] { return server_done; }, 5s);
  EXPECT_TRUE(server_done);
  EXPECT_TRUE(echoed);
  EXPECT_EQ(queued, kBurst);
  // Loopback through coturn loses nothing; DATAGRAM frames are never retransmitted, so all of
  // them arriving shows the relay carried every packet.
  EXPECT_EQ(arrived, kBurst) << "DATAGRAM frames lost through the relay";
  std::printf("[relay burst] %d/%d DATAGRAMs arrived; relay sent %llu, received %llu, dropped in %llu out %llu\n",
              arrived, kBurst, static_cast<unsigned long long>(relay.stats().sent),
              static_cast<unsigned long long>(relay.stats().received),
              static_cast<unsigned long long>(relay.stats().dropped_in),
              static_cast<unsigned long long>(relay.stats().dropped_out));
}

TEST(RelayPathInterop, PeerFromAnUnannouncedPortOfAPermittedIpIsAnsweredAndGetsAChannel) {
  // The relay side is the QUIC server and only knows the peer's IP (a symmetric NAT's port is
  // unknowable in advance); the peer's socket is opened after the permission.
  asio::io_context io;
  Keys keys;
  RelayPath relay(io.get_executor());
  auto ip_only = SocketAddress::v4({127, 0, 0, 1}, 0);
  auto relayed = run(io, allocate_and_permit(relay, turn_config("relay-server"), ip_only));
  ASSERT_TRUE(relayed && *relayed) << (relayed ? relayed->error() : "");
  auto peer_sock = loopback_socket(io);
  auto peer_addr = from_endpoint(peer_sock.local_endpoint());

  std::optional<SessionSummary> server;
  bool stopping = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        server = co_await run_server_session(relay, ip_only, kNoToken, keys.server_side(), nullptr, stopping);
      },
      asio::detached);
  auto client = run(io, run_client_session(peer_sock, **relayed, kNoToken, keys.client_side(),
                                           std::string("from a port nobody announced"), 10s));
  ASSERT_TRUE(client);
  EXPECT_EQ(client->error, "");
  ASSERT_TRUE(client->reply);
  EXPECT_EQ(*client->reply, "from a port nobody announced");
  run_until(
      io, [&] { return server.has_value(); }, 5s);
  ASSERT_TRUE(server);
  EXPECT_EQ(server->messages, 1u);
  EXPECT_TRUE(relay.turn()->channel_bound(peer_addr)) << "no channel was bound for the observed address";
  EXPECT_TRUE(relay.turn()->permitted(SocketAddress::v4({127, 0, 0, 1}, 1)));
}

TEST(RelayPathInterop, WrongCredentialsFailClearlyAndQuickly) {
  asio::io_context io;
  RelayPath relay(io.get_executor());
  auto started = Clock::now();
  auto r = run(io, relay.allocate(turn_config("mallory", false), Clock::now() + 5s));
  ASSERT_TRUE(r);
  ASSERT_FALSE(*r);
  EXPECT_NE(r->error().find("401"), std::string::npos) << r->error();
  EXPECT_NE(r->error().find("credentials"), std::string::npos) << r->error();
  // Ordering, not a stopwatch: the refusal ends the wait well before its 5 s deadline.
  EXPECT_LT(Clock::now() - started, 4s) << "a refusal should not wait for the deadline";
  auto closed = run(io, relay.receive(Clock::now() + 100ms));
  ASSERT_TRUE(closed);
  EXPECT_EQ(closed->status, PathReceive::Status::Closed);
  EXPECT_FALSE(relay.send(SocketAddress::v4({127, 0, 0, 1}, 9), as_bytes("x")));
}

TEST(RelayPathInterop, UnreachableAndSilentServersFailInBoundedTime) {
  asio::io_context io;
  // Nobody on this port: the kernel answers with ICMP port unreachable.
  SocketAddress closed_port;
  {
    auto s = loopback_socket(io);
    closed_port = from_endpoint(s.local_endpoint());
  }
  auto config = turn_config("nobody");
  config.server = closed_port;
  RelayPath unreachable(io.get_executor());
  auto started = Clock::now();
  auto r = run(io, unreachable.allocate(config, Clock::now() + 3s));
  ASSERT_TRUE(r && !*r);
  EXPECT_NE(r->error().find("unreachable"), std::string::npos) << r->error();
  EXPECT_LT(Clock::now() - started, 3s) << "the ICMP error should end the wait before its deadline";

  // A socket that never answers: the deadline ends the wait.
  auto silent_sock = loopback_socket(io);
  config.server = from_endpoint(silent_sock.local_endpoint());
  RelayPath silent(io.get_executor());
  started = Clock::now();
  r = run(io, silent.allocate(config, Clock::now() + 1s));
  ASSERT_TRUE(r && !*r);
  EXPECT_NE(r->error().find("no answer"), std::string::npos) << r->error();
  // The 1 s deadline ends the wait; the bound leaves room for a loaded 2-core machine.
  EXPECT_LT(Clock::now() - started, 5s);
}

}  // namespace
}  // namespace natpunch
