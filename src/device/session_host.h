// The device's QUIC sessions (docs/design/device-runtime.md §7.1): one per connected attempt, many
// at once, on the main socket or on the attempt's own socket. Told the datagrams the router gave
// them and the time; keeps the router's connection-ID map in step with each session's IDs (so a
// peer's packets find their session on a shared socket, whatever its address); reports what
// happens as device events; ends each session cleanly (its closing period: a lost
// CONNECTION_CLOSE is sent again) before forgetting it. Apps act through send_message, reply,
// send_datagram and close (the agent's echo is one: device/echo_app.h).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "device/datagram_router.h"
#include "device/device_events.h"
#include "device/device_io.h"
#include "session/datagram_count.h"
#include "session/quic_session.h"
#include "wire/datagram_machine.h"

namespace natpunch {

struct SessionPolicy {
  std::chrono::milliseconds keepalive{15'000};
  std::chrono::milliseconds idle_timeout{30'000};
  std::chrono::milliseconds handshake_timeout{10'000};
};

// Where a session runs: a socket of the device, its local address as QUIC sees it, the peer.
struct SessionPath {
  SocketHandle socket = kMainSocket;
  SocketAddress local;
  SocketAddress remote;
};

struct SessionStart {
  SessionRole role = SessionRole::Client;
  DeviceId peer;
  AttemptToken token{};
  SessionPath path;
  std::optional<PublicKey> peer_key;  // pinned: the handshake fails on any other
  std::chrono::milliseconds initial_rtt{100};
  std::chrono::milliseconds handshake_timeout{10'000};
  // A relayed session (the remote is the initiator's relayed address): punch probes toward the
  // initiator's own mapping while it runs, so that our NAT lets in a direct path the initiator may
  // move the session to (make-before-break). At most kDirectProbes, one per kDirectProbeEvery, and
  // none once the session has moved.
  std::optional<SocketAddress> direct_probe_to;
};

class SessionHost {
 public:
  static constexpr std::uint32_t kDirectProbes = 120;
  static constexpr std::chrono::milliseconds kDirectProbeEvery{500};

  // `key`: this device's identity (nullptr: an ephemeral one); `random` draws connection IDs.
  SessionHost(DatagramRouter& router, const DeviceKey* key, RandomSource random, SessionPolicy policy);

  // A client sends its Initial at once; a server waits for the client's, which the router brings as
  // NewSession (from the path's remote) and then by connection ID.
  Result<ConnectionId, std::string> open(const SessionStart& s, TimePoint now);
  // A QUIC datagram for `id` that arrived on `socket` (Route::Session, Route::NewSession, or its
  // own socket; during a migration, the new path's socket too).
  void on_datagram(ConnectionId id, SocketHandle socket, const SocketAddress& from, ByteView bytes, TimePoint now);
  // Client only, once established: moves the session to `to` make-before-break (QuicSession::migrate;
  // the current path carries everything until the new one is validated, then PathChangedEvent).
  Result<bool, std::string> migrate(ConnectionId id, const SessionPath& to, TimePoint now);
  bool established(ConnectionId id) const;
  bool migrating(ConnectionId id) const;
  // The session's current path (after a validated migration: the new one).
  std::optional<SessionPath> path(ConnectionId id) const;
  void on_timer(TimePoint now);
  std::optional<TimePoint> next_deadline() const;

  std::optional<ConnectionId> by_token(const AttemptToken& t) const;
  std::optional<ConnectionId> by_socket(SocketHandle s) const;  // a session on one of the device's own sockets
  bool uses(SocketHandle s) const { return by_socket(s).has_value(); }
  std::size_t size() const { return sessions_.size(); }
  std::size_t open_sessions() const;  // not closed (closing ones excluded)

  Result<std::int64_t, std::string> send_message(ConnectionId id, ByteView data, TimePoint now);
  Result<std::int64_t, std::string> reply(ConnectionId id, std::int64_t stream, ByteView data, TimePoint now);
  Result<bool, std::string> send_datagram(ConnectionId id, ByteView data, TimePoint now);
  void close(ConnectionId id, TimePoint now, std::string reason = "closed");
  void close_all(TimePoint now, std::string reason);

  std::vector<OutDatagram> take_datagrams();
  std::vector<DeviceEvent> take_events();
  // Sockets (not the main one) that an ended session no longer uses.
  std::vector<SocketHandle> take_released_sockets();
  // The attempt tokens of sessions that ended (the router may forget them).
  std::vector<AttemptToken> take_ended_tokens();
  // A punch probe of the session's attempt arriving at `socket` from `from` (the peer looking for
  // a path while the session runs, e.g. to move it off a relay, or its late probe): answered with
  // an ack, and a confirm when it comes from the session's own path (wire/punch_packet.h).
  void answer_probe(ConnectionId id, SocketHandle socket, const SocketAddress& from, ByteView bytes);

 private:
  struct Hosted {
    DeviceId peer;
    AttemptToken token{};
    SessionRole role = SessionRole::Client;
    SessionPath path;
    std::optional<SessionPath> next;  // a migration's path, until validated
    std::unique_ptr<QuicSession> quic;
    TimePoint started{};
    std::uint64_t messages = 0;
    DatagramCount datagrams;
    std::uint32_t path_changes = 0;
    SocketAddress remote;  // as last reported
    bool reported_closed = false;
    std::optional<SocketAddress> direct_probe_to;
    std::uint32_t direct_probes = 0;
    TimePoint next_direct_probe{};
  };
  void after(ConnectionId id, Hosted& h, std::vector<OutPacket> packets, TimePoint now);
  void sweep(TimePoint now);
  std::optional<TimePoint> probe_due(const Hosted& h) const;
  void probe(Hosted& h, TimePoint now);
  Hosted* find(ConnectionId id);
  const Hosted* find(ConnectionId id) const;
  SocketHandle socket_for(const Hosted& h, const SocketAddress& local) const;

  DatagramRouter& router_;
  const DeviceKey* key_;
  RandomSource random_;
  SessionPolicy policy_;
  ConnectionId next_id_ = 1;
  std::map<ConnectionId, Hosted> sessions_;
  std::vector<OutDatagram> out_;
  std::vector<DeviceEvent> events_;
  std::vector<SocketHandle> released_;
  std::vector<AttemptToken> ended_;
};

}  // namespace natpunch
