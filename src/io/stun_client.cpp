#include "io/stun_client.h"

#include <array>
#include <cstring>

namespace natpunch {

using asio::ip::udp;
using std::chrono::steady_clock;

StunClient::StunClient(udp::socket socket) : socket_(std::move(socket)), timer_(socket_.get_executor()) {}

static bool is_response_to(ByteView d, const TransactionId& txid) {
  if (!looks_like_stun(d)) return false;
  auto type = static_cast<std::uint16_t>(static_cast<unsigned>(d[0]) << 8 | static_cast<unsigned>(d[1]));
  auto cls = stun::class_of(type);
  if (cls != stun::MessageClass::Success && cls != stun::MessageClass::Error) return false;
  return std::memcmp(d.data() + 8, txid.data(), txid.size()) == 0;
}

asio::awaitable<Result<TransactionOutcome, TransactionError>> StunClient::transact(udp::endpoint server, Bytes request,
                                                                                 TransactionId txid,
                                                                                 RetransmitPolicy policy) {
  auto plan = plan_retransmissions(policy);
  auto start = steady_clock::now();
  std::array<std::byte, 4096> buf{};
  udp::endpoint from;
  TransactionOutcome out;
  steady_clock::time_point last_send;
  for (std::size_t i = 0; i <= plan.sends.size(); ++i) {
    if (i < plan.sends.size()) {
      auto [ec, n] = co_await socket_.async_send_to(asio::buffer(request), server, use_nothrow);
      if (ec && ec != asio::error::connection_refused) co_return fail(TransactionError::SocketError);
      last_send = steady_clock::now();
      ++out.sends;
    }
    auto until = start + (i + 1 < plan.sends.size() ? plan.sends[i + 1] : plan.give_up);
    while (steady_clock::now() < until) {
      timer_.expires_at(until);
      auto result = co_await (socket_.async_receive_from(asio::buffer(buf), from, use_nothrow) ||
                              timer_.async_wait(use_nothrow));
      if (result.index() == 1) break;  // timer: retransmit or give up
      auto [ec, n] = std::get<0>(result);
      // ICMP port unreachable from an earlier send surfaces as connection_refused: keep waiting.
      if (ec == asio::error::connection_refused) continue;
      if (ec) co_return fail(TransactionError::SocketError);
      ByteView d(buf.data(), n);
      if (is_response_to(d, txid)) {
        out.response.assign(d.begin(), d.end());
        out.from = from;
        out.rtt = std::chrono::duration_cast<std::chrono::microseconds>(steady_clock::now() - last_send);
        co_return out;
      }
      if (on_other) on_other(d, from);
    }
    if (i >= plan.sends.size()) break;
  }
  co_return fail(TransactionError::Timeout);
}

asio::awaitable<bool> StunClient::receive_other(std::chrono::milliseconds timeout) {
  std::array<std::byte, 4096> buf{};
  udp::endpoint from;
  auto until = steady_clock::now() + timeout;
  while (steady_clock::now() < until) {
    timer_.expires_at(until);
    auto result = co_await (socket_.async_receive_from(asio::buffer(buf), from, use_nothrow) ||
                            timer_.async_wait(use_nothrow));
    if (result.index() == 1) co_return false;
    auto [ec, n] = std::get<0>(result);
    if (ec == asio::error::connection_refused) continue;
    if (ec) co_return false;
    if (on_other) on_other(ByteView(buf.data(), n), from);
    co_return true;
  }
  co_return false;
}

}  // namespace natpunch
