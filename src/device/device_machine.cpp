#include "device/device_machine.h"

#include <algorithm>

#include "session/quic_path.h"

namespace natpunch {

using std::chrono::milliseconds;

namespace {

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
