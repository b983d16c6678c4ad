// natpunch's TURN client (src/relay/turn_client.h) against a real coturn relay on loopback. Run by
// interop_coturn_turn.sh, which starts coturn with a shared secret and passes TURN_SERVER
// (127.0.0.1:PORT) and TURN_SECRET. Each client owns one UDP socket; a small poll loop drives the
// engines (the io layer's job in natpunch proper).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <functional>
#include <memory>

#include "relay/turn_client.h"

namespace natpunch {
namespace {

using namespace std::chrono_literals;

SocketAddress env_server() {
  const char* s = std::getenv("TURN_SERVER");
  if (!s) throw std::runtime_error("TURN_SERVER is not set (run interop_coturn_turn.sh)");
  auto a = parse_socket_address(s);
  if (!a) throw std::runtime_error("TURN_SERVER is not IP:PORT");
  return *a;
}
std::string env_secret() {
  const char* s = std::getenv("TURN_SECRET");
  if (!s) throw std::runtime_error("TURN_SECRET is not set (run interop_coturn_turn.sh)");
  return s;
}

// A TURN client and the UDP socket it owns.
struct Endpoint {
  int fd = -1;
  SocketAddress local;
  std::unique_ptr<TurnClient> turn;
  SocketAddress server;

  Endpoint(SocketAddress srv, turn::Credentials creds) : server(srv) {
    fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    local = SocketAddress::v4({127, 0, 0, 1}, ntohs(a.sin_port));
    TurnConfig c;
    c.server = srv;
    c.credentials = std::move(creds);
    c.lifetime = std::chrono::seconds(300);
    turn = std::make_unique<TurnClient>(c);
  }
  ~Endpoint() { ::close(fd); }

  void send(const std::vector<Bytes>& out) {
    for (const auto& b : out) {
      sockaddr_in to{};
      to.sin_family = AF_INET;
      to.sin_port = htons(server.port);
      std::memcpy(&to.sin_addr, server.ip.data(), 4);
      ::sendto(fd, b.data(), b.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    }
  }
  // TURN_CAPTURE=FILE appends every datagram from coturn in fuzz_turn_client's framing (2-byte
  // length + bytes): how tests/fuzz/corpus/turn_client/ was made.
  static void capture(ByteView d) {
    const char* path = std::getenv("TURN_CAPTURE");
    if (!path) return;
    if (FILE* f = std::fopen(path, "ab")) {
      unsigned char len[2] = {static_cast<unsigned char>(d.size() >> 8), static_cast<unsigned char>(d.size())};
      std::fwrite(len, 1, 2, f);
      std::fwrite(d.data(), 1, d.size(), f);
      std::fclose(f);
    }
  }
  // Reads what is waiting and runs due timers.
  void pump() {
    std::array<std::byte, 2048> buf{};
    for (;;) {
      auto n = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
      if (n <= 0) break;
      capture(ByteView(buf.data(), static_cast<std::size_t>(n)));
      send(turn->on_datagram(ByteView(buf.data(), static_cast<std::size_t>(n)), Clock::now()));
    }
    if (auto d = turn->next_deadline(); d && Clock::now() >= *d) send(turn->on_timer(Clock::now()));
  }
};

// Drives the endpoints until `done` or 10 s.
bool run_until(std::vector<Endpoint*> eps, const std::function<bool()>& done) {
  auto end = Clock::now() + 10s;
  while (Clock::now() < end) {
    for (auto* e : eps) e->pump();
    if (done()) return true;
    std::vector<pollfd> fds;
    for (auto* e : eps) fds.push_back({e->fd, POLLIN, 0});
    ::poll(fds.data(), fds.size(), 10);
  }
  return done();
}

turn::Credentials creds(const std::string& id) {
  return turn::rest_credentials(env_secret(), id, static_cast<std::int64_t>(std::time(nullptr)) + 3600);
}

TEST(TurnInterop, TwoClientsAllocateAndExchangeDataThroughCoturnBothWays) {
  auto server = env_server();
  Endpoint a(server, creds("alice")), b(server, creds("bob"));
  a.send(a.turn->start(Clock::now()));
  b.send(b.turn->start(Clock::now()));
  ASSERT_TRUE(run_until({&a, &b}, [&] {
    return a.turn->state() != TurnClient::State::Allocating && b.turn->state() != TurnClient::State::Allocating;
  }));
  ASSERT_EQ(a.turn->state(), TurnClient::State::Allocated) << a.turn->error();
  ASSERT_EQ(b.turn->state(), TurnClient::State::Allocated) << b.turn->error();
  ASSERT_TRUE(a.turn->relayed() && b.turn->relayed());
  EXPECT_EQ(a.turn->relayed()->ip_string(), "127.0.0.1");
  EXPECT_NE(*a.turn->relayed(), *b.turn->relayed());
  ASSERT_TRUE(a.turn->mapped().has_value());
  EXPECT_EQ(*a.turn->mapped(), a.local);  // loopback: no NAT between us and coturn
  EXPECT_GT(a.turn->lifetime().count(), 0);

  auto ra = *a.turn->relayed(), rb = *b.turn->relayed();
  a.send(a.turn->add_peer(rb, Clock::now()));
  b.send(b.turn->add_peer(ra, Clock::now()));
  ASSERT_TRUE(run_until({&a, &b}, [&] { return a.turn->channel_bound(rb) && b.turn->channel_bound(ra); }))
      << a.turn->error() << " / " << b.turn->error();

  std::vector<RelayedDatagram> got_a, got_b;
  for (int i = 0; i < 20; ++i) {
    std::string m = "a->b " + std::to_string(i);
    auto d = a.turn->send(rb, as_bytes(m));
    ASSERT_TRUE(d) << d.error();
    EXPECT_EQ(static_cast<std::uint8_t>((*d)[0]) & 0xC0, 0x40);  // ChannelData once bound
    a.send({*d});
  }
  ASSERT_TRUE(run_until({&a, &b}, [&] {
    for (auto& r : b.turn->take_received()) got_b.push_back(std::move(r));
    return got_b.size() >= 20;
  }));
  EXPECT_EQ(got_b.front().peer, ra);  // the data arrives from alice's relayed address
  EXPECT_EQ(std::string(as_text(got_b.front().data)), "a->b 0");
  auto reply = b.turn->send(ra, as_bytes(std::string("b->a")));
  ASSERT_TRUE(reply);
  b.send({*reply});
  ASSERT_TRUE(run_until({&a, &b}, [&] {
    for (auto& r : a.turn->take_received()) got_a.push_back(std::move(r));
    return !got_a.empty();
  }));
  EXPECT_EQ(got_a.front().peer, rb);
  EXPECT_EQ(std::string(as_text(got_a.front().data)), "b->a");

  // Data for an address without a permission is refused locally (coturn would drop it).
  EXPECT_FALSE(a.turn->send(SocketAddress::v4({127, 0, 0, 1}, 9), as_bytes(std::string("x"))));
  a.send(a.turn->close(Clock::now()));
  b.send(b.turn->close(Clock::now()));
  EXPECT_EQ(a.turn->state(), TurnClient::State::Closed);
}

TEST(TurnInterop, WrongCredentialsAreRefusedWithAClearError) {
  auto server = env_server();
  auto bad = creds("mallory");
  bad.password = "not-the-password";
  Endpoint m(server, bad);
  m.send(m.turn->start(Clock::now()));
  ASSERT_TRUE(run_until({&m}, [&] { return m.turn->state() != TurnClient::State::Allocating; }));
  EXPECT_EQ(m.turn->state(), TurnClient::State::Failed);
  EXPECT_NE(m.turn->error().find("401"), std::string::npos) << m.turn->error();
  EXPECT_NE(m.turn->error().find("credentials"), std::string::npos) << m.turn->error();
}

TEST(TurnInterop, ExpiredSharedSecretCredentialsAreRefused) {
  auto server = env_server();
  auto old = turn::rest_credentials(env_secret(), "late", static_cast<std::int64_t>(std::time(nullptr)) - 60);
  Endpoint m(server, old);
  m.send(m.turn->start(Clock::now()));
  ASSERT_TRUE(run_until({&m}, [&] { return m.turn->state() != TurnClient::State::Allocating; }));
  EXPECT_EQ(m.turn->state(), TurnClient::State::Failed) << "coturn accepted an expired REST username";
}

}  // namespace
}  // namespace natpunch
