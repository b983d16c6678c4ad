// One QUIC connection (RFC 9000, ngtcp2 0.12) on a punched path, with mutual TLS 1.3 (GnuTLS) where
// each side's certificate carries its device key and is checked against the key the rendezvous
// server's peer-info delivered (docs/security.md). The shape of every engine here (STYLE.md
// example 1): told the time and the datagrams that arrive, it answers with datagrams to send and its
// next deadline. The initiator of a connect is the QUIC client; the agent answering it the server.
//
// What the application sees: `established` once the peer is authenticated, whole messages on
// bidirectional streams (one message per stream, ended by FIN), and `closed` with a reason.
//
// Paths (RFC 9000 §9): a path is (local, remote). Every packet says which local address it leaves
// from and which remote it goes to, and the caller says on which local address a datagram arrived.
// The client can move the connection make-before-break (migrate()): the old path carries the
// traffic until the new one has answered a PATH_CHALLENGE; a server follows the client's newest
// packets on their own (and validates the new address itself).
#pragma once

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "identity/device_key.h"
#include "wire/address.h"
#include "wire/bytes.h"
#include "wire/clock.h"
#include "wire/random_source.h"
#include "wire/result.h"

struct ngtcp2_connection_close_error;  // ngtcp2/ngtcp2.h, kept out of this header

namespace natpunch {

enum class SessionRole { Client, Server };

// The most copies of our CONNECTION_CLOSE a closing session sends (RFC 9000 §10.2.1 asks for a limit).
inline constexpr int kMaxCloseSends = 6;

// The largest message one stream carries (a bigger inbound one closes the connection).
inline constexpr std::size_t kMaxSessionMessage = 64 * 1024;
// The largest DATAGRAM payload either side sends or accepts (fits a 1200-byte packet with headers).
inline constexpr std::size_t kMaxSessionDatagram = 1100;

struct SessionConfig {
  SessionRole role = SessionRole::Client;
  SocketAddress local;   // the socket's own address, as the io layer reports it (stable per socket)
  SocketAddress remote;  // the peer's address on the punched path (the client's first destination)
  // The peer's identity key. Set: the handshake fails unless the peer's certificate carries exactly
  // this key. Unset (the peer registered without a key): encrypted but unauthenticated, reported so.
  std::optional<PublicKey> peer_key;
  std::chrono::milliseconds initial_rtt{100};   // the RTT measured while punching, when known
  std::chrono::milliseconds handshake_timeout{5000};
  std::chrono::milliseconds idle_timeout{30000};  // RFC 9000 §10.1 max_idle_timeout
  std::chrono::milliseconds keepalive{15000};     // PING after this much quiet (0 = none)
  std::size_t max_message = kMaxSessionMessage;
  // Connection IDs, stateless-reset tokens and ngtcp2's random bytes (unset: system_random()).
  // A seeded source makes a session's bytes repeatable in tests; TLS keys stay GnuTLS's own.
  RandomSource random;
};

// The session's initial RTT from the round trip the punch measured (PunchOutcome::rtt), so the
// handshake's first retransmission comes after one real round trip and not a guessed one: at least
// 5 ms (jitter must not fire spurious retransmissions), at most 1 s; `fallback` when none was measured.
inline std::chrono::milliseconds initial_rtt_for(std::optional<std::chrono::microseconds> measured,
                                                 std::chrono::milliseconds fallback) {
  if (!measured) return fallback;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(*measured);
  return std::clamp(ms, std::chrono::milliseconds(5), std::chrono::milliseconds(1000));
}

struct OutPacket {
  SocketAddress to;
  Bytes bytes;
  SocketAddress from;  // the local address it must leave from: the path's local (config.local unless migrated)
};

struct SessionEvent {
  // PathChanged: the session's path is now (local, remote) — a migration validated and in use, or
  // (server) the client's newest packets came from a new address. PathValidationFailed: the path
  // (local, remote) did not answer its PATH_CHALLENGEs (or a newer migrate() replaced it); the
  // session stays on its current path.
  enum class Kind { Established, Message, Datagram, Closed, PathChanged, PathValidationFailed } kind;
  std::int64_t stream = -1;  // Message: the stream it came on (answer on the same stream)
  Bytes data;                // Message: the whole message; Datagram: one DATAGRAM frame's payload
  std::string reason;        // Closed, PathValidationFailed: why
  SocketAddress local;       // PathChanged, PathValidationFailed: the path's local address
  SocketAddress remote;      //   and its remote address
};

// Why a session ended, in words a user can act on.
struct CloseInfo {
  bool by_peer = false;
  bool idle_timeout = false;
  bool handshake_failed = false;
  bool pin_mismatch = false;  // our check of the peer's key failed (man in the middle, or a stale key)
  std::string reason;
};

class QuicSession {
 public:
  // `key` (our identity) must outlive the session; nullptr: an ephemeral key is made for it.
  static Result<std::unique_ptr<QuicSession>, std::string> create(const SessionConfig& config, const DeviceKey* key,
                                                                  TimePoint now);
  ~QuicSession();
  QuicSession(const QuicSession&) = delete;
  QuicSession& operator=(const QuicSession&) = delete;

  // A client's first flight (Initial); nothing for a server, which waits for it.
  std::vector<OutPacket> start(TimePoint now);
  // A QUIC datagram from the path (the io layer has already set STUN-framed ones aside), received
  // on config.local.
  std::vector<OutPacket> on_datagram(ByteView bytes, const SocketAddress& from, TimePoint now);
  // The same, received on the local address `local` (a socket or relayed address of this side).
  std::vector<OutPacket> on_datagram(ByteView bytes, const SocketAddress& local, const SocketAddress& from,
                                     TimePoint now);
  // Called at (or after) next_deadline(): retransmission, keepalive, idle and handshake timeouts.
  std::vector<OutPacket> on_timer(TimePoint now);
  std::optional<TimePoint> next_deadline() const;

  // Sends `data` as one message on a new stream (client or server). Flushed by the next call that
  // returns packets, or by flush().
  Result<std::int64_t, std::string> send_message(ByteView data);
  // One unreliable datagram (RFC 9221 DATAGRAM frame, at most kMaxSessionDatagram bytes): sent once,
  // never retransmitted; refused when the peer did not offer DATAGRAM support or 256 wait already.
  Result<bool, std::string> send_datagram(ByteView data);
  // Answers a message on the stream it arrived on.
  Result<std::int64_t, std::string> reply(std::int64_t stream, ByteView data);
  std::vector<OutPacket> flush(TimePoint now);
  // Client only, once established (handshake confirmed): moves the connection to the path (local,
  // remote), make-before-break. The current path keeps carrying everything while the new one is
  // validated (PATH_CHALLENGE/PATH_RESPONSE, RFC 9000 §8.2); then local()/remote() change and a
  // PathChanged event says so, or PathValidationFailed says the new path did not answer. `local`
  // must differ from the current local address (ngtcp2 0.12 refuses a new remote from the same
  // local); `remote` may differ from the current remote. The packets of the new path are flushed by
  // the next call that returns packets. A migrate() while one is pending replaces it.
  Result<bool, std::string> migrate(const SocketAddress& local, const SocketAddress& remote, TimePoint now);
  // Closes with NO_ERROR (application code 0): the packet that tells the peer.
  std::vector<OutPacket> close(TimePoint now, std::string reason = "closed");

  std::vector<SessionEvent> take_events();
  bool established() const { return established_; }
  bool closed() const { return closed_.has_value(); }
  // The closing period after our own CONNECTION_CLOSE (RFC 9000 §10.2.1), which may be lost: the
  // same packet goes again at 1 and 2 PTO, and in answer to a packet from the peer's address, at
  // most kMaxCloseSends times in all, for 3 PTO (capped at 2 s). A driver keeps feeding the session
  // datagrams and timers (next_deadline()) while closing() holds; a peer's close ends nothing here.
  bool closing(TimePoint now) const;
  const std::optional<CloseInfo>& close_info() const { return closed_; }
  // The key the peer's certificate carried (after the handshake), and whether it was pinned.
  const std::optional<PublicKey>& peer_certificate_key() const { return seen_peer_key_; }
  bool peer_authenticated() const { return established_ && config_.peer_key.has_value(); }
  // The current path: what ngtcp2 sends on (a migration changes it only once validated).
  SocketAddress local() const { return local_; }
  SocketAddress remote() const { return remote_; }
  // A migrate() waits for its path's validation.
  bool migrating() const { return migrating_; }
  std::chrono::milliseconds handshake_time() const { return handshake_time_; }
  // The connection IDs this side issued and has not retired: the Destination Connection IDs of the
  // peer's packets, by which a device sorts what arrives on a shared socket (device/DatagramRouter).
  std::vector<Bytes> source_cids() const;

  struct Impl;  // ngtcp2/GnuTLS callbacks reach the session through it

 private:
  QuicSession(const SessionConfig& config, TimePoint now);
  Result<bool, std::string> init_tls(const DeviceKey& key);
  Result<bool, std::string> init_client(TimePoint now);
  Result<bool, std::string> init_server(ByteView first, const SocketAddress& local, const SocketAddress& from,
                                        TimePoint now);
  std::vector<OutPacket> write(TimePoint now);
  // The idle timeout in force (RFC 9000 §10.1): ours, or the peer's max_idle_timeout if shorter.
  std::chrono::milliseconds effective_idle() const;
  std::vector<OutPacket> fail_with(int liberr, CloseInfo info, TimePoint now);
  std::vector<OutPacket> write_close(const ::ngtcp2_connection_close_error& ccerr, TimePoint now);
  void set_closed(CloseInfo info);
  void begin_closing(OutPacket packet, TimePoint now);
  void mark_established();
  void sync_path();

  SessionConfig config_;
  std::unique_ptr<Impl> impl_;
  TimePoint started_;
  TimePoint last_now_;
  TimePoint last_heard_;  // the last packet from the peer that ngtcp2 accepted
  TimePoint last_timer_;  // the last on_timer()
  SocketAddress local_;   // the current path (ngtcp2_conn_get_path), as of the last call
  SocketAddress remote_;
  bool migrating_ = false;
  bool established_ = false;
  bool pin_checked_ = false;
  std::optional<CloseInfo> closed_;
  std::optional<OutPacket> closing_packet_;  // our CONNECTION_CLOSE, for the closing period
  TimePoint closing_until_{};
  TimePoint next_close_send_{};
  std::chrono::nanoseconds close_interval_{0};
  int close_sends_ = 0;
  std::optional<PublicKey> seen_peer_key_;
  std::chrono::milliseconds handshake_time_{0};
  std::vector<SessionEvent> events_;

  struct StreamOut {
    Bytes data;
    std::size_t sent = 0;
    bool fin_sent = false;
  };
  std::map<std::int64_t, StreamOut> out_;   // data stays here until the stream closes (ngtcp2 keeps pointers)
  std::map<std::int64_t, Bytes> in_;        // partial inbound messages
  std::vector<Bytes> datagrams_out_;        // waiting for the next write
};

}  // namespace natpunch
