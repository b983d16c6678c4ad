// Runs a QUIC session (src/session) on a punched path's socket or on any DatagramPath (a TURN relay:
// relay_path.h), through drive_session (session_driver.h). Two uses: the initiator's exchange
// (handshake, one message and its echo, close) and the agent's service (echo every message until
// the peer closes, goes silent, or we stop).
#pragma once

#include <asio/ip/udp.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "identity/device_key.h"
#include <algorithm>

#include "io/awaitable.h"
#include "io/datagram_path.h"
#include "session/datagram_count.h"
#include "session/quic_session.h"
#include "wire/control_messages.h"

namespace natpunch {

struct SessionOptions {
  const DeviceKey* key = nullptr;     // our identity (nullptr: an ephemeral key, unauthenticated to the peer)
  std::optional<PublicKey> peer_key;  // pinned; from the peer-info, or from the user
  std::chrono::milliseconds handshake_timeout{5000};
  std::chrono::milliseconds idle_timeout{30000};
  std::chrono::milliseconds keepalive{15000};
  std::chrono::milliseconds initial_rtt{100};
  // The initiator's numbered DATAGRAM stream during a hold (tests of a path, and of a path change):
  // `datagrams` frames, one every `datagram_interval`, each carrying its sequence number (8 bytes,
  // big-endian) first. The receiving side counts them (SessionSummary::datagrams).
  std::uint32_t datagrams = 0;
  std::chrono::milliseconds datagram_interval{5};
  // While the session runs on a relayed path: punch probes (the session's attempt token) toward
  // the peer's public mapping, to open our NAT for a direct path the peer may move the session to
  // (the peer acks them; see relay_fallback.h). At most `direct_probes`, one per interval.
  std::optional<SocketAddress> direct_probe_to;
  std::chrono::milliseconds direct_probe_interval{500};
  std::uint32_t direct_probes = 120;
  // The initiator of a relayed session: polled while it runs; once it names a direct path (our
  // local address, the peer's), the session is moved there make-before-break (at most 3 tries).
  std::function<std::optional<std::pair<SocketAddress, SocketAddress>>()> direct_path;
  std::function<void()> on_upgraded;  // the move to direct_path() is validated and in use
  // Called when the session's peer address changes (the peer moved the session to another path).
  std::function<void(const SocketAddress& from, const SocketAddress& to)> on_path_change;
};


struct SessionSummary {
  bool established = false;
  bool peer_authenticated = false;
  std::optional<PublicKey> peer_certificate_key;
  std::chrono::milliseconds handshake{0};
  std::uint64_t messages = 0;
  std::uint64_t packets_sent = 0;
  std::optional<CloseInfo> closed;
  DatagramCount datagrams;
  std::uint32_t path_changes = 0;
  std::string ended;  // in words: "closed by peer", "idle timeout: …", "stopped", a handshake failure
};

// The initiator's side: QUIC client on `socket` toward `remote`; when `message` is set, sends it on
// a stream and waits for the echo (returned in `reply`); then keeps the session open for `hold`
// (keepalives and idle timeout as configured) and closes it. `timeout` bounds the handshake and the
// echo; the hold comes on top.
struct ExchangeResult {
  SessionSummary summary;
  std::optional<std::string> reply;
  std::string error;       // empty on success
  std::string hold_ended;  // with a hold: "hold over", or why the session ended before
  // A relayed session moved to a direct path (options.direct_path): where, and when.
  std::optional<SocketAddress> upgraded_to;
  std::chrono::milliseconds upgraded_after{0};
  std::string upgrade_error;  // the last failed try, when none succeeded
};
asio::awaitable<ExchangeResult> run_client_session(asio::ip::udp::socket& socket, const SocketAddress& remote,
                                                   const AttemptToken& token, const SessionOptions& options,
                                                   std::optional<std::string> message,
                                                   std::chrono::milliseconds timeout,
                                                   std::chrono::milliseconds hold = std::chrono::milliseconds(0));

// The same on any path: QUIC's local address is path.local() (for a relay, the relayed address).
// The path is not closed: its owner does that.
asio::awaitable<ExchangeResult> run_client_session(DatagramPath& path, const SocketAddress& remote,
                                                   const AttemptToken& token, const SessionOptions& options,
                                                   std::optional<std::string> message,
                                                   std::chrono::milliseconds timeout,
                                                   std::chrono::milliseconds hold = std::chrono::milliseconds(0));

// The agent's side: QUIC server on `socket` for the client at `remote`; echoes every message
// (reporting it through `on_message`) until the session ends or `stopping` turns true. A server
// answers the client's Initial wherever it comes from (on a relay: any port of a permitted IP).
asio::awaitable<SessionSummary> run_server_session(asio::ip::udp::socket& socket, const SocketAddress& remote,
                                                   const AttemptToken& token, const SessionOptions& options,
                                                   std::function<void(const std::string&)> on_message,
                                                   const bool& stopping);
asio::awaitable<SessionSummary> run_server_session(DatagramPath& path, const SocketAddress& remote,
                                                   const AttemptToken& token, const SessionOptions& options,
                                                   std::function<void(const std::string&)> on_message,
                                                   const bool& stopping);

}  // namespace natpunch
