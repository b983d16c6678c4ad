// io/open_service_socket on loopback, real sockets: of a service's addresses, the one that answers
// a Binding is used, whichever place it has; with none answering the first is kept, within the
// bound; --bind's family filters the addresses. The answering server is a plain UDP socket on its
// own thread that answers Binding requests (every wait bounded).
#include "io/service_socket.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "io/endpoint.h"
#include "wire/builder.h"
#include "wire/message.h"

namespace natpunch {
namespace {

using asio::ip::udp;
using namespace std::chrono_literals;

// Answers Binding requests on 127.0.0.1 (an ephemeral port) until destroyed.
class BindingAnswerer {
 public:
  BindingAnswerer() : socket_(io_, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    socket_.non_blocking(true);
    thread_ = std::thread([this] { serve(); });
  }
  ~BindingAnswerer() {
    stop_ = true;
    thread_.join();
  }
  udp::endpoint endpoint() const { return socket_.local_endpoint(); }
  int answered() const { return answered_; }

 private:
  void serve() {
    std::array<std::byte, 1500> buf{};
    auto until = std::chrono::steady_clock::now() + 30s;  // bounded whatever the test does
    while (!stop_ && std::chrono::steady_clock::now() < until) {
      udp::endpoint from;
      asio::error_code ec;
      auto n = socket_.receive_from(asio::buffer(buf), from, 0, ec);
      if (ec) {
        std::this_thread::sleep_for(2ms);
        continue;
      }
      auto m = parse_message(ByteView(buf.data(), n));
      if (!m || m->method() != stun::method::kBinding || m->cls() != stun::MessageClass::Request) continue;
      MessageBuilder b(stun::method::kBinding, stun::MessageClass::Success, m->transaction);
      b.add_xor_address(stun::attr::kXorMappedAddress, from_endpoint(from));
      auto out = b.finish();
      socket_.send_to(asio::buffer(out), from, 0, ec);
      ++answered_;
    }
  }
  asio::io_context io_;
  udp::socket socket_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> answered_{0};
};

// A loopback port nobody listens on (bound, then closed).
udp::endpoint dead_endpoint(asio::io_context& io) {
  udp::socket s(io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  auto e = s.local_endpoint();
  s.close();
  return e;
}

// 127.0.0.2 is loopback too but nothing is bound there: silence rather than ICMP.
udp::endpoint silent_endpoint() { return udp::endpoint(asio::ip::make_address("127.0.0.2"), 9); }

TEST(ServiceSocket, TheAddressThatAnswersIsUsedEvenWhenItComesLast) {
  asio::io_context io;
  BindingAnswerer server;
  auto t0 = std::chrono::steady_clock::now();
  auto s = open_service_socket(io, {silent_endpoint(), dead_endpoint(io), server.endpoint()}, std::nullopt);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->server, server.endpoint());
  EXPECT_TRUE(s->answered);
  EXPECT_EQ(s->candidates, 3u);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);  // the bound, not a timing figure
  // The socket handed over is open and blocking again, as the event loop expects.
  ASSERT_TRUE(s->socket.is_open());
  EXPECT_FALSE(s->socket.non_blocking());
}

TEST(ServiceSocket, WithTheAnsweringAddressFirstTheOthersAreNeverAsked) {
  asio::io_context io;
  BindingAnswerer server;
  BindingAnswerer other;
  auto s = open_service_socket(io, {server.endpoint(), other.endpoint()}, std::nullopt);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->server, server.endpoint());
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(other.answered(), 0);  // loopback answers well within the 250 ms stagger
}

TEST(ServiceSocket, WithNoAnswerTheFirstAddressIsKeptWithinTheBound) {
  asio::io_context io;
  auto first = silent_endpoint();
  auto t0 = std::chrono::steady_clock::now();
  ServiceSelector::Timing timing;
  timing.limit = 600ms;
  auto s = open_service_socket(io, {first, dead_endpoint(io)}, std::nullopt, timing);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->server, first);
  EXPECT_FALSE(s->answered);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
}

TEST(ServiceSocket, OneAddressOpensWithoutAProbe) {
  asio::io_context io;
  BindingAnswerer server;
  auto s = open_service_socket(io, {server.endpoint()}, std::nullopt);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->server, server.endpoint());
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(server.answered(), 0);
}

TEST(ServiceSocket, BindsFamilyFiltersTheAddresses) {
  asio::io_context io;
  BindingAnswerer server;
  udp::endpoint v6(asio::ip::make_address("2001:db8::1"), 3478);
  auto bind4 = udp::endpoint(asio::ip::make_address("127.0.0.1"), 0);
  // The IPv6 address is not tried from an IPv4 --bind: the IPv4 one is used without a probe.
  auto s = open_service_socket(io, {v6, server.endpoint()}, bind4);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->server, server.endpoint());
  EXPECT_EQ(s->candidates, 1u);
  // Only IPv6 addresses for an IPv4 --bind: a clear error.
  auto none = open_service_socket(io, {v6}, bind4);
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("no IPv4 address"), std::string::npos) << none.error().message;
}

}  // namespace
}  // namespace natpunch
