// Finds a working path to a peer the server introduced, by the plan's methods in order, as a
// no-I/O DatagramMachine (STYLE.md example 1): told the time and the datagrams that arrive, it
// answers with datagrams to send and its next deadline. The same object runs over real sockets
// (src/io) and over the simulator.
//
// Every packet carries the attempt's token; anything else is ignored. Any side that receives a
// probe acks it from the socket it arrived on, carrying the address it was reached at. An ack
// proves a two-way path, and both sides may find several (a listener's N sockets, LAN and public
// addresses): one side chooses, as ICE's controlling agent does, so that both end on the same one.
// The controlling side (the initiator) takes the first path it gets an ack on, or the first it
// acked that the peer confirms, and confirms it. The controlled side confirms every path it gets
// an ack on (a proposal) and takes the one the controlling side confirms. A side that has chosen
// answers a later probe on its path with an ack and a confirm (late_probe_answers), so a peer
// that lost the confirms completes when it probes again.
#pragma once

#include <deque>
#include <memory>
#include <random>
#include <string>

#include "punch/method.h"
#include "punch/plan.h"
#include "punch/port_sequence.h"
#include "wire/control_messages.h"
#include "wire/datagram_machine.h"
#include "wire/punch_packet.h"

namespace natpunch {

struct PunchSetup {
  AttemptToken token{};
  DeviceId self;
  DeviceId peer;
  SocketAddress server;  // the rendezvous server, for NP-SIGNAL (sent from socket 0)
  SocketAddress peer_mapped;
  std::vector<SocketAddress> peer_locals;
  std::optional<SocketAddress> peer_port_mapped;  // the peer's router mapping (the PortMapped step's target)
  std::optional<NatBehavior> peer_nat;
  // Our own NAT as discovery found it. A sequential one makes the listener learn where its counter
  // stands right before it opens its sockets (a Binding to the server) and pass that on as the
  // ListenerReady signal's hint: other hosts' flows move the counter between registration and
  // the punch, and the sprayer predicts from the hint instead of the stale registered port.
  std::optional<NatBehavior> self_nat;
  Plan plan;
  PunchTuning tuning;
  std::uint64_t seed = 0;  // ports and transaction IDs; from a strong random source in real use
  // Whether this side chooses the path when several work (the initiator; see above).
  bool controlling = true;
  // The initiator's NP-CONNECT request, re-sent to the server while nothing has been heard from
  // the peer: the server answers it idempotently and re-sends the peer its (lost?) peer-info.
  Bytes reintroduce;
};

struct PunchOutcome {
  bool ok = false;
  Method method = Method::Direct;
  std::size_t socket = 0;     // the local socket of the path
  SocketAddress remote;       // the peer's address on the path
  SocketAddress self_public;  // our public address for this path, as the peer addressed it (when known)
  std::string error;
  std::uint64_t packets_sent = 0;
  std::uint64_t probes_sent = 0;
  std::uint64_t probes_received = 0;
  std::uint64_t reprobes_sent = 0;  // probes again to paths already proven (lost confirms), apart from probes_sent
  std::chrono::milliseconds elapsed{0};
  // The shortest round trip of a probe and its ack (the ack echoes the probe's NP-SEQUENCE and
  // names the probe's target): what the session's QUIC handshake starts from. Unset when no ack
  // matched a probe of ours (an older peer's acks carry their own counter).
  std::optional<std::chrono::microseconds> rtt;
};

class Puncher final : public DatagramMachine {
 public:
  explicit Puncher(PunchSetup setup);

  std::size_t sockets_wanted() const override;
  std::vector<OutDatagram> start(TimePoint now) override;
  std::vector<OutDatagram> on_datagram(const InDatagram& d, TimePoint now) override;
  std::vector<OutDatagram> on_timer(TimePoint now) override;
  std::optional<TimePoint> next_deadline() const override;
  bool finished() const override { return done_; }

  const PunchOutcome& outcome() const { return outcome_; }
  // Progress for a person: the current step and how far its sending got.
  std::string progress() const;
  std::size_t step_index() const { return step_; }
  // Something (a punch packet or a signal for this attempt) has come from the peer.
  bool heard_from_peer() const { return heard_from_peer_; }

 private:
  enum class Phase { Probing, OpenSockets, WaitSignal, Spraying, Waiting };

  void begin_step(std::size_t index, TimePoint now, std::vector<OutDatagram>& out);
  void fail(std::string why, TimePoint now);
  void connect(std::size_t socket, const SocketAddress& remote, const SocketAddress& self_public, TimePoint now);
  // After the outcome: a late probe on our path gets an ack and a confirm, others an ack.
  std::vector<OutDatagram> answer_late(const InDatagram& d);
  void send_punch(std::vector<OutDatagram>& out, std::size_t socket, const SocketAddress& to, PunchStage stage,
                  std::optional<SocketAddress> reached_at = std::nullopt,
                  std::optional<std::uint32_t> echo = std::nullopt);
  void time_ack(const PunchPacket& ack, TimePoint now);
  void send_signal(SignalKind kind, TimePoint now, std::vector<OutDatagram>& out,
                   std::optional<SocketAddress> hint = std::nullopt);
  void on_hint_response(const InDatagram& d, TimePoint now, std::vector<OutDatagram>& out);
  void use_hint(const SocketAddress& hint);
  void pace(TimePoint now, std::vector<OutDatagram>& out);
  void on_signal_datagram(ByteView bytes, TimePoint now, std::vector<OutDatagram>& out);
  void take_signal(SignalKind kind, TimePoint now, std::vector<OutDatagram>& out);
  void after_sending_phase(TimePoint now, std::vector<OutDatagram>& out);
  std::vector<SocketAddress> candidates() const;
  TransactionId next_txid();

  PunchSetup s_;
  std::mt19937_64 rng_;
  std::unique_ptr<PortSequence> ports_;
  PunchOutcome outcome_;
  bool done_ = false;
  TimePoint started_{};
  std::size_t step_ = 0;
  TimePoint step_deadline_{};
  Phase phase_ = Phase::Probing;
  // Paced sending (OpenSockets: socket index; Spraying: probe count).
  int sent_in_phase_ = 0;
  int to_send_in_phase_ = 0;
  TimePoint next_send_{};
  TimePoint next_probe_{};
  TimePoint signal_fallback_{};
  std::optional<SignalKind> early_signal_;  // arrived before we were waiting for it
  std::optional<SocketAddress> early_hint_;
  // Listener on a sequential NAT: the Binding that finds the counter, and ListenerReady held back
  // (until its answer or hint_deadline_) so that it can carry the result.
  bool want_hint_ = false;
  TransactionId hint_txid_{};
  std::optional<SocketAddress> hint_;
  bool ready_pending_ = false;
  TimePoint hint_deadline_{};
  // The NP-SIGNAL request in flight, retransmitted until the server answers.
  Bytes signal_request_;
  TransactionId signal_txid_{};
  TimePoint signal_next_{};
  int signal_sends_ = 0;
  // Addresses we acked, per socket: hearing from one again proves the path both ways.
  std::vector<std::pair<std::size_t, SocketAddress>> acked_;
  // Controlled side: paths the peer acked, proposed back with a confirm, waiting for its choice.
  std::vector<std::pair<std::size_t, SocketAddress>> proposed_;
  TimePoint next_recheck_{};  // re-probe acked and proposed paths whose confirmation never came
  bool heard_from_peer_ = false;
  TimePoint next_reintroduce_{};
  int reintroductions_ = 0;
  std::uint32_t sequence_ = 0;
  // The probes sent last (sequence, target, when), for the round trip of the ack that echoes one.
  struct SentProbe {
    std::uint32_t sequence;
    SocketAddress to;
    TimePoint at;
  };
  std::deque<SentProbe> sent_probes_;
  TimePoint now_{};  // the time of the call being handled
};

}  // namespace natpunch
