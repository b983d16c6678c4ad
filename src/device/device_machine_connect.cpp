// The initiator's connect policy (DeviceMachine::connect, docs/architecture.md "One connect
// policy"): connect requests, attempts from the request step, the deadline over them all, and the
// relay (RelayedConnect) with its upgrade. The rest of the machine is in device_machine.cpp.
#include <algorithm>

#include "device/device_machine.h"
#include "wire/punch_packet.h"

namespace natpunch {

using std::chrono::milliseconds;

void DeviceMachine::connect(const DeviceId& peer, TimePoint now, std::optional<TimePoint> deadline) {
  ConnectOptions o;
  o.attempts = 1;
  o.deadline = deadline;
  o.relay = RelayUse::Never;
  connect(peer, now, std::move(o));
}

void DeviceMachine::connect(const DeviceId& peer, TimePoint now, ConnectOptions options) {
  if (stopped_) return;
  ConnectJob j;
  j.peer = peer;
  j.options = std::move(options);
  j.options.attempts = std::max(1, j.options.attempts);
  j.started = now;
  j.asked = now;
  connects_.push_back(std::move(j));
  advance(now);
}

DeviceMachine::ConnectJob* DeviceMachine::job_by_txn(RendezvousClientMachine::Txn t) {
  for (auto& j : connects_)
    if (j.txn && *j.txn == t) return &j;
  return nullptr;
}

DeviceMachine::ConnectJob* DeviceMachine::job_by_attempt(const AttemptToken& t) {
  for (auto& j : connects_)
    if (j.step == ConnectJob::Step::Punching && j.punching && *j.punching == t) return &j;
  return nullptr;
}

// Connect requests go out once the device is registered; a connect past its deadline ends (an
// attempt or a relay under way ends by its own deadline, the same one).
void DeviceMachine::start_connects(TimePoint now) {
  for (auto& j : connects_) {
    if (j.step == ConnectJob::Step::Done) continue;
    if (j.options.deadline && now >= *j.options.deadline && j.step != ConnectJob::Step::Relaying &&
        j.step != ConnectJob::Step::Punching) {
      fail_connect(j,
                   j.step == ConnectJob::Step::Asking ? "timed out waiting for the server's introduction"
                   : registration_.registered()       ? j.last_error
                                                      : "timed out before the device was registered",
                   now);
      continue;
    }
    if (j.step == ConnectJob::Step::Request && registration_.registered()) {
      ++j.attempts;
      j.txn = client_.connect(ConnectRequest{config_.id, j.peer}, now);
      j.asked = now;
      j.step = ConnectJob::Step::Asking;
    }
  }
  std::erase_if(connects_, [](const ConnectJob& j) { return j.step == ConnectJob::Step::Done; });
}

void DeviceMachine::fail_connect(ConnectJob& j, std::string why, TimePoint now) {
  if (j.step == ConnectJob::Step::Done) return;
  j.step = ConnectJob::Step::Done;
  events_.push_back(ConnectFailedEvent{j.peer, std::move(why), j.attempts,
                                       std::chrono::duration_cast<milliseconds>(now - j.started), j.relay.has_value()});
}

// An attempt of the connect failed: the next one, the relay, or the end.
void DeviceMachine::attempt_failed(ConnectJob& j, std::string why, bool hopeless, TimePoint now) {
  j.last_error = std::move(why);
  j.punching.reset();
  bool relay = j.options.relay != RelayUse::Never && j.last_info && j.last_info->turn;
  // No method can work for this pair: no point asking again. With a relay offered, one full
  // attempt is enough: the relayed session keeps probing for a direct path and moves to it.
  if (hopeless || relay || j.attempts >= j.options.attempts || (j.options.deadline && now >= *j.options.deadline))
    return end_direct(j, now);
  j.step = ConnectJob::Step::Request;
}

void DeviceMachine::end_direct(ConnectJob& j, TimePoint now) {
  bool offered = j.last_info && j.last_info->turn;
  if (j.options.relay != RelayUse::Never && offered && (!j.options.deadline || now < *j.options.deadline))
    return start_relay(j, now);
  if (j.options.relay == RelayUse::Only && j.last_info && !offered)
    j.last_error = "the rendezvous server offers no relay (--relay-only)";
  fail_connect(j, j.last_error, now);
}

void DeviceMachine::on_connect_answer(const ClientAnswer& a, TimePoint now) {
  auto* j = job_by_txn(a.txn);
  if (!j) return;
  j->txn.reset();
  if (j->step == ConnectJob::Step::Relaying) {  // the relayed attempt's introduction
    auto r = j->relay ? relays_.find(*j->relay) : relays_.end();
    if (r == relays_.end()) return;
    if (a.result) {
      const auto& info = std::get<PeerInfo>(*a.result);
      events_.push_back(IntroducedEvent{j->peer, info.token, j->attempts, info.peer_nat, std::nullopt, true});
      r->second.connect.introduced(info, client_.request_bytes(a.txn), now);
    } else {
      r->second.connect.introduced(fail(a.result.error().message()), {}, now);
    }
    pump_relays(now);
    return;
  }
  if (j->step != ConnectJob::Step::Asking) return;
  if (!a.result) {
    events_.push_back(AttemptFailedEvent{j->peer, std::nullopt, true, "connect failed: " + a.result.error().message(),
                                         std::chrono::duration_cast<milliseconds>(now - j->asked), false});
    j->last_error = a.result.error().message();
    // The server's refusal (an unknown or expired peer) will not change by asking again.
    if (a.result.error().kind == ClientError::Kind::Rejected) return end_direct(*j, now);
    return attempt_failed(*j, j->last_error, false, now);
  }
  auto info = std::get<PeerInfo>(*a.result);
  if (j->options.peer_key) info.peer_key = j->options.peer_key;
  j->last_info = info;
  events_.push_back(IntroducedEvent{j->peer, info.token, j->attempts, info.peer_nat,
                                    info.turn ? std::optional<SocketAddress>(info.turn->server) : std::nullopt, false,
                                    info.peer_key});
  if (j->options.relay == RelayUse::Only) {
    j->last_error = "--relay-only";
    return end_direct(*j, now);
  }
  if (active_attempts() >= config_.max_attempts) {
    auto why = "busy: " + std::to_string(active_attempts()) + " attempts in progress";
    refuse_busy(info, why, true, now);
    return attempt_failed(*j, why, false, now);
  }
  // Punching leaves the relay time to work in, when it may be needed.
  std::optional<TimePoint> deadline = j->options.deadline;
  if (deadline && j->options.relay != RelayUse::Never && info.turn)
    *deadline -= std::min<TimePoint::duration>(milliseconds(8000), (*deadline - j->started) / 3);
  auto token = info.token;
  j->step = ConnectJob::Step::Punching;
  j->punching = token;
  begin_attempt(std::move(info), client_.request_bytes(a.txn), deadline, now);
  if (!attempts_.contains(token)) attempt_failed(*j, "busy: too many sockets in use", false, now);
}

// The relay: a socket of its own (OpenSockets), a TURN allocation on it, the relayed attempt.
void DeviceMachine::start_relay(ConnectJob& j, TimePoint now) {
  const auto& punched = *j.last_info;
  // The peer may still be punching for the attempt that failed here: tell it to stop, so that it
  // is back waiting for the relayed attempt's peer-info.
  Signal give_up{config_.id, punched.peer, punched.token, SignalKind::GiveUp, std::nullopt};
  for (int i = 0; i < 2; ++i)
    out_.push_back(OutDatagram{kMainSocket, config_.server,
                               encode_signal(give_up, stun::MessageClass::Request, random_transaction_id(config_.random))});
  auto handle = next_handle_++;
  ++sockets_in_use_;
  RelayedConnect::Config c;
  c.punched = punched;
  c.socket = handle;
  c.server = config_.server;
  c.main_local = config_.main_local;
  c.deadline = j.options.deadline.value_or(now + config_.relay_reach * 2);
  c.upgrade = j.options.upgrade;
  c.random = [this](std::span<std::byte> out) { config_.random(out); };
  auto it = relays_.emplace(handle, Relay(RelayedConnect(std::move(c), now))).first;
  it->second.peer = j.peer;
  j.step = ConnectJob::Step::Relaying;
  j.relay = handle;
  commands_.push_back(OpenSockets{handle, 1});
  pump_relays(now);
}

// A datagram on a relay's socket: the TURN server's (its answers, and what the peer sends through
// it: punch packets to the relay connect, QUIC to the session).
void DeviceMachine::on_relay_socket(SocketHandle socket, const InDatagram& d, TimePoint now) {
  auto it = relays_.find(socket);
  auto& r = it->second;
  r.connect.on_relay_datagram(d.from, d.bytes, now);
  for (auto& in : r.connect.take_session_data())
    if (r.session) sessions_.on_datagram(*r.session, socket, in.peer, in.data, now);
  pump_relays(now);
}

// A session's datagram: out on its socket, or through its relay (wrapped for the TURN server).
void DeviceMachine::out_of_session(OutDatagram d) {
  auto r = relays_.find(static_cast<SocketHandle>(d.socket));
  if (r == relays_.end()) {
    out_.push_back(std::move(d));
    return;
  }
  if (auto w = r->second.connect.wrap(d.to, d.bytes)) out_.push_back(std::move(*w));
  else ++counters_.unclaimed_datagrams;  // the relay is gone (retired after the upgrade): QUIC recovers
}

// The relays: the relayed attempt asked for, the session opened once the peer reached us, moved
// to the direct path once one answers; ended with their connect or their session.
void DeviceMachine::pump_relays(TimePoint now) {
  for (auto it = relays_.begin(); it != relays_.end();) {
    auto handle = it->first;
    auto& r = it->second;
    auto& rc = r.connect;
    ConnectJob* job = nullptr;
    for (auto& j : connects_)
      if (j.relay && *j.relay == handle && j.step == ConnectJob::Step::Relaying) job = &j;
    if (rc.wants_introduction() && job) {
      rc.asking();
      job->txn = client_.connect(ConnectRequest{config_.id, job->peer, rc.relayed()}, now);
      take_client_datagrams();
    }
    for (auto& d : rc.take_datagrams()) out_.push_back(std::move(d));
    if (rc.reached() && !r.reported) {
      r.reported = true;
      const auto& info = *rc.info();
      router_.add_attempt(info.token);  // the peer's direct probes and acks come with its token
      SessionStart s;
      s.role = SessionRole::Client;
      s.peer = info.peer;
      s.token = info.token;
      s.path = SessionPath{handle, *rc.relayed(), *rc.remote()};
      s.peer_key = job && job->options.peer_key ? job->options.peer_key : info.peer_key;
      s.handshake_timeout = config_.session.handshake_timeout;
      if (job && job->options.deadline)
        s.handshake_timeout = std::clamp(std::chrono::duration_cast<milliseconds>(*job->options.deadline - now),
                                         milliseconds(1000), milliseconds(15'000));
      auto at = events_.size();
      auto opened = sessions_.open(s, now);
      if (opened) {
        r.session = *opened;
        r.since = now;
      }
      ConnectedEvent c{info.peer, opened ? *opened : 0, info.token, true, Method::Direct, handle, *rc.remote(),
                       rc.elapsed(), rc.packets_sent(), std::nullopt, true};
      c.attempts = job ? job->attempts : 0;
      c.local = *rc.relayed();
      c.relay_server = rc.punched().turn->server;
      events_.insert(events_.begin() + static_cast<std::ptrdiff_t>(at), std::move(c));
      if (job) job->step = ConnectJob::Step::Done;
      if (!opened) {
        SessionClosedEvent e;
        e.peer = info.peer;
        e.initiator = true;
        e.reason = opened.error();
        events_.push_back(std::move(e));
      }
    }
    // The upgrade: the peer answered on a direct path; the session moves there (at most 3 tries).
    if (r.session && rc.direct() && !r.upgraded && r.migrate_tries < 3 && now >= r.next_migrate &&
        sessions_.established(*r.session) && !sessions_.migrating(*r.session)) {
      ++r.migrate_tries;
      r.next_migrate = now + milliseconds(2000);
      auto m = sessions_.migrate(*r.session, SessionPath{kMainSocket, config_.main_local, *rc.direct()}, now);
      if (!m) r.upgrade_error = m.error();
      if (!m && r.migrate_tries >= 3) events_.push_back(UpgradeFailedEvent{*r.session, r.upgrade_error});
    }
    bool ended = rc.failed() || (r.session && !sessions_.path(*r.session)) || (rc.reached() && !r.session);
    if (rc.failed() && job)
      fail_connect(*job,
                   job->options.relay == RelayUse::Only ? rc.error()
                                                        : job->last_error + "; then the relay failed: " + rc.error(),
                   now);
    if (ended) {
      rc.retire(now);
      for (auto& d : rc.take_datagrams()) out_.push_back(std::move(d));
      if (rc.info() && !sessions_.by_token(rc.info()->token)) router_.remove_attempt(rc.info()->token);
      commands_.push_back(CloseSocket{handle});
      if (sockets_in_use_ > 0) --sockets_in_use_;
      it = relays_.erase(it);
      continue;
    }
    ++it;
  }
}

}  // namespace natpunch
