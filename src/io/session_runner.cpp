#include "io/session_runner.h"

#include <asio/steady_timer.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include "io/endpoint.h"
#include "io/stun_client.h"
#include "wire/message.h"
#include "wire/punch_packet.h"

namespace natpunch {

using asio::ip::udp;
using namespace asio::experimental::awaitable_operators;
using std::chrono::milliseconds;

namespace {

// A punch probe that arrives after our side has connected (the peer lost our answers): ack it so the
// peer's puncher completes too. Anything else STUN-framed is not for the session and is dropped.
void answer_late_probe(udp::socket& socket, ByteView bytes, const udp::endpoint& from, const AttemptToken& token) {
  auto probe = read_punch(bytes, token);
  if (!probe || probe->stage != PunchStage::Probe) return;
  PunchPacket ack;
  ack.token = token;
  ack.stage = PunchStage::Ack;
  ack.target = from_endpoint(from);
  ack.reached_at = probe->target;
  auto out = encode_punch(ack, random_transaction_id());
  asio::error_code ec;
  socket.send_to(asio::buffer(out), from, 0, ec);
}

// One loop for both roles: `step` runs after every wakeup with the session's new events and may
// act on the session (send, reply, close); the loop ends when the session is closed. At
// `close_at` (which `step` may move) the session is closed normally; at `hard_end` as a failure.
asio::awaitable<void> drive(udp::socket& socket, QuicSession& session, const AttemptToken& token,
                            const TimePoint& hard_end, const TimePoint& close_at, const bool& stopping, std::uint64_t& sent,
                            const std::function<std::vector<OutPacket>(const SessionEvent&)>& step) {
  auto send = [&](std::vector<OutPacket> packets) {
    for (auto& p : packets) {
      asio::error_code ec;
      socket.send_to(asio::buffer(p.bytes), to_endpoint(p.to), 0, ec);
      ++sent;
    }
  };
  send(session.start(Clock::now()));
  asio::steady_timer timer(socket.get_executor());
  std::array<std::byte, 2048> buf{};
  udp::endpoint from;
  for (;;) {
    for (auto& e : session.take_events()) send(step(e));
    send(session.flush(Clock::now()));
    if (session.closed()) break;
    auto now = Clock::now();
    if (stopping || now >= hard_end || now >= close_at) {
      send(session.close(now, stopping ? "stopped" : now >= close_at ? "done" : "time limit reached"));
      for (auto& e : session.take_events()) send(step(e));
      break;
    }
    // Wake at the session's deadline, the ends, and at least every 250 ms to notice `stopping`.
    auto wake = std::min({hard_end, close_at, now + milliseconds(250)});
    if (auto d = session.next_deadline()) wake = std::min(wake, *d);
    timer.expires_at(wake);
    auto r = co_await (socket.async_receive_from(asio::buffer(buf), from, use_nothrow) || timer.async_wait(use_nothrow));
    now = Clock::now();
    if (r.index() == 0) {
      auto [ec, n] = std::get<0>(r);
      if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) {
        send(session.close(now, "stopped"));
        continue;
      }
      if (ec) continue;  // e.g. an ICMP error from an earlier probe: not the session's business
      ByteView bytes(buf.data(), n);
      if (looks_like_stun(bytes)) {
        answer_late_probe(socket, bytes, from, token);
        continue;
      }
      send(session.on_datagram(bytes, from_endpoint(from), now));
    }
    if (auto d = session.next_deadline(); d && now >= *d) send(session.on_timer(now));
  }
}

SessionConfig config_for(SessionRole role, udp::socket& socket, const SocketAddress& remote, const SessionOptions& o) {
  SessionConfig c;
  c.role = role;
  asio::error_code ec;
  c.local = from_endpoint(socket.local_endpoint(ec));
  c.remote = remote;
  c.peer_key = o.peer_key;
  c.handshake_timeout = o.handshake_timeout;
  c.idle_timeout = o.idle_timeout;
  c.keepalive = o.keepalive;
  c.initial_rtt = o.initial_rtt;
  return c;
}

void summarize(const QuicSession& s, SessionSummary& out) {
  out.established = out.established || s.established();
  out.peer_authenticated = out.peer_authenticated || s.peer_authenticated();
  out.peer_certificate_key = s.peer_certificate_key();
  out.handshake = s.handshake_time();
  out.closed = s.close_info();
  if (s.close_info()) out.ended = s.close_info()->reason;
}

}  // namespace

asio::awaitable<ExchangeResult> run_client_session(udp::socket& socket, const SocketAddress& remote,
                                                   const AttemptToken& token, const SessionOptions& options,
                                                   std::optional<std::string> message, milliseconds timeout,
                                                   milliseconds hold) {
  ExchangeResult result;
  auto created = QuicSession::create(config_for(SessionRole::Client, socket, remote, options), options.key, Clock::now());
  if (!created) {
    result.error = "QUIC session could not start: " + created.error();
    co_return result;
  }
  auto& session = **created;
  std::optional<std::int64_t> stream;
  bool never_stop = false;
  auto hard_end = Clock::now() + timeout;
  auto close_at = TimePoint::max();
  bool holding = false;
  // Done with the exchange: close now, or hold the session open (then no hard end applies).
  auto finish = [&] {
    close_at = Clock::now() + hold;
    holding = hold.count() > 0;
    if (holding) hard_end = TimePoint::max();
  };
  co_await drive(socket, session, token, hard_end, close_at, never_stop, result.summary.packets_sent,
                 [&](const SessionEvent& e) -> std::vector<OutPacket> {
                   if (e.kind == SessionEvent::Kind::Established) {
                     if (!message) finish();
                     else if (auto s = session.send_message(as_bytes(*message))) stream = *s;
                     else result.error = s.error();
                   } else if (e.kind == SessionEvent::Kind::Message && stream && e.stream == *stream) {
                     ++result.summary.messages;
                     result.reply = std::string(reinterpret_cast<const char*>(e.data.data()), e.data.size());
                     finish();
                   }
                   return {};
                 });
  summarize(session, result.summary);
  if (holding) result.hold_ended = session.close_info() && session.close_info()->reason != "done"
                                       ? session.close_info()->reason
                                       : "hold over";
  if (!result.summary.established)
    result.error = "QUIC handshake failed: " + result.summary.ended;
  else if (message && !result.reply)
    result.error = "no echo from the peer: " + result.summary.ended;
  co_return result;
}

asio::awaitable<SessionSummary> run_server_session(udp::socket& socket, const SocketAddress& remote,
                                                   const AttemptToken& token, const SessionOptions& options,
                                                   std::function<void(const std::string&)> on_message,
                                                   const bool& stopping) {
  SessionSummary summary;
  auto created = QuicSession::create(config_for(SessionRole::Server, socket, remote, options), options.key, Clock::now());
  if (!created) {
    summary.ended = "QUIC session could not start: " + created.error();
    co_return summary;
  }
  auto& session = **created;
  const auto never = TimePoint::max();
  co_await drive(socket, session, token, never, never, stopping, summary.packets_sent, [&](const SessionEvent& e) -> std::vector<OutPacket> {
    if (e.kind != SessionEvent::Kind::Message) return {};
    ++summary.messages;
    session.reply(e.stream, e.data);
    if (on_message) on_message(std::string(reinterpret_cast<const char*>(e.data.data()), e.data.size()));
    return {};
  });
  summarize(session, summary);
  co_return summary;
}

}  // namespace natpunch
