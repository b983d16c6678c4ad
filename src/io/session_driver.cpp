#include "io/session_driver.h"

#include <algorithm>

#include "wire/random_source.h"
#include "wire/message.h"
#include "wire/punch_packet.h"

namespace natpunch {

using std::chrono::milliseconds;

namespace {

// A punch probe that arrives after our side has connected (the peer lost our answers): an ack, and
// on the session's own path a confirm too (late_probe_answers), so the peer's puncher completes on
// the path we chose. Anything else STUN-framed is not for the session and is dropped.
void answer_late_probe(DatagramPath& path, ByteView bytes, const SocketAddress& from, const AttemptToken& token,
                       const SocketAddress& session_remote) {
  auto probe = read_punch(bytes, token);
  if (!probe) return;
  for (const auto& a : late_probe_answers(*probe, from, from == session_remote))
    path.send(from, encode_punch(a, random_transaction_id(system_random())));
}

}  // namespace

asio::awaitable<void> drive_session(DatagramPath& path, QuicSession& session, const AttemptToken& token,
                                    const TimePoint& hard_end, const TimePoint& close_at, const bool& stopping,
                                    std::uint64_t& sent, const SessionStep& step, const SessionTick& tick) {
  auto send = [&](std::vector<OutPacket> packets) {
    for (auto& p : packets) {
      path.send_from(p.from, p.to, p.bytes);
      ++sent;
    }
  };
  send(session.start(Clock::now()));
  for (;;) {
    for (auto& e : session.take_events()) send(step(e));
    std::optional<TimePoint> tick_at;
    if (tick && !session.closed()) tick_at = tick(Clock::now());
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
    if (tick_at) wake = std::min(wake, std::max(*tick_at, now));
    auto r = co_await path.receive(wake);
    now = Clock::now();
    if (r.status == PathReceive::Status::Closed) {
      send(session.close(now, r.why.empty() ? "stopped" : r.why));
      continue;
    }
    if (r.status == PathReceive::Status::Datagram) {
      if (looks_like_stun(r.bytes)) {
        answer_late_probe(path, r.bytes, r.from, token, session.remote());
        continue;
      }
      send(r.local ? session.on_datagram(r.bytes, *r.local, r.from, now) : session.on_datagram(r.bytes, r.from, now));
    }
    if (auto d = session.next_deadline(); d && now >= *d) send(session.on_timer(now));
  }
  // Our close may be lost (QuicSession::closing): for the closing period (3 PTO, at most 2 s) its
  // copies go out on the session's timer and in answer to the peer's packets, so the peer learns of
  // it instead of waiting out its idle timeout. Not after a stop, nor past the hard end.
  while (!stopping) {
    auto now = Clock::now();
    if (!session.closing(now) || now >= hard_end) break;
    // At least every 250 ms, to notice `stopping`.
    auto wake = std::min({session.next_deadline().value_or(now), hard_end, now + milliseconds(250)});
    if (wake <= now) {
      send(session.on_timer(now));
      continue;
    }
    auto r = co_await path.receive(wake);
    if (r.status == PathReceive::Status::Closed) break;
    if (r.status == PathReceive::Status::Datagram && !looks_like_stun(r.bytes))
      send(r.local ? session.on_datagram(r.bytes, *r.local, r.from, Clock::now())
                   : session.on_datagram(r.bytes, r.from, Clock::now()));
  }
}

}  // namespace natpunch
