// The initiator's last resort (docs/design/device-runtime.md §8a): no direct path was found (or
// `connect --relay-only`), the server offered a TURN relay, so the device allocates a relayed
// address on it (RFC 8656, relay/turn_client.h) over a socket of its own, lets the peer's public IP
// in, and asks the server for a relayed attempt (NP-CONNECT with NP-RELAYED, a new token). The peer
// probes the relayed address from its main socket (device/relayed_prober.h); the first probe that
// arrives through the relay is acked there and names the peer's address as the relay sees it: the
// QUIC session runs toward it, every packet wrapped for the relay (wrap()) and unwrapped from it
// (take_session_data()).
//
// The upgrade (make-before-break): while the session runs relayed, the main socket probes the
// peer's public mapping and up to 3 of its LAN addresses (one round per 500 ms, at most 120 rounds);
// the peer's NAT is open toward us since it probes our mapping too (SessionStart::direct_probe_to).
// The first ack names the direct path (direct()); the machine moves the session there and then
// retires the relay (retire(): the allocation is deleted).
//
// No I/O: datagrams out name the socket (the relay's own, or the main one); bounded by `deadline`
// until the peer is reached, and by the probe budget after.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "device/device_io.h"
#include "relay/turn_client.h"
#include "wire/control_messages.h"
#include "wire/datagram_machine.h"
#include "wire/random_source.h"

namespace natpunch {

class RelayedConnect {
 public:
  static constexpr std::chrono::milliseconds kReintroduceEvery{1000};
  static constexpr std::chrono::milliseconds kDirectProbeEvery{500};
  static constexpr std::uint32_t kDirectRounds = 120;
  static constexpr std::size_t kDirectCandidates = 4;  // the peer's mapping and 3 LAN addresses

  enum class State { OpeningSocket, Allocating, Permitting, Introducing, Waiting, Reached, Failed, Retired };

  struct Config {
    PeerInfo punched;           // the last introduction (its `turn` is set): the peer and the relay
    SocketHandle socket = 0;    // the relay's socket (OpenSockets{socket, 1} is asked for by the machine)
    SocketAddress server;       // the rendezvous server (the re-sent request goes there)
    SocketAddress main_local;   // the main socket's local address (the upgrade's path)
    TimePoint deadline{};       // the peer must be reached by then
    bool upgrade = true;        // probe for a direct path while relayed
    RandomSource random;
  };

  RelayedConnect(Config config, TimePoint now);

  // The relay's socket is open (or could not be).
  void on_socket_opened(bool ok, std::string error, TimePoint now);
  // A datagram on the relay's socket (from the TURN server or not: others are ignored).
  void on_relay_datagram(const SocketAddress& from, ByteView bytes, TimePoint now);
  // A punch packet of the relayed attempt's token on the main socket: an ack of our direct probe
  // names the direct path (true: it is new).
  bool on_direct(const SocketAddress& from, ByteView bytes, TimePoint now);
  void on_timer(TimePoint now);
  std::optional<TimePoint> next_deadline() const;

  // The relayed address is allocated and the peer's IP permitted: the machine asks the server for
  // the relayed attempt (NP-CONNECT with NP-RELAYED) and answers with introduced().
  bool wants_introduction() const { return state_ == State::Introducing && !asked_; }
  void asking() { asked_ = true; }
  // The server's answer: the relayed attempt's peer-info (its token), and the request's bytes, sent
  // again every kReintroduceEvery while the peer has not reached us (the server re-introduces).
  void introduced(Result<PeerInfo, std::string> info, Bytes request, TimePoint now);

  // The session's datagrams: out through the relay (a datagram for the TURN server on the relay's
  // socket), and what the peer sent through it (QUIC; punch packets are handled here).
  Result<OutDatagram, std::string> wrap(const SocketAddress& to, ByteView bytes) const;
  std::vector<RelayedDatagram> take_session_data();
  std::vector<OutDatagram> take_datagrams();

  // The session moved to the direct path: the allocation is deleted and nothing more is probed.
  void retire(TimePoint now);

  State state() const { return state_; }
  bool reached() const { return state_ == State::Reached || state_ == State::Retired; }
  bool failed() const { return state_ == State::Failed; }
  const std::string& error() const { return error_; }
  const PeerInfo& punched() const { return config_.punched; }
  // The relayed attempt's introduction (set once introduced).
  const std::optional<PeerInfo>& info() const { return info_; }
  std::optional<SocketAddress> relayed() const { return turn_.relayed(); }
  // The peer as the relay sees it (the session's remote), once reached.
  const std::optional<SocketAddress>& remote() const { return remote_; }
  const std::optional<SocketAddress>& direct() const { return direct_; }
  SocketHandle socket() const { return config_.socket; }
  std::chrono::milliseconds elapsed() const { return elapsed_; }  // until reached or failed
  std::uint64_t packets_sent() const { return sent_; }
  std::uint64_t direct_probes_sent() const { return direct_probes_; }

 private:
  void send_turn(std::vector<Bytes> out);
  void fail(std::string why, TimePoint now);
  void step(TimePoint now);
  void probe_round(TimePoint now);

  Config config_;
  TurnClient turn_;
  State state_ = State::OpeningSocket;
  bool asked_ = false;
  std::string error_;
  TimePoint created_;
  std::chrono::milliseconds elapsed_{0};
  std::optional<PeerInfo> info_;
  Bytes request_;
  TimePoint next_reintroduce_{};
  std::optional<SocketAddress> remote_;
  std::optional<SocketAddress> direct_;
  std::vector<SocketAddress> candidates_;
  std::uint32_t rounds_ = 0;
  TimePoint next_round_{};
  std::uint32_t sequence_ = 0;
  std::uint64_t sent_ = 0;
  std::uint64_t direct_probes_ = 0;
  std::vector<OutDatagram> out_;
  std::vector<RelayedDatagram> session_in_;
};

}  // namespace natpunch
