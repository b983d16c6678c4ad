#include "device/device_machine.h"

#include <algorithm>

#include "device/punch_setup.h"
#include "session/quic_path.h"
#include "wire/punch_packet.h"

namespace natpunch {

using std::chrono::milliseconds;

namespace {
constexpr std::size_t kRememberedIntroductions = 64;

RendezvousClientConfig client_config(const DeviceConfig& c, RandomSource random) {
  RendezvousClientConfig r;
  r.server = c.server;
  r.key = c.key;
  r.policy = c.policy;
  r.random = std::move(random);
  return r;
}

std::optional<TimePoint> earliest(std::optional<TimePoint> a, std::optional<TimePoint> b) {
  if (!a) return b;
  if (!b) return a;
  return std::min(*a, *b);
}
}  // namespace

// Every part draws from the one source the config gives (a copy of a seeded source would repeat
// its stream: two parts would draw the same transaction IDs).
DeviceMachine::DeviceMachine(DeviceConfig config)
    : config_(std::move(config)),
      client_(client_config(config_, [this](std::span<std::byte> out) { config_.random(out); })),
      registration_(config_.min_refresh),
      admission_(config_.admission),
      router_(quic::kCidLength),
      sessions_(router_, config_.key, [this](std::span<std::byte> out) { config_.random(out); }, config_.session) {
  if (!config_.random) config_.random = system_random();
  router_.set_servers({config_.server});
  if (config_.local_addresses.size() > kMaxLocalAddresses) config_.local_addresses.resize(kMaxLocalAddresses);
}

void DeviceMachine::start(TimePoint now) {
  if (started_ || stopped_) return;
  started_ = true;
  // The router's mapping is asked for while discovery runs (both take a while).
  if (config_.port_mapping) {
    commands_.push_back(MapPort{config_.main_local.port, config_.port_mapping_lifetime});
    port_mapping_pending_ = true;
    port_mapping_wait_until_ = now + config_.port_mapping_wait;
  }
  if (config_.discover) start_discovery(now);
  advance(now);
}

void DeviceMachine::start_discovery(TimePoint now) {
  ++counters_.discoveries;
  discovery_.reset();
  awaiting_sockets_ = true;
  discovery_first_ = next_handle_;
  discovery_extra_ = kNatDiscoverySockets - 1;
  next_handle_ += static_cast<SocketHandle>(discovery_extra_);
  sockets_in_use_ += discovery_extra_;
  NatDiscoveryConfig defaults;
  // Bounded as a whole (opening the sockets included): test I's timeout and three windows.
  discovery_deadline_ = now + defaults.server_timeout + defaults.window * 3 + milliseconds(500);
  commands_.push_back(OpenSockets{discovery_first_, discovery_extra_});
}

void DeviceMachine::on_sockets_opened(SocketHandle first, Result<std::vector<std::uint16_t>, std::string> ports,
                                      TimePoint now) {
  if (auto r = relays_.find(first); r != relays_.end() && !stopped_) {
    bool ok = ports && ports->size() == 1;
    r->second.connect.on_socket_opened(ok, ports ? std::string("none opened") : ports.error(), now);
    pump_relays(now);
    advance(now);
    return;
  }
  if (auto o = opening_.find(first); o != opening_.end()) {
    auto token = o->second;
    opening_.erase(o);
    auto a = attempts_.find(token);
    if (a == attempts_.end() || a->second->finished() || stopped_) {
      if (ports) {
        std::vector<SocketHandle> handles;
        for (std::size_t i = 0; i < ports->size(); ++i) handles.push_back(first + static_cast<SocketHandle>(i));
        release_sockets(handles);
      }
      return;
    }
    auto& attempt = *a->second;
    if (!ports || ports->size() != attempt.extra_sockets()) {
      sockets_in_use_ -= attempt.extra_sockets();
      if (ports)
        for (std::size_t i = 0; i < ports->size(); ++i) commands_.push_back(CloseSocket{first + static_cast<SocketHandle>(i)});
      attempt.fail("could not open " + std::to_string(attempt.extra_sockets()) +
                       " sockets: " + (ports ? std::string("too few") : ports.error()),
                   now);
    } else {
      std::vector<SocketHandle> handles;
      for (std::size_t i = 0; i < ports->size(); ++i) {
        handles.push_back(first + static_cast<SocketHandle>(i));
        socket_owner_[handles.back()] = token;
        socket_ports_[handles.back()] = (*ports)[i];
      }
      attempt.start(std::move(handles), now);
    }
    pump_attempts(now);
    advance(now);
    return;
  }
  if (stopped_ || !awaiting_sockets_ || first != discovery_first_) {
    // Not (or no longer) wanted: give them back.
    if (ports)
      for (std::size_t i = 0; i < ports->size(); ++i) commands_.push_back(CloseSocket{first + static_cast<SocketHandle>(i)});
    return;
  }
  awaiting_sockets_ = false;
  if (!ports || ports->size() != discovery_extra_) {
    if (ports)
      for (std::size_t i = 0; i < ports->size(); ++i) commands_.push_back(CloseSocket{first + static_cast<SocketHandle>(i)});
    sockets_in_use_ -= discovery_extra_;
    discovery_extra_ = 0;
    finish_discovery(now);  // no sockets: the device registers without a NAT behaviour
    advance(now);
    return;
  }
  NatDiscoveryConfig c;
  c.server = config_.server;
  c.local_addresses = config_.local_addresses;
  c.local_ports.push_back(config_.main_local.port);
  for (auto p : *ports) c.local_ports.push_back(p);
  c.random = [this](std::span<std::byte> out) { config_.random(out); };
  discovery_.emplace(std::move(c));
  for (auto& d : discovery_->start(now)) out_.push_back(OutDatagram{discovery_handle(d.socket), d.to, std::move(d.bytes)});
  collect(now);
  advance(now);
}

SocketHandle DeviceMachine::discovery_handle(std::size_t index) const {
  return index == 0 ? kMainSocket : discovery_first_ + static_cast<SocketHandle>(index - 1);
}

std::optional<std::size_t> DeviceMachine::discovery_index(SocketHandle h) const {
  if (h == kMainSocket) return 0;
  if (h >= discovery_first_ && h < discovery_first_ + discovery_extra_) return h - discovery_first_ + 1;
  return std::nullopt;
}

void DeviceMachine::finish_discovery(TimePoint) {
  nat_.reset();
  if (discovery_ && discovery_->finished() && discovery_->result().ok()) nat_ = registered_behavior(discovery_->result());
  discovery_.reset();
  awaiting_sockets_ = false;
  for (std::size_t i = 0; i < discovery_extra_; ++i)
    commands_.push_back(CloseSocket{discovery_first_ + static_cast<SocketHandle>(i)});
  sockets_in_use_ -= discovery_extra_;
  discovery_extra_ = 0;
  register_again_ = true;  // what was found is registered
}

void DeviceMachine::on_datagram(const InDatagram& d, TimePoint now) {
  auto socket = static_cast<SocketHandle>(d.socket);
  if (stopped_) {  // only closing sessions are left: they answer the peer with their close
    if (sessions_.size() == 0) return;
    if (socket != kMainSocket) on_own_socket(socket, d, now);
    else if (auto r = router_.route(d.bytes, d.from); r.to == Route::To::Session) sessions_.on_datagram(r.id, kMainSocket, d.from, d.bytes, now);
    collect(now);
    return;
  }
  if (socket == kMainSocket) {
    route_main(d, now);
  } else if (relays_.contains(socket)) {
    on_relay_socket(socket, d, now);
  } else if (auto i = discovery_ ? discovery_index(socket) : std::nullopt) {
    to_discovery(d, *i, now);
  } else {
    on_own_socket(socket, d, now);
  }
  collect(now);
  pump_attempts(now);
  advance(now);
}

// The main socket carries the server's answers and introductions, discovery's tests, every
// attempt's punch packets and signals: the router says whose each one is.
void DeviceMachine::route_main(const InDatagram& d, TimePoint now) {
  auto r = router_.route(d.bytes, d.from);
  switch (r.to) {
    case Route::To::Client:
      if (client_.on_datagram(d.bytes, d.from, now)) return;
      break;
    case Route::To::Attempt:
      if (auto a = attempts_.find(r.attempt); a != attempts_.end()) {
        a->second->on_datagram(kMainSocket, d.from, d.bytes, now);
        return;
      }
      if (auto rl = relayed_.find(r.attempt); rl != relayed_.end() && !rl->second.prober.finished()) {
        rl->second.prober.on_datagram(d.from, d.bytes, now);
        return;
      }
      // A relayed session of ours: the peer's ack of a direct probe names the direct path.
      for (auto& [handle, rl] : relays_)
        if (rl.connect.info() && rl.connect.info()->token == r.attempt && rl.connect.on_direct(d.from, d.bytes, now)) {
          pump_relays(now);
          return;
        }
      // The attempt is over but its session runs: the peer probing for a (better) path.
      if (auto c = sessions_.by_token(r.attempt)) {
        sessions_.answer_probe(*c, kMainSocket, d.from, d.bytes);
        return;
      }
      break;
    case Route::To::Session:
      sessions_.on_datagram(r.id, kMainSocket, d.from, d.bytes, now);
      return;
    case Route::To::NewSession:
      // The relayed initiator's QUIC Initial can be the first thing heard from it: that proves the
      // path as an ack would, and opens the session it belongs to.
      if (auto rl = relayed_.find(r.attempt); rl != relayed_.end() && rl->second.prober.on_datagram(d.from, d.bytes, now))
        pump_relayed(now);
      if (auto c = sessions_.by_token(r.attempt)) {
        sessions_.on_datagram(*c, kMainSocket, d.from, d.bytes, now);
        return;
      }
      break;
    default: break;  // the router counted its drops
  }
  // Discovery's answers come from the server's other addresses too; it takes only its own.
  if (discovery_) to_discovery(d, 0, now);
  else ++counters_.unclaimed_datagrams;
}

// An attempt's own socket: punch packets to the attempt (late probes too), QUIC to the session on it.
void DeviceMachine::on_own_socket(SocketHandle socket, const InDatagram& d, TimePoint now) {
  if (!looks_like_stun(d.bytes)) {
    if (auto c = sessions_.by_socket(socket)) {
      sessions_.on_datagram(*c, socket, d.from, d.bytes, now);
      return;
    }
  } else if (auto o = socket_owner_.find(socket); o != socket_owner_.end()) {
    if (auto a = attempts_.find(o->second); a != attempts_.end()) {
      a->second->on_datagram(socket, d.from, d.bytes, now);
      return;
    }
  }
  ++counters_.unclaimed_datagrams;
}

void DeviceMachine::to_discovery(const InDatagram& d, std::size_t index, TimePoint now) {
  for (auto& o : discovery_->on_datagram(InDatagram{index, d.from, d.bytes}, now))
    out_.push_back(OutDatagram{discovery_handle(o.socket), o.to, std::move(o.bytes)});
}

void DeviceMachine::on_timer(TimePoint now) {
  if (auto t = sessions_.next_deadline(); t && *t <= now) sessions_.on_timer(now);
  if (stopped_) {
    collect(now);
    return;
  }
  if (auto t = client_.next_deadline(); t && *t <= now) client_.on_timer(now);
  for (auto& [token, a] : attempts_)
    if (auto t = a->next_deadline(); t && *t <= now) a->on_timer(now);
  for (auto& [token, r] : relayed_)
    if (auto t = r.prober.next_deadline(); t && *t <= now) r.prober.on_timer(now);
  for (auto& [handle, r] : relays_)
    if (auto t = r.connect.next_deadline(); t && *t <= now) r.connect.on_timer(now);
  if (discovery_ && !discovery_->finished())
    if (auto t = discovery_->next_deadline(); t && *t <= now)
      for (auto& o : discovery_->on_timer(now))
        out_.push_back(OutDatagram{discovery_handle(o.socket), o.to, std::move(o.bytes)});
  collect(now);
  advance(now);
}

void DeviceMachine::on_socket_error(SocketHandle s, TimePoint now) {
  if (stopped_) return;
  if (s == kMainSocket) client_.on_socket_error();
  if (discovery_ && discovery_index(s)) finish_discovery(now);
  if (auto o = socket_owner_.find(s); o != socket_owner_.end())
    if (auto a = attempts_.find(o->second); a != attempts_.end()) a->second->fail("socket error", now);
  collect(now);
  pump_attempts(now);
  advance(now);
}

void DeviceMachine::on_port_mapped(Result<MappedPort, std::string> r, TimePoint now) {
  if (stopped_ || !port_mapping_pending_) return;
  port_mapping_pending_ = false;
  auto before = port_mapping_.advertised(registration_.mapped());
  if (r) port_mapping_.on_mapped(std::move(*r), now);
  else port_mapping_.on_failed(port_mapping_renewal_ ? "port mapping renewal failed: " + r.error() : r.error());
  port_mapping_renewal_ = false;
  // A mapping that appeared, moved or went away is registered (or withdrawn) at once.
  if (registration_.registered() && port_mapping_.advertised(registration_.mapped()) != before) register_again_ = true;
  advance(now);
}

void DeviceMachine::stop(TimePoint now) {
  if (stopped_) return;
  sessions_.close_all(now, "stopped");
  stopped_ = true;
  collect(now);
  if (port_mapping_.mapping()) commands_.push_back(ReleasePortMapping{});
  for (std::size_t i = 0; i < discovery_extra_; ++i)
    commands_.push_back(CloseSocket{discovery_first_ + static_cast<SocketHandle>(i)});
  discovery_.reset();
  discovery_extra_ = 0;
  for (const auto& [handle, token] : socket_owner_)
    if (!sessions_.uses(handle)) commands_.push_back(CloseSocket{handle});
  socket_owner_.clear();
  attempts_.clear();
  relayed_.clear();
  connects_.clear();
  for (auto& [handle, r] : relays_) {
    r.connect.retire(now);
    for (auto& d : r.connect.take_datagrams()) out_.push_back(std::move(d));
    commands_.push_back(CloseSocket{handle});
  }
  relays_.clear();
}

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

// The events of sessions: a relayed session that moved to the main socket retires its relay.
void DeviceMachine::on_session_event(const DeviceEvent& e, TimePoint now) {
  const auto* p = std::get_if<PathChangedEvent>(&e);
  if (!p) return;
  for (auto& [handle, r] : relays_) {
    if (!r.session || *r.session != p->connection || r.upgraded) continue;
    auto path = sessions_.path(p->connection);
    if (!path || path->socket != kMainSocket) continue;
    r.upgraded = true;
    r.connect.retire(now);
    events_.push_back(UpgradedEvent{p->connection, r.peer, p->to,
                                    std::chrono::duration_cast<milliseconds>(now - r.since),
                                    r.connect.direct_probes_sent()});
  }
}

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

Result<std::int64_t, std::string> DeviceMachine::send_message(ConnectionId c, ByteView data, TimePoint now) {
  auto r = sessions_.send_message(c, data, now);
  collect(now);
  return r;
}

Result<std::int64_t, std::string> DeviceMachine::reply(ConnectionId c, std::int64_t stream, ByteView data,
                                                       TimePoint now) {
  auto r = sessions_.reply(c, stream, data, now);
  collect(now);
  return r;
}

Result<bool, std::string> DeviceMachine::send_datagram(ConnectionId c, ByteView data, TimePoint now) {
  auto r = sessions_.send_datagram(c, data, now);
  collect(now);
  return r;
}

void DeviceMachine::close(ConnectionId c, TimePoint now) {
  sessions_.close(c, now);
  collect(now);
  pump_attempts(now);
}

std::size_t DeviceMachine::active_attempts() const {
  std::size_t n = 0;
  for (const auto& [token, a] : attempts_) n += !a->finished();
  for (const auto& [token, r] : relayed_) n += !r.prober.finished();
  return n;
}

const Attempt* DeviceMachine::attempt(const AttemptToken& t) const {
  auto it = attempts_.find(t);
  return it == attempts_.end() ? nullptr : it->second.get();
}

bool DeviceMachine::waiting_for_port_mapping(TimePoint now) {
  if (port_mapping_wait_until_ && (!port_mapping_pending_ || now >= *port_mapping_wait_until_))
    port_mapping_wait_until_.reset();
  return port_mapping_wait_until_.has_value();
}

void DeviceMachine::advance(TimePoint now) {
  if (stopped_ || !started_) return;
  if (discovery_ && (discovery_->finished() || now >= discovery_deadline_)) finish_discovery(now);
  if (awaiting_sockets_ && now >= discovery_deadline_) finish_discovery(now);
  if (port_mapping_.renewal_due(now) && !port_mapping_pending_) {
    commands_.push_back(RenewPortMapping{});
    port_mapping_pending_ = true;
    port_mapping_renewal_ = true;
  }
  // Registration waits for discovery (it registers what was found) and, the first time, for the
  // router's answer a while; then it goes whenever it is due, whatever else the device is doing.
  bool waiting = waiting_for_port_mapping(now);  // evaluated always: it drops a passed wait
  start_connects(now);
  pump_attempts(now);
  pump_relayed(now);
  pump_relays(now);
  if (!register_txn_ && !discovering() && !waiting && (register_again_ || now >= registration_.refresh_at()))
    start_registration(now);
  take_client_datagrams();
  collect_sessions(now);  // a session opened just now sends its Initial at once
}

void DeviceMachine::take_client_datagrams() {
  for (auto& d : client_.take_datagrams()) out_.push_back(OutDatagram{kMainSocket, d.to, std::move(d.bytes)});
}

void DeviceMachine::start_registration(TimePoint now) {
  register_again_ = false;
  RegisterRequest r{config_.id, {}, config_.lifetime_s, nat_, admission_.announced()};
  for (const auto& a : config_.local_addresses)
    if (a.family == config_.server.family) r.locals.push_back(a);
  r.port_mapped = port_mapping_.advertised(registration_.mapped());
  // A refresh gives up within one interval, so that a failed one is tried again before the
  // registration runs out (a restarted server answers the old nonce with a fresh one).
  std::optional<RetransmitPolicy> policy;
  if (registration_.registered()) {
    auto p = config_.policy;
    p.deadline = std::min(p.deadline, registration_.interval());
    policy = p;
  }
  advertised_in_flight_ = r.port_mapped;
  register_started_ = now;
  register_txn_ = client_.register_device(r, now, policy);
  ++counters_.registrations;
}

void DeviceMachine::on_registration_answer(const ClientAnswer& a, TimePoint now) {
  register_txn_.reset();
  if (!a.result) {
    const auto& e = a.result.error();
    registration_.on_failed(register_started_, now, e.kind == ClientError::Kind::Timeout);
    events_.push_back(RegistrationFailedEvent{"registration failed: " + e.message(), registration_.registered()});
    return;
  }
  const auto& response = std::get<RegisterResponse>(*a.result);
  auto change = registration_.on_registered(now, response.mapped, std::chrono::seconds(response.lifetime_s));
  advertised_ = advertised_in_flight_;
  if (change.back_after) events_.push_back(ReRegisteredEvent{response.mapped, *change.back_after});
  if (change.previous_mapping) {
    events_.push_back(MappingChangedEvent{*change.previous_mapping, response.mapped});
    // A new public mapping means the NAT (or the network) changed: learn its behaviour again and
    // register that.
    if (config_.discover) start_discovery(now);
  }
  // The port mapping is registered only on the public IP the server sees: the first answer tells
  // that IP, and a mapping on another one is withdrawn.
  auto wanted = port_mapping_.advertised(response.mapped);
  if (port_mapping_.mapping() && !wanted)
    port_mapping_.note("the router's mapping " + port_mapping_.mapping()->external.to_string() +
                       " is not on our public IP " + response.mapped.to_string() + " (a further NAT): not registered");
  if (wanted != advertised_) register_again_ = true;
  if (!announced_ && !register_again_ && !discovering()) {
    announced_ = true;
    RegisteredEvent e{response.mapped, response.lifetime_s, nat_, std::nullopt, port_mapping_.note()};
    if (wanted) e.port_mapping = port_mapping_.mapping();
    events_.push_back(std::move(e));
  }
}

// What the sessions produced: datagrams (through a relay when theirs is one), events, sockets and
// tokens they no longer use.
void DeviceMachine::collect_sessions(TimePoint now) {
  for (auto& d : sessions_.take_datagrams()) out_of_session(std::move(d));
  for (auto& e : sessions_.take_events()) {
    events_.push_back(std::move(e));
    on_session_event(events_.back(), now);
  }
  for (auto h : sessions_.take_released_sockets()) release_if_unused(h);
  for (const auto& t : sessions_.take_ended_tokens())
    if (!attempts_.contains(t) && !relayed_.contains(t)) router_.remove_attempt(t);
}

void DeviceMachine::collect(TimePoint now) {
  collect_sessions(now);
  if (stopped_) return;
  take_client_datagrams();
  for (auto& a : client_.take_answers()) {
    if (register_txn_ && a.txn == *register_txn_) on_registration_answer(a, now);
    else on_connect_answer(a, now);
  }
  while (auto info = client_.take_peer_info()) on_introduction(std::move(*info), now);
  if (auto n = client_.unauthenticated_peer_infos(); n > unauthenticated_seen_) {
    unauthenticated_seen_ = n;
    events_.push_back(UnauthenticatedPeerInfoEvent{n});
  }
}

std::optional<TimePoint> DeviceMachine::next_deadline() const {
  if (stopped_) return sessions_.next_deadline();
  if (!started_) return std::nullopt;
  std::optional<TimePoint> t = earliest(client_.next_deadline(), sessions_.next_deadline());
  if (discovery_ && !discovery_->finished()) t = earliest(t, discovery_->next_deadline());
  if (discovering()) t = earliest(t, discovery_deadline_);
  t = earliest(t, port_mapping_wait_until_);
  if (!port_mapping_pending_) t = earliest(t, port_mapping_.renew_at());
  // Before it is due, registration waits only for discovery and the router (advance() starts it
  // as soon as neither holds it back: a due time in the past never lingers here).
  if (!register_txn_ && !discovering() && !port_mapping_wait_until_) t = earliest(t, registration_.refresh_at());
  for (const auto& [token, a] : attempts_) {
    t = earliest(t, a->next_deadline());
    if (a->finished()) t = earliest(t, a->finished_at() + config_.linger);
  }
  // A connect's deadline is its own to act on while it asks; punching and the relay end by theirs.
  for (const auto& c : connects_)
    if (c.step == ConnectJob::Step::Request || c.step == ConnectJob::Step::Asking) t = earliest(t, c.options.deadline);
  for (const auto& [handle, r] : relays_) {
    t = earliest(t, r.connect.next_deadline());
    // A migration is tried when the session is ready for it (established, none pending): that
    // comes with a datagram, so only a retry waits on the clock.
    if (r.session && r.connect.direct() && !r.upgraded && r.migrate_tries > 0 && r.migrate_tries < 3 &&
        sessions_.established(*r.session) && !sessions_.migrating(*r.session))
      t = earliest(t, r.next_migrate);
  }
  for (const auto& [token, r] : relayed_) {
    t = earliest(t, r.prober.next_deadline());
    if (r.prober.finished()) t = earliest(t, r.ended + config_.linger);
  }
  return t;
}

std::vector<OutDatagram> DeviceMachine::take_datagrams() { return std::exchange(out_, {}); }
std::vector<DeviceCommand> DeviceMachine::take_commands() { return std::exchange(commands_, {}); }
std::vector<DeviceEvent> DeviceMachine::take_events() { return std::exchange(events_, {}); }

std::optional<PeerInfo> DeviceMachine::take_peer_info() {
  if (peer_infos_.empty()) return std::nullopt;
  auto info = std::move(peer_infos_.front());
  peer_infos_.pop_front();
  return info;
}

}  // namespace natpunch
