// Where a datagram that arrives on the device's main socket goes (docs/design/device-runtime.md §3):
// one cheap classification per datagram, in this order, changing no state.
//   1. STUN-framed (wire looks_like_stun: never misled by QUIC's greased first bytes):
//      from a rendezvous server address: an answer whose transaction someone registered goes to
//        that owner (an attempt's NP-SIGNAL or Binding, NAT discovery); NP-SIGNAL indications to
//        the attempt their token names; NP-PEER-INFO and every other answer to the rendezvous client
//        (which takes only its own);
//      from anyone else: NP-PUNCH to the attempt its token names; the rest is dropped.
//   2. Otherwise QUIC (session/quic_header.h): a known Destination Connection ID goes to its session;
//      an unknown one in a v1 Initial opens a session only from the address an attempt chose as its
//      path (NewSession); everything else is dropped, never answered.
// Every drop is counted by reason, so an operator can tell a spoofing neighbour from a bug.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string_view>
#include <vector>

#include "wire/address.h"
#include "wire/bytes.h"
#include "wire/control_messages.h"
#include "wire/message.h"

namespace natpunch {

enum class DropReason : std::uint8_t {
  Malformed,            // STUN-framed but not a valid message, or too short for a QUIC header
  NotFromServer,        // STUN other than NP-PUNCH from an address that is not a rendezvous server
  UnexpectedFromServer,  // a server sent a request, or a method the device does not take
  UnknownAttempt,       // NP-PUNCH or NP-SIGNAL naming no attempt of this device
  UnknownConnectionId,  // QUIC for no session, and no Initial from a chosen path
};
inline constexpr std::size_t kDropReasons = 5;
std::string_view to_string(DropReason r);

struct Route {
  enum class To : std::uint8_t { Client, Attempt, Owner, Session, NewSession, Drop };
  To to = To::Drop;
  AttemptToken attempt{};  // Attempt, NewSession (the attempt whose path this is)
  std::uint32_t id = 0;    // Owner: the handle given with the transaction; Session: the session
  DropReason why = DropReason::Malformed;  // Drop
};

class DatagramRouter {
 public:
  // `cid_length`: the length of every connection ID this device issues (a short header's DCID).
  explicit DatagramRouter(std::size_t cid_length);

  // The rendezvous server's addresses (primary and alternates): only they speak for the server.
  void set_servers(std::vector<SocketAddress> servers) { servers_ = std::move(servers); }
  void add_attempt(const AttemptToken& t);
  void remove_attempt(const AttemptToken& t);  // also its transactions and expected sessions
  // A request to the server whose answer goes to an attempt, or to `owner` (e.g. NAT discovery).
  void add_transaction(const TransactionId& txid, const AttemptToken& attempt);
  void add_transaction(const TransactionId& txid, std::uint32_t owner);
  void remove_transaction(const TransactionId& txid);
  // An attempt chose (main socket, `from`) as its path: a QUIC Initial from there opens its session.
  // The session's owner then registers the client's original DCID too (add_connection_id), or a
  // re-sent Initial of the same client comes back as NewSession again.
  void expect_session(const SocketAddress& from, const AttemptToken& attempt);
  void add_connection_id(ByteView cid, std::uint32_t session);
  void remove_connection_id(ByteView cid);
  void remove_session(std::uint32_t session);  // every connection ID of it

  Route route(ByteView datagram, const SocketAddress& from);
  const std::array<std::uint64_t, kDropReasons>& drops() const { return drops_; }

 private:
  Route drop(DropReason why);
  Route route_stun(ByteView datagram, const SocketAddress& from);
  Route route_quic(ByteView datagram, const SocketAddress& from);
  bool is_server(const SocketAddress& a) const;
  bool known(const AttemptToken& t) const;

  std::size_t cid_length_;
  std::vector<SocketAddress> servers_;
  std::vector<AttemptToken> attempts_;  // few at once (--max-attempts): a vector is the fastest set
  std::map<TransactionId, Route> transactions_;
  std::map<Bytes, std::uint32_t> cids_;
  std::vector<std::pair<SocketAddress, AttemptToken>> expected_;
  std::array<std::uint64_t, kDropReasons> drops_{};
};

}  // namespace natpunch
