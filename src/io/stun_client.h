// Client side of a STUN transaction over UDP (RFC 8489 §6.2.1): send, retransmit on the RFC
// schedule, match the response by transaction ID. Owns its socket. Datagrams that are not the
// awaited response go to `on_other` (e.g. a peer-info indication arriving meanwhile).
#pragma once

#include <asio/ip/udp.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <functional>

#include "io/awaitable.h"
#include "wire/message.h"
#include "wire/random_source.h"
#include "wire/retransmit.h"

namespace natpunch {

struct TransactionOutcome {
  Bytes response;  // a STUN success or error response with the request's transaction ID
  asio::ip::udp::endpoint from;
  int sends = 0;
  std::chrono::microseconds rtt{0};  // from the last send before the answer
};

enum class TransactionError { Timeout, SocketError };

class StunClient {
 public:
  explicit StunClient(asio::ip::udp::socket socket);

  asio::awaitable<Result<TransactionOutcome, TransactionError>> transact(asio::ip::udp::endpoint server,
                                                                       Bytes request, TransactionId txid,
                                                                       RetransmitPolicy policy);
  // Waits up to `timeout` for one datagram that is not a response we are waiting for and hands it
  // to on_other. Returns false on timeout.
  asio::awaitable<bool> receive_other(std::chrono::milliseconds timeout);

  asio::ip::udp::socket& socket() { return socket_; }
  const asio::ip::udp::socket& socket() const { return socket_; }
  std::function<void(ByteView, const asio::ip::udp::endpoint&)> on_other;

 private:
  asio::ip::udp::socket socket_;
  asio::steady_timer timer_;
};

}  // namespace natpunch
