// The responder's side of the machine and the attempts of both roles: introductions from the
// server (admission, busy), attempts on the device's sockets, relayed attempts (RelayedPeerProber),
// the sockets they release, and the session a finished attempt opens. The rest of the machine is in
// device_machine.cpp.
#include <algorithm>

#include "device/device_machine.h"
#include "device/punch_setup.h"
#include "wire/punch_packet.h"

namespace natpunch {

using std::chrono::milliseconds;

namespace {
constexpr std::size_t kRememberedIntroductions = 64;
}  // namespace

// An introduction from the server: someone asked for this device.
void DeviceMachine::on_introduction(PeerInfo info, TimePoint now) {
  // The server re-sends a peer-info when the initiator repeats its request (it heard nothing yet):
  // the attempt is under way, or was refused, already.
  if (std::find(handled_.begin(), handled_.end(), info.token) != handled_.end()) {
    ++counters_.duplicate_introductions;
    return;
  }
  handled_.push_back(info.token);
  if (handled_.size() > kRememberedIntroductions) handled_.pop_front();
  // The server passes on only requests the device allows (NP-ALLOW); the device decides again
  // here, with the keys it pinned itself, and spends the peer's attempt budget.
  auto admitted = admission_.admit(info.peer, info.peer_key, info.peer_relayed.has_value(), now);
  if (!admitted) {
    events_.push_back(AttemptRefusedEvent{info.peer, admitted.error()});
    return;
  }
  if (admitted->peer_key) info.peer_key = admitted->peer_key;  // the pinned key, for the session
  // An initiator asks again only once its own attempt has ended (connect's next attempt, or its
  // relayed one): what this device still runs for that peer is for nobody now. It ends, and makes
  // room for the new one.
  for (auto& [token, a] : attempts_)
    if (!a->finished() && !a->info().initiator && a->info().peer.value == info.peer.value) a->supersede(now);
  pump_attempts(now);
  if (active_attempts() >= config_.max_attempts) {
    refuse_busy(info, "busy: " + std::to_string(active_attempts()) + " attempts in progress", false, now);
    return;
  }
  // Every attempt that succeeds becomes a session: attempts count toward the session limit too.
  if (sessions_.open_sessions() + active_attempts() >= config_.max_sessions) {
    refuse_busy(info, "busy: " + std::to_string(sessions_.open_sessions()) + " sessions open", false, now);
    return;
  }
  if (info.peer_relayed) {
    ++counters_.attempts;
    auto token = info.token;
    auto relayed = *info.peer_relayed;
    router_.add_attempt(token);
    router_.expect_session(relayed, token);
    relayed_.emplace(token, Relayed{RelayedPeerProber(std::move(info), now, now + config_.relay_reach,
                                                      [this](std::span<std::byte> out) { config_.random(out); }),
                                    false, {}});
    pump_relayed(now);
    return;
  }
  begin_attempt(std::move(info), {}, std::nullopt, now);
}

// Relayed attempts: probes out; reached → the session toward the relayed address, probing the
// initiator's own mapping for a direct path; ended ones linger like attempts, then are forgotten.
void DeviceMachine::pump_relayed(TimePoint now) {
  for (auto it = relayed_.begin(); it != relayed_.end();) {
    auto& r = it->second;
    for (auto& d : r.prober.take_datagrams()) out_.push_back(std::move(d));
    if (r.prober.finished() && !r.reported) {
      r.reported = true;
      r.ended = now;
      const auto& info = r.prober.info();
      if (r.prober.reached()) {
        SessionStart s;
        s.role = SessionRole::Server;
        s.peer = info.peer;
        s.token = info.token;
        s.path = SessionPath{kMainSocket, config_.main_local, *info.peer_relayed};
        s.peer_key = info.peer_key;
        s.handshake_timeout = config_.session.handshake_timeout;
        s.direct_probe_to = info.peer_mapped;
        auto at = events_.size();
        auto opened = sessions_.open(s, now);
        ConnectedEvent c{info.peer, opened ? *opened : 0, info.token, false, Method::Direct, kMainSocket,
                         *info.peer_relayed, r.prober.elapsed(), r.prober.probes_sent(), std::nullopt, true};
        events_.insert(events_.begin() + static_cast<std::ptrdiff_t>(at), std::move(c));
        if (!opened) {
          SessionClosedEvent e;
          e.peer = info.peer;
          e.reason = opened.error();
          events_.push_back(std::move(e));
        }
      } else {
        AttemptFailedEvent f{info.peer, info.token, false, r.prober.error(), r.prober.elapsed(), false, true, false};
        events_.push_back(std::move(f));
      }
    }
    if (r.prober.finished() && now >= r.ended + config_.linger) {
      if (!sessions_.by_token(it->first)) router_.remove_attempt(it->first);
      it = relayed_.erase(it);
      continue;
    }
    ++it;
  }
}

void DeviceMachine::begin_attempt(PeerInfo info, Bytes reintroduce, std::optional<TimePoint> deadline, TimePoint now) {
  SelfFacts me{config_.id, nat_, registration_.mapped(), port_mapping_.advertised(registration_.mapped()),
               config_.server};
  auto setup = punch_setup_for(me, info, config_.tuning, config_.forced, random_u64(config_.random), std::move(reintroduce));
  auto attempt = std::make_unique<Attempt>(info, std::move(setup), now, config_.attempt_timing, deadline);
  auto extra = attempt->extra_sockets();
  if (sockets_in_use_ + extra > config_.max_sockets) {
    refuse_busy(info,
                "busy: " + std::to_string(extra) + " more sockets would pass the limit of " +
                    std::to_string(config_.max_sockets) + " (" + std::to_string(sockets_in_use_) + " in use)",
                info.initiator, now);
    return;
  }
  ++counters_.attempts;
  auto token = info.token;
  router_.add_attempt(token);
  auto& a = *attempt;
  attempts_[token] = std::move(attempt);
  reported_.erase(token);
  if (extra > 0) {
    sockets_in_use_ += extra;
    opening_[next_handle_] = token;
    commands_.push_back(OpenSockets{next_handle_, extra});
    next_handle_ += static_cast<SocketHandle>(extra);
  } else {
    a.start({}, now);
  }
}

// No room: the peer is told at once (its Puncher fails on GiveUp), instead of punching at nobody
// until it times out.
void DeviceMachine::refuse_busy(const PeerInfo& info, std::string why, bool initiator, TimePoint now) {
  ++counters_.busy;
  Signal s{config_.id, info.peer, info.token, SignalKind::GiveUp, std::nullopt};
  out_.push_back(OutDatagram{kMainSocket, config_.server,
                             encode_signal(s, stun::MessageClass::Request, random_transaction_id(config_.random))});
  if (initiator)
    events_.push_back(AttemptFailedEvent{info.peer, info.token, true, why, milliseconds(0), false});
  else
    events_.push_back(AttemptBusyEvent{info.peer, std::move(why)});
  (void)now;
}

// Takes what the attempts sent, reports the ones that ended, closes what they no longer need, and
// forgets them once they have lingered.
void DeviceMachine::pump_attempts(TimePoint now) {
  for (auto it = attempts_.begin(); it != attempts_.end();) {
    auto& a = *it->second;
    const auto& token = it->first;
    for (auto& d : a.take_datagrams()) {
      // A request of the attempt to the server (an NP-SIGNAL, the listener's Binding): its answer
      // goes back to the attempt. Its re-sent NP-CONNECT is the client's (answered from the cache).
      if (d.socket == kMainSocket && d.to == config_.server)
        if (auto m = parse_message(d.bytes); m && m->cls() == stun::MessageClass::Request &&
                                             m->method() != stun::method::kConnect)
          router_.add_transaction(m->transaction, token);
      out_.push_back(std::move(d));
    }
    if (a.finished() && !reported_.contains(token)) {
      reported_.insert(token);
      const auto& o = a.outcome();
      auto* job = a.info().initiator ? job_by_attempt(token) : nullptr;
      if (o.ok) {
        ConnectionId connection = 0;
        // The event first: the session's own events (a failure to start) come after it.
        auto at = events_.size();
        open_session(a, connection, now);
        ConnectedEvent c{a.info().peer, connection, token, a.info().initiator, o.method, a.path_socket(),
                         o.remote, o.elapsed, o.probes_sent, o.rtt};
        c.local = config_.main_local;
        if (auto p = socket_ports_.find(a.path_socket()); p != socket_ports_.end()) c.local.port = p->second;
        if (o.self_public.port) c.self_public = o.self_public;
        if (job) {
          c.attempts = job->attempts;
          job->step = ConnectJob::Step::Done;
        }
        events_.insert(events_.begin() + static_cast<std::ptrdiff_t>(at), std::move(c));
      } else {
        events_.push_back(AttemptFailedEvent{a.info().peer, token, a.info().initiator, o.error, o.elapsed, a.silent(),
                                             false, a.info().turn.has_value(), a.superseded()});
        if (job) attempt_failed(*job, o.error, !a.plan().hopeless.empty(), now);
      }
      // Its other sockets' mappings are no longer needed.
      std::vector<SocketHandle> spare;
      for (auto h : a.sockets())
        if (h != kMainSocket && !(o.ok && h == a.path_socket())) spare.push_back(h);
      release_sockets(spare);
    }
    if (a.finished() && now >= a.finished_at() + config_.linger) {
      auto held = a.sockets();
      auto gone = token;  // `token` is the map's key: copied before the erase
      if (!sessions_.by_token(gone)) router_.remove_attempt(gone);  // its session's peer may still probe
      reported_.erase(gone);
      it = attempts_.erase(it);
      for (auto h : held)
        if (h != kMainSocket) release_if_unused(h);
      continue;
    }
    ++it;
  }
}

void DeviceMachine::release_sockets(const std::vector<SocketHandle>& handles) {
  for (auto h : handles) {
    commands_.push_back(CloseSocket{h});
    socket_ports_.erase(h);
    if (socket_owner_.erase(h) > 0 && sockets_in_use_ > 0) --sockets_in_use_;
  }
}

// A socket neither a (lingering) attempt nor a session uses any more is closed.
void DeviceMachine::release_if_unused(SocketHandle h) {
  if (!socket_owner_.contains(h) || sessions_.uses(h)) return;
  for (const auto& [token, a] : attempts_)
    if (std::find(a->sockets().begin(), a->sockets().end(), h) != a->sockets().end()) return;
  release_sockets({h});
}

// The path an attempt found carries a QUIC session at once; the initiator is its client.
void DeviceMachine::open_session(const Attempt& a, ConnectionId& out, TimePoint now) {
  const auto& o = a.outcome();
  SessionStart s;
  s.role = a.info().initiator ? SessionRole::Client : SessionRole::Server;
  s.peer = a.info().peer;
  s.token = a.info().token;
  s.path.socket = a.path_socket();
  s.path.local = config_.main_local;
  if (s.path.socket != kMainSocket) {
    auto p = socket_ports_.find(s.path.socket);
    if (p != socket_ports_.end()) s.path.local.port = p->second;
  }
  s.path.remote = o.remote;
  s.peer_key = a.info().peer_key;  // the pinned key when there is one (on_introduction)
  s.initial_rtt = initial_rtt_for(o.rtt, milliseconds(100));
  s.handshake_timeout = config_.session.handshake_timeout;
  // The initiator's handshake may use what its deadline leaves (within 15 s).
  if (a.info().initiator && a.deadline())
    s.handshake_timeout = std::clamp(std::chrono::duration_cast<milliseconds>(*a.deadline() - now), milliseconds(1000),
                                     milliseconds(15'000));
  auto opened = sessions_.open(s, now);
  if (opened) {
    out = *opened;
    return;
  }
  SessionClosedEvent e;
  e.peer = s.peer;
  e.initiator = s.role == SessionRole::Client;
  e.reason = opened.error();
  events_.push_back(std::move(e));
}

}  // namespace natpunch
