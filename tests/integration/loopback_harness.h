// Test harness for real sockets on loopback: an in-process rendezvous server with a clock the
// test can move, clients, a lossy forwarder, and a bounded way to run one coroutine.
#pragma once

#include <gtest/gtest.h>

#include <asio/ip/udp.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "io/awaitable.h"
#include "io/endpoint.h"
#include "io/rendezvous_client.h"
#include "io/rendezvous_server.h"
#include "wire/bytes.h"

namespace natpunch::test {

template <class T>
asio::awaitable<void> store(asio::awaitable<T> task, std::optional<T>& out) {
  out.emplace(co_await std::move(task));
}

// What run() throws when its task does not finish in time: GoogleTest reports the exception as a
// failure of the test and ends it there, so no caller can go on with a result that does not exist.
struct TaskTimedOut : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Runs the io_context until `task` completes and returns its result; fails the test (throws
// TaskTimedOut) when `limit` passes first.
template <class T>
T run(asio::io_context& io, asio::awaitable<T> task, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  std::optional<T> out;
  bool done = false;
  asio::co_spawn(io, store(std::move(task), out), [&](std::exception_ptr) { done = true; });
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done && std::chrono::steady_clock::now() < deadline) io.run_one_for(std::chrono::milliseconds(20));
  if (!out) {
    throw TaskTimedOut(done ? "the task ended without a result (it threw)"
                            : "the task did not finish within " + std::to_string(limit.count()) + " ms");
  }
  return std::move(*out);
}

struct ShiftableClock {
  std::shared_ptr<std::chrono::seconds> offset = std::make_shared<std::chrono::seconds>(0);
  std::function<TimePoint()> fn() const {
    return [o = offset] { return Clock::now() + *o; };
  }
  void advance(std::chrono::seconds s) { *offset += s; }
};

// Forwards datagrams between one client and the server, dropping the first N each way. inject()
// sends the client a datagram from the forwarder's address, which is the client's "server".
class LossyForwarder {
 public:
  LossyForwarder(asio::io_context& io, asio::ip::udp::endpoint server, int drop_to_server, int drop_to_client)
      : socket_(io, asio::ip::udp::endpoint(server.address(), 0)),
        server_(server),
        drop_to_server_(drop_to_server),
        drop_to_client_(drop_to_client) {
    asio::co_spawn(io, loop(), asio::detached);
  }
  asio::ip::udp::endpoint endpoint() const { return socket_.local_endpoint(); }
  int dropped_to_server() const { return dropped_to_server_; }
  int dropped_to_client() const { return dropped_to_client_; }
  void lose_next_to_client(int n) { drop_to_client_ = dropped_to_client_ + n; }
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
      bool to_server = from != server_;
      if (to_server) client_ = from;
      if (to_server && dropped_to_server_ < drop_to_server_) {
        ++dropped_to_server_;
        continue;
      }
      if (!to_server && dropped_to_client_ < drop_to_client_) {
        ++dropped_to_client_;
        continue;
      }
      asio::error_code sec;
      socket_.send_to(asio::buffer(buf.data(), n), to_server ? server_ : client_, 0, sec);
    }
  }
  asio::ip::udp::socket socket_;
  asio::ip::udp::endpoint server_;
  asio::ip::udp::endpoint client_;
  int drop_to_server_, drop_to_client_;
  int dropped_to_server_ = 0, dropped_to_client_ = 0;
};

inline RetransmitPolicy fast_policy() {
  return RetransmitPolicy{std::chrono::milliseconds(50), 7, 16, std::chrono::milliseconds(3000)};
}

inline std::unique_ptr<RendezvousClient> make_client(asio::io_context& io, asio::ip::udp::endpoint server,
                                                     RetransmitPolicy policy = fast_policy()) {
  auto s = open_socket(io, server, asio::ip::udp::endpoint(server.address(), 0));
  EXPECT_TRUE(s.ok());
  return std::make_unique<RendezvousClient>(std::move(*s), server, policy);
}

}  // namespace natpunch::test
