#include "io/session_runner.h"

#include "io/session_driver.h"
#include "io/socket_path.h"
#include "wire/random_source.h"
#include "wire/punch_packet.h"

namespace natpunch {


using asio::ip::udp;
using std::chrono::milliseconds;

namespace {

SessionConfig config_for(SessionRole role, const DatagramPath& path, const SocketAddress& remote,
                         const SessionOptions& o) {
  SessionConfig c;
  c.role = role;
  c.local = path.local();
  c.remote = remote;
  c.peer_key = o.peer_key;
  c.handshake_timeout = o.handshake_timeout;
  c.idle_timeout = o.idle_timeout;
  c.keepalive = o.keepalive;
  c.initial_rtt = o.initial_rtt;
  return c;
}

// Sends the next numbered DATAGRAMs that are due; returns when the next one is.
std::optional<TimePoint> stream_datagrams(QuicSession& session, const SessionOptions& o, TimePoint started,
                                          DatagramCount& count, TimePoint now) {
  std::uint64_t done = count.sent + count.refused;
  while (done < o.datagrams && now >= started + o.datagram_interval * done) {
    if (session.send_datagram(numbered_datagram(done))) ++count.sent;
    else ++count.refused;
    ++done;
  }
  if (done >= o.datagrams) return std::nullopt;
  return started + o.datagram_interval * done;
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

asio::awaitable<ExchangeResult> run_client_session(DatagramPath& path, const SocketAddress& remote,
                                                   const AttemptToken& token, const SessionOptions& options,
                                                   std::optional<std::string> message, milliseconds timeout,
                                                   milliseconds hold) {
  ExchangeResult result;
  auto created = QuicSession::create(config_for(SessionRole::Client, path, remote, options), options.key, Clock::now());
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
  std::optional<TimePoint> stream_from;  // the numbered DATAGRAMs start with the hold
  auto finish = [&] {
    close_at = Clock::now() + hold;
    holding = hold.count() > 0;
    if (holding) hard_end = TimePoint::max();
    if (holding && options.datagrams > 0) stream_from = Clock::now();
  };
  const auto started = Clock::now();
  int upgrade_tries = 0;
  TimePoint next_upgrade_try{};
  auto tick = [&](TimePoint now) -> std::optional<TimePoint> {
    std::optional<TimePoint> next;
    if (options.direct_path && !result.upgraded_to && session.established() && !session.migrating() &&
        upgrade_tries < 3 && now >= next_upgrade_try) {
      if (auto direct = options.direct_path()) {
        ++upgrade_tries;
        next_upgrade_try = now + milliseconds(2000);
        if (auto m = session.migrate(direct->first, direct->second, now); !m) result.upgrade_error = m.error();
      }
    }
    if (options.direct_path && !result.upgraded_to && upgrade_tries < 3) next = now + milliseconds(50);
    if (stream_from) {
      auto d = stream_datagrams(session, options, *stream_from, result.summary.datagrams, now);
      if (d) next = next ? std::min(*next, *d) : *d;
    }
    return next;
  };
  co_await drive_session(path, session, token, hard_end, close_at, never_stop, result.summary.packets_sent,
                 [&](const SessionEvent& e) -> std::vector<OutPacket> {
                   if (e.kind == SessionEvent::Kind::Established) {
                     if (!message) finish();
                     else if (auto s = session.send_message(as_bytes(*message))) stream = *s;
                     else result.error = s.error();
                   } else if (e.kind == SessionEvent::Kind::Message && stream && e.stream == *stream) {
                     ++result.summary.messages;
                     result.reply = std::string(reinterpret_cast<const char*>(e.data.data()), e.data.size());
                     finish();
                   } else if (e.kind == SessionEvent::Kind::Datagram) {
                     result.summary.datagrams.count(e.data);
                   } else if (e.kind == SessionEvent::Kind::PathChanged) {
                     ++result.summary.path_changes;
                     result.upgraded_to = e.remote;
                     result.upgraded_after = std::chrono::duration_cast<milliseconds>(Clock::now() - started);
                     if (options.on_upgraded) options.on_upgraded();
                   } else if (e.kind == SessionEvent::Kind::PathValidationFailed) {
                     result.upgrade_error = e.reason;
                   }
                   return {};
                 },
                 tick);
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

asio::awaitable<SessionSummary> run_server_session(DatagramPath& path, const SocketAddress& remote,
                                                   const AttemptToken& token, const SessionOptions& options,
                                                   std::function<void(const std::string&)> on_message,
                                                   const bool& stopping) {
  SessionSummary summary;
  auto created = QuicSession::create(config_for(SessionRole::Server, path, remote, options), options.key, Clock::now());
  if (!created) {
    summary.ended = "QUIC session could not start: " + created.error();
    co_return summary;
  }
  auto& session = **created;
  const auto never = TimePoint::max();
  auto current = remote;
  std::uint32_t probes = 0;
  auto next_probe = Clock::now();
  auto tick = [&](TimePoint now) -> std::optional<TimePoint> {
    if (session.established() && session.remote() != current) {
      ++summary.path_changes;
      if (options.on_path_change) options.on_path_change(current, session.remote());
      current = session.remote();
    }
    if (!options.direct_probe_to || probes >= options.direct_probes || !session.established() ||
        current != remote)
      return std::nullopt;  // not relayed, out of probes, or already moved
    if (now >= next_probe) {
      const Bytes probe = encode_punch(punch_packet(token, PunchStage::Probe, *options.direct_probe_to, ++probes),
                                       random_transaction_id(system_random()));
      path.send(*options.direct_probe_to, probe);
      ++summary.packets_sent;
      next_probe = now + options.direct_probe_interval;
    }
    return next_probe;
  };
  co_await drive_session(
      path, session, token, never, never, stopping, summary.packets_sent,
      [&](const SessionEvent& e) -> std::vector<OutPacket> {
        if (e.kind == SessionEvent::Kind::Datagram) summary.datagrams.count(e.data);
        if (e.kind != SessionEvent::Kind::Message) return {};
        ++summary.messages;
        session.reply(e.stream, e.data);
        if (on_message) on_message(std::string(reinterpret_cast<const char*>(e.data.data()), e.data.size()));
        return {};
      },
      tick);
  summarize(session, summary);
  co_return summary;
}

asio::awaitable<ExchangeResult> run_client_session(udp::socket& socket, const SocketAddress& remote,
                                                   const AttemptToken& token, const SessionOptions& options,
                                                   std::optional<std::string> message, milliseconds timeout,
                                                   milliseconds hold) {
  SocketPath path(socket);
  co_return co_await run_client_session(path, remote, token, options, std::move(message), timeout, hold);
}

asio::awaitable<SessionSummary> run_server_session(udp::socket& socket, const SocketAddress& remote,
                                                   const AttemptToken& token, const SessionOptions& options,
                                                   std::function<void(const std::string&)> on_message,
                                                   const bool& stopping) {
  SocketPath path(socket);
  co_return co_await run_server_session(path, remote, token, options, std::move(on_message), stopping);
}

}  // namespace natpunch
