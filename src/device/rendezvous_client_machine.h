// A device's side of the rendezvous protocol as a no-I/O engine (STYLE.md example 1): binding,
// register and connect transactions, several in flight at once on one socket, each retransmitted on
// the RFC 8489 schedule and sent again quoting the server's nonce as the NonceBook says
// (device/rendezvous_requests.h); and the server's NP-PEER-INFO indications, kept only when the
// nonce vouches for them. Told the time and the datagrams from the server; answers with datagrams
// for the server and its next deadline. io::RendezvousClient drives it over a socket.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "device/rendezvous_requests.h"
#include "identity/device_key.h"
#include "wire/clock.h"
#include "wire/control_messages.h"
#include "wire/datagram_machine.h"
#include "wire/random_source.h"
#include "wire/result.h"
#include "wire/retransmit.h"

namespace natpunch {

struct ClientError {
  enum class Kind { Timeout, Socket, Rejected, Malformed } kind = Kind::Timeout;
  int code = 0;        // ERROR-CODE when Rejected
  std::string reason;  // server's reason phrase (printable characters only) or parse error
  std::string message() const;
};

struct RendezvousClientConfig {
  SocketAddress server;
  const DeviceKey* key = nullptr;  // signs register and connect; not owned, outlives the machine
  RetransmitPolicy policy{std::chrono::milliseconds(250), 7, 16, std::chrono::milliseconds(8000)};
  RandomSource random;  // transaction IDs; unset: system_random()
  std::size_t max_peer_infos = 64;
  std::size_t max_transactions = 64;  // in flight at once; more are refused (Kind::Socket)
};

// What a transaction came to: the server's mapped address (binding), its register response, or the
// peer-info answering a connect.
using ClientAnswerValue = std::variant<SocketAddress, RegisterResponse, PeerInfo>;

struct ClientAnswer {
  std::uint32_t txn = 0;
  Result<ClientAnswerValue, ClientError> result = fail(ClientError{});
  int sends = 0;                      // over every round of the transaction
  std::chrono::microseconds rtt{0};  // from the last send before the answer
};

class RendezvousClientMachine {
 public:
  using Txn = std::uint32_t;

  explicit RendezvousClientMachine(RendezvousClientConfig config);

  // Each starts a transaction (its first datagram is in take_datagrams()) and returns its handle.
  // `policy` overrides the configured retransmission schedule for this one (a refresh bounded by
  // its interval).
  Txn binding(TimePoint now, std::optional<RetransmitPolicy> policy = std::nullopt);
  Txn register_device(const RegisterRequest& r, TimePoint now, std::optional<RetransmitPolicy> policy = std::nullopt);
  Txn connect(const ConnectRequest& r, TimePoint now, std::optional<RetransmitPolicy> policy = std::nullopt);
  // Sends the last bytes of connect `txn` once more (same transaction ID), pending or answered: the
  // server answers from its duplicate cache and re-sends the peer its NP-PEER-INFO. False when the
  // machine no longer remembers that connect.
  bool reintroduce(Txn txn, TimePoint now);
  // The bytes last sent for `txn` (pending, or a connect reintroduce() still remembers); empty if none.
  Bytes request_bytes(Txn txn) const;

  // A datagram from `from` on the socket. True when it was the machine's: an answer to a pending
  // transaction, or a peer-info from the server (kept or dropped). Anything else is the caller's.
  bool on_datagram(ByteView d, const SocketAddress& from, TimePoint now);
  void on_timer(TimePoint now);
  std::optional<TimePoint> next_deadline() const;
  // The socket failed: every pending transaction ends with Kind::Socket.
  void on_socket_error();

  std::vector<OutDatagram> take_datagrams();
  std::vector<ClientAnswer> take_answers();
  std::optional<PeerInfo> take_peer_info();
  bool pending(Txn txn) const { return pending_.contains(txn); }
  std::size_t in_flight() const { return pending_.size(); }

  const SocketAddress& server() const { return config_.server; }
  // Another server (failover): its nonces are forgotten and the transactions pending at the old
  // one end with Kind::Timeout.
  void set_server(const SocketAddress& server);
  void set_key(const DeviceKey* key) { config_.key = key; }
  RetransmitPolicy& policy() { return config_.policy; }
  // Peer-infos dropped because they did not carry a nonce this device quoted (with a key set):
  // spoofed from the server's address, or from before a server restart.
  std::uint64_t unauthenticated_peer_infos() const { return unauthenticated_peer_infos_; }
  // Peer-infos dropped because the queue was full.
  std::uint64_t dropped_peer_infos() const { return dropped_peer_infos_; }

 private:
  enum class Kind : std::uint8_t { Binding, Register, Connect };
  struct Transaction {
    Kind kind = Kind::Binding;
    std::variant<std::monostate, RegisterRequest, ConnectRequest> request;
    RetransmitPlan plan;
    int round = 0;
    TransactionId txid{};
    Bytes bytes;
    std::optional<std::string> quoted;  // the nonce this round's request quoted
    TimePoint round_start{};
    TimePoint last_send{};
    std::size_t next_send = 0;  // index into plan.sends
    int sends = 0;              // over every round
  };

  Txn begin(Transaction t, const RetransmitPolicy& policy, TimePoint now);
  void start_round(Transaction& t, TimePoint now);
  void send(Transaction& t, TimePoint now);
  void finish(Txn txn, Transaction& t, Result<ClientAnswerValue, ClientError> r, TimePoint now);
  void end_all(ClientError::Kind why);
  void on_peer_info(const MessageView& m);

  RendezvousClientConfig config_;
  NonceBook nonces_;
  Txn next_txn_ = 1;
  std::map<Txn, Transaction> pending_;
  std::deque<std::pair<Txn, Bytes>> answered_connects_;  // for reintroduce(), the last 16
  std::vector<OutDatagram> out_;
  std::vector<ClientAnswer> answers_;
  std::deque<PeerInfo> peer_infos_;
  std::uint64_t unauthenticated_peer_infos_ = 0;
  std::uint64_t dropped_peer_infos_ = 0;
};

}  // namespace natpunch
