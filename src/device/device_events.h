// What the device machine reports to whoever runs it (the CLI prints these as its JSON events and
// human lines; a library hands them to the app). Values only: the machine never prints.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "device/admission.h"
#include "device/device_io.h"
#include "device/registration.h"
#include "punch/method.h"
#include "wire/address.h"
#include "wire/bytes.h"
#include "wire/nat_behavior.h"

namespace natpunch {

// A session of the device (one QUIC connection with one peer), as the machine names it.
using ConnectionId = std::uint32_t;

// The first registration is complete (after discovery, and with the port mapping registered when
// there is one on our public IP).
struct RegisteredEvent {
  SocketAddress mapped;
  std::uint32_t ttl_s = 0;
  std::optional<NatBehavior> nat;
  std::optional<MappedPort> port_mapping;  // as registered (on our public IP)
  std::string port_mapping_note;           // why there is none, or why it is not registered
};
// A registration succeeded after failed ones: the server was out of reach for `down`.
struct ReRegisteredEvent {
  SocketAddress mapped;
  std::chrono::milliseconds down{0};
};
// The server sees another public mapping: the NAT or the network changed; the device learns its
// NAT's behaviour again and registers that.
struct MappingChangedEvent {
  SocketAddress old_mapped;
  SocketAddress mapped;
};
// A registration failed (the device keeps trying: at once after a timeout, an interval after a
// refusal). `registered_before`: false while the device has never been registered.
struct RegistrationFailedEvent {
  std::string error;
  bool registered_before = false;
};
// Peer-infos dropped because they did not carry a nonce this device quoted: `count` so far.
struct UnauthenticatedPeerInfoEvent {
  std::uint64_t count = 0;
};

// An introduction the device refused before sending the peer anything (the allow list, a pinned
// key, relayed attempts, the per-peer budget).
struct AttemptRefusedEvent {
  DeviceId peer;
  Refusal reason = Refusal::NotAllowed;
};
// An introduction the device had no room for (attempts or sockets at their limit): the peer was
// told at once (a GiveUp signal), so it fails fast and may try again or use a relay.
struct AttemptBusyEvent {
  DeviceId peer;
  std::string reason;
};
// An attempt found its path: `socket` (a SocketHandle) to `remote`. Its QUIC session is
// `connection` (0: it could not be made; a SessionClosedEvent says why).
struct ConnectedEvent {
  DeviceId peer;
  ConnectionId connection = 0;
  AttemptToken token{};
  bool initiator = false;
  Method method = Method::Direct;
  SocketHandle socket = 0;
  SocketAddress remote;
  std::chrono::milliseconds elapsed{0};
  std::uint64_t probes_sent = 0;
  std::optional<std::chrono::microseconds> rtt;
  bool relayed = false;  // through the initiator's TURN relayed address (`method` means nothing then)
  // The initiator's side (DeviceMachine::connect): the connect requests it took, the path's local
  // address (the main socket's, an own socket's, or our relayed address), our public address as
  // the peer saw it, and the TURN server when relayed.
  int attempts = 0;
  SocketAddress local;
  std::optional<SocketAddress> self_public;
  std::optional<SocketAddress> relay_server;
};
// The server introduced the initiator to its peer (one per connect request answered): what it said
// of the peer, and whether it offers a relay.
struct IntroducedEvent {
  DeviceId peer;
  AttemptToken token{};
  int attempt = 0;
  std::optional<NatBehavior> peer_nat;
  std::optional<SocketAddress> relay_offered;  // the TURN server
  bool relayed = false;                        // the relayed attempt's introduction
  std::optional<PublicKey> peer_key;           // what the session will pin (--peer-key, else the peer-info's)
};
// A connect (DeviceMachine::connect) ended without a path: every attempt (and the relay, when
// offered and allowed) failed, the server refused, or the deadline passed. `error` says why, in
// words; AttemptFailedEvents came before it for each attempt.
struct ConnectFailedEvent {
  DeviceId peer;
  std::string error;
  int attempts = 0;
  std::chrono::milliseconds elapsed{0};
  bool relay_tried = false;
};
// A relayed session (the initiator's) moved to a direct path, make-before-break; the relay
// allocation is deleted.
struct UpgradedEvent {
  ConnectionId connection = 0;
  DeviceId peer;
  SocketAddress remote;
  std::chrono::milliseconds after{0};  // since the relayed session started
  std::uint64_t probes_sent = 0;       // direct probes from the main socket
};
// A relayed session could not move to the direct path the peer answered on (each try failed).
struct UpgradeFailedEvent {
  ConnectionId connection = 0;
  std::string error;
};
// An attempt (or, with no token, a connect request the server refused or never answered) ended
// without a path.
struct AttemptFailedEvent {
  DeviceId peer;
  std::optional<AttemptToken> token;
  bool initiator = false;
  std::string error;
  std::chrono::milliseconds elapsed{0};
  bool silent_peer = false;  // ended because nothing came from the peer (attempt.h)
  bool relayed = false;      // a relayed attempt (the initiator's relayed address never answered)
  bool relay_offered = false;  // the server offered a relay: the initiator falls back to it next
  bool superseded = false;     // the peer started a newer attempt (it had given this one up)
};

// Sessions (device/session_host.h): a QUIC connection (TLS 1.3, the peer's key pinned) on a path.

// The handshake completed: the peer proved the key it was pinned to (or has none: unauthenticated).
struct SessionEstablishedEvent {
  ConnectionId connection = 0;
  DeviceId peer;
  bool peer_authenticated = false;
  std::chrono::milliseconds handshake{0};
  std::optional<PublicKey> peer_key;  // what the peer's certificate carried
};
// A whole message on a stream (answer it on the same stream with reply()).
struct MessageEvent {
  ConnectionId connection = 0;
  DeviceId peer;
  std::int64_t stream = -1;
  Bytes data;
};
// One DATAGRAM frame's payload.
struct SessionDatagramEvent {
  ConnectionId connection = 0;
  Bytes data;
};
// The session now runs on another path (the peer moved it, or our migration was validated).
struct PathChangedEvent {
  ConnectionId connection = 0;
  DeviceId peer;
  SocketAddress from;
  SocketAddress to;
};
// The session ended; its closing period (our CONNECTION_CLOSE sent again if lost) may still run.
struct SessionClosedEvent {
  ConnectionId connection = 0;
  DeviceId peer;
  bool initiator = false;
  bool established = false;
  bool peer_authenticated = false;
  bool by_peer = false;
  bool idle_timeout = false;
  std::string reason;  // "closed by peer", "idle timeout: …", a handshake failure
  std::chrono::milliseconds handshake{0};
  std::chrono::milliseconds lasted{0};
  std::uint64_t messages = 0;  // received
  std::uint32_t path_changes = 0;
  std::uint64_t datagrams_received = 0;
  std::uint64_t datagrams_duplicated = 0;
  std::uint64_t datagrams_missing = 0;  // of the numbered ones (session/datagram_count.h)
};

using DeviceEvent = std::variant<RegisteredEvent, ReRegisteredEvent, MappingChangedEvent, RegistrationFailedEvent,
                                 UnauthenticatedPeerInfoEvent, AttemptRefusedEvent, AttemptBusyEvent, ConnectedEvent,
                                 AttemptFailedEvent, SessionEstablishedEvent, MessageEvent, SessionDatagramEvent,
                                 PathChangedEvent, SessionClosedEvent, IntroducedEvent, ConnectFailedEvent, UpgradedEvent,
                                 UpgradeFailedEvent>;

}  // namespace natpunch
