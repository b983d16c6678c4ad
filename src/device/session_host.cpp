#include "device/session_host.h"

#include <algorithm>

#include "wire/punch_packet.h"

namespace natpunch {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

SessionHost::SessionHost(DatagramRouter& router, const DeviceKey* key, RandomSource random, SessionPolicy policy)
    : router_(router), key_(key), random_(std::move(random)), policy_(policy) {}

Result<ConnectionId, std::string> SessionHost::open(const SessionStart& s, TimePoint now) {
  SessionConfig c;
  c.role = s.role;
  c.local = s.path.local;
  c.remote = s.path.remote;
  c.peer_key = s.peer_key;
  c.initial_rtt = s.initial_rtt;
  c.handshake_timeout = s.handshake_timeout;
  c.idle_timeout = policy_.idle_timeout;
  c.keepalive = policy_.keepalive;
  c.random = random_;
  auto created = QuicSession::create(c, key_, now);
  if (!created) return fail("QUIC session could not start: " + created.error());
  auto id = next_id_++;
  auto& h = sessions_[id];
  h.peer = s.peer;
  h.token = s.token;
  h.role = s.role;
  h.path = s.path;
  h.quic = std::move(*created);
  h.started = now;
  h.remote = s.path.remote;
  h.direct_probe_to = s.direct_probe_to;
  h.next_direct_probe = now;
  // The client's Initial carries a connection ID of its own choosing: on the main socket the router
  // takes it from the path's remote address (and only from there) to this session.
  if (s.role == SessionRole::Server && s.path.socket == kMainSocket) router_.expect_session(s.path.remote, s.token);
  after(id, h, s.role == SessionRole::Client ? h.quic->start(now) : std::vector<OutPacket>{}, now);
  return id;
}

SessionHost::Hosted* SessionHost::find(ConnectionId id) {
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : &it->second;
}

const SessionHost::Hosted* SessionHost::find(ConnectionId id) const {
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : &it->second;
}

// The socket a packet that must leave from `local` goes out on: the migration's path, or the current.
SocketHandle SessionHost::socket_for(const Hosted& h, const SocketAddress& local) const {
  if (h.next && local == h.next->local) return h.next->socket;
  return h.path.socket;
}

void SessionHost::on_datagram(ConnectionId id, SocketHandle socket, const SocketAddress& from, ByteView bytes,
                              TimePoint now) {
  auto* h = find(id);
  if (!h) return;
  // The local address the datagram arrived at, as QUIC knows the paths.
  auto local = h->next && socket == h->next->socket ? h->next->local : h->path.local;
  if (socket != h->path.socket && !(h->next && socket == h->next->socket)) return;  // not one of its paths
  after(id, *h, h->quic->on_datagram(bytes, local, from, now), now);
  sweep(now);
}

Result<bool, std::string> SessionHost::migrate(ConnectionId id, const SessionPath& to, TimePoint now) {
  auto* h = find(id);
  if (!h || h->quic->closed()) return fail(std::string("no such session"));
  if (h->role != SessionRole::Client) return fail(std::string("only the client moves a session"));
  auto r = h->quic->migrate(to.local, to.remote, now);
  if (!r) return r;
  h->next = to;
  after(id, *h, h->quic->flush(now), now);
  return r;
}

bool SessionHost::established(ConnectionId id) const {
  const auto* h = find(id);
  return h && h->quic->established() && !h->quic->closed();
}

bool SessionHost::migrating(ConnectionId id) const {
  const auto* h = find(id);
  return h && h->quic->migrating();
}

std::optional<SessionPath> SessionHost::path(ConnectionId id) const {
  const auto* h = find(id);
  if (!h) return std::nullopt;
  return h->path;
}

void SessionHost::on_timer(TimePoint now) {
  for (auto& [id, h] : sessions_) {
    if (auto t = h.quic->next_deadline(); t && *t <= now) after(id, h, h.quic->on_timer(now), now);
    if (auto t = probe_due(h); t && *t <= now) probe(h, now);
  }
  sweep(now);
}

std::optional<TimePoint> SessionHost::next_deadline() const {
  std::optional<TimePoint> t;
  for (const auto& [id, h] : sessions_) {
    if (auto d = h.quic->next_deadline(); d && (!t || *d < *t)) t = d;
    if (auto d = probe_due(h); d && (!t || *d < *t)) t = d;
  }
  return t;
}

// Direct probes of a relayed session: while it is established, still on the relayed address, and
// the budget lasts.
std::optional<TimePoint> SessionHost::probe_due(const Hosted& h) const {
  if (!h.direct_probe_to || h.direct_probes >= kDirectProbes || !h.quic->established() || h.quic->closed() ||
      h.remote != h.path.remote)
    return std::nullopt;
  return h.next_direct_probe;
}

void SessionHost::probe(Hosted& h, TimePoint now) {
  out_.push_back(OutDatagram{h.path.socket, *h.direct_probe_to,
                             encode_punch(punch_packet(h.token, PunchStage::Probe, *h.direct_probe_to, ++h.direct_probes),
                                          random_transaction_id(random_))});
  h.next_direct_probe = now + kDirectProbeEvery;
}

// Packets out, events up, the router's connection IDs in step: after every call into a session.
void SessionHost::after(ConnectionId id, Hosted& h, std::vector<OutPacket> packets, TimePoint now) {
  for (auto& p : packets) out_.push_back(OutDatagram{socket_for(h, p.from), p.to, std::move(p.bytes)});
  for (auto& e : h.quic->take_events()) {
    switch (e.kind) {
      case SessionEvent::Kind::Established:
        events_.push_back(SessionEstablishedEvent{id, h.peer, h.quic->peer_authenticated(), h.quic->handshake_time(),
                                                  h.quic->peer_certificate_key()});
        break;
      case SessionEvent::Kind::Message:
        ++h.messages;
        events_.push_back(MessageEvent{id, h.peer, e.stream, std::move(e.data)});
        break;
      case SessionEvent::Kind::Datagram:
        h.datagrams.count(e.data);
        events_.push_back(SessionDatagramEvent{id, std::move(e.data)});
        break;
      case SessionEvent::Kind::PathChanged:
        ++h.path_changes;
        events_.push_back(PathChangedEvent{id, h.peer, h.remote, e.remote});
        h.remote = e.remote;
        // Our migration validated: its path is the session's now (the old socket is left to its owner).
        if (h.next && e.local == h.next->local) {
          h.path = *h.next;
          h.path.remote = e.remote;
          h.next.reset();
        }
        break;
      case SessionEvent::Kind::PathValidationFailed:
        if (h.next && e.local == h.next->local) h.next.reset();
        break;
      case SessionEvent::Kind::Closed: break;  // reported below, once, with the summary
    }
  }
  if (h.quic->closed() && !h.reported_closed) {
    h.reported_closed = true;
    const auto& info = *h.quic->close_info();
    SessionClosedEvent c;
    c.connection = id;
    c.peer = h.peer;
    c.initiator = h.role == SessionRole::Client;
    c.established = h.quic->established();
    c.peer_authenticated = h.quic->peer_authenticated();
    c.by_peer = info.by_peer;
    c.idle_timeout = info.idle_timeout;
    c.reason = info.reason;
    c.handshake = h.quic->handshake_time();
    c.lasted = duration_cast<milliseconds>(now - h.started);
    c.messages = h.messages;
    c.path_changes = h.path_changes;
    c.datagrams_received = h.datagrams.received;
    c.datagrams_duplicated = h.datagrams.duplicates;
    c.datagrams_missing = h.datagrams.highest - h.datagrams.received;
    events_.push_back(std::move(c));
  }
  if (h.path.socket == kMainSocket || (h.next && h.next->socket == kMainSocket)) {
    router_.remove_session(id);
    if (!h.quic->closed() || h.quic->closing(now))
      for (const auto& cid : h.quic->source_cids()) router_.add_connection_id(cid, id);
  }
}

// A session that has closed and finished its closing period is forgotten.
void SessionHost::sweep(TimePoint now) {
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    auto& h = it->second;
    if (!h.quic->closed() || h.quic->closing(now)) {
      ++it;
      continue;
    }
    router_.remove_session(it->first);
    if (h.path.socket != kMainSocket) released_.push_back(h.path.socket);
    ended_.push_back(h.token);
    it = sessions_.erase(it);
  }
}

std::optional<ConnectionId> SessionHost::by_token(const AttemptToken& t) const {
  for (const auto& [id, h] : sessions_)
    if (h.token == t) return id;
  return std::nullopt;
}

std::optional<ConnectionId> SessionHost::by_socket(SocketHandle s) const {
  if (s == kMainSocket) return std::nullopt;
  for (const auto& [id, h] : sessions_)
    if (h.path.socket == s) return id;
  return std::nullopt;
}

std::size_t SessionHost::open_sessions() const {
  std::size_t n = 0;
  for (const auto& [id, h] : sessions_) n += !h.quic->closed();
  return n;
}

Result<std::int64_t, std::string> SessionHost::send_message(ConnectionId id, ByteView data, TimePoint now) {
  auto* h = find(id);
  if (!h) return fail(std::string("no such session"));
  auto r = h->quic->send_message(data);
  if (r) after(id, *h, h->quic->flush(now), now);
  return r;
}

Result<std::int64_t, std::string> SessionHost::reply(ConnectionId id, std::int64_t stream, ByteView data,
                                                     TimePoint now) {
  auto* h = find(id);
  if (!h) return fail(std::string("no such session"));
  auto r = h->quic->reply(stream, data);
  if (r) after(id, *h, h->quic->flush(now), now);
  return r;
}

Result<bool, std::string> SessionHost::send_datagram(ConnectionId id, ByteView data, TimePoint now) {
  auto* h = find(id);
  if (!h) return fail(std::string("no such session"));
  auto r = h->quic->send_datagram(data);
  if (r) after(id, *h, h->quic->flush(now), now);
  return r;
}

void SessionHost::close(ConnectionId id, TimePoint now, std::string reason) {
  auto* h = find(id);
  if (!h || h->quic->closed()) return;
  after(id, *h, h->quic->close(now, std::move(reason)), now);
  sweep(now);
}

void SessionHost::close_all(TimePoint now, std::string reason) {
  for (auto& [id, h] : sessions_)
    if (!h.quic->closed()) after(id, h, h.quic->close(now, reason), now);
  sweep(now);
}

std::vector<OutDatagram> SessionHost::take_datagrams() { return std::exchange(out_, {}); }
std::vector<DeviceEvent> SessionHost::take_events() { return std::exchange(events_, {}); }
std::vector<SocketHandle> SessionHost::take_released_sockets() { return std::exchange(released_, {}); }
std::vector<AttemptToken> SessionHost::take_ended_tokens() { return std::exchange(ended_, {}); }

void SessionHost::answer_probe(ConnectionId id, SocketHandle socket, const SocketAddress& from, ByteView bytes) {
  auto* h = find(id);
  if (!h || h->quic->closed()) return;
  auto probe = read_punch(bytes, h->token);
  if (!probe) return;
  for (const auto& a : late_probe_answers(*probe, from, from == h->quic->remote()))
    out_.push_back(OutDatagram{socket, from, encode_punch(a, random_transaction_id(random_))});
}

}  // namespace natpunch
