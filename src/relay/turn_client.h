// A TURN client (RFC 8656) over UDP as a no-I/O engine (STYLE.md example 1): told the time and the
// datagrams the TURN server sends, it answers with datagrams for the server and its next deadline.
// It allocates a relayed address with long-term credentials (401 → REALM/NONCE → signed requests;
// 438 → new nonce), keeps the allocation alive (Refresh), installs a permission and binds a channel
// for each peer (and refreshes both), relays data as ChannelData (Send indications until the channel
// is bound), delivers what peers send (ChannelData and Data indications), and deletes the
// allocation on close. A peer behind a symmetric NAT reaches the relay from a port nobody can know
// in advance: `permit_ip` admits every port of one IP (TURN permissions are per IP, §9), data from
// a new address of that IP is delivered and a channel bound for it, and `send` answers any address
// of a permitted IP. Responses that fail MESSAGE-INTEGRITY are ignored (they could be forged).
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "relay/turn_message.h"
#include "wire/address.h"
#include "wire/clock.h"
#include "wire/message.h"
#include "wire/random_source.h"
#include "wire/result.h"
#include "wire/retransmit.h"

namespace natpunch {

struct TurnConfig {
  SocketAddress server;
  turn::Credentials credentials;
  std::chrono::seconds lifetime{600};  // requested allocation lifetime (the server may shorten it)
  RetransmitPolicy retransmit{std::chrono::milliseconds(250), 7, 16, std::chrono::milliseconds(10000)};
  RandomSource random;  // transaction IDs; unset: system_random()
};

struct RelayedDatagram {
  SocketAddress peer;
  Bytes data;
};

class TurnClient {
 public:
  enum class State { Idle, Allocating, Allocated, Failed, Closed };

  explicit TurnClient(TurnConfig config);

  std::vector<Bytes> start(TimePoint now);
  // A datagram from the TURN server (the caller checks it came from config.server).
  std::vector<Bytes> on_datagram(ByteView datagram, TimePoint now);
  std::vector<Bytes> on_timer(TimePoint now);
  std::optional<TimePoint> next_deadline() const;

  // Lets `peer` reach us through the relay: CreatePermission for its IP, then ChannelBind.
  std::vector<Bytes> add_peer(const SocketAddress& peer, TimePoint now);
  // Lets every address of `ip`'s IP reach us (the port is ignored): CreatePermission, refreshed
  // until close. Data from a new address of that IP is delivered, and a channel is bound for it
  // (at most kMaxLearnedPeers addresses; beyond that, Data and Send indications).
  std::vector<Bytes> permit_ip(const SocketAddress& ip, TimePoint now);
  // ChannelBind for `peer`, whose IP has (or is getting) a permission; nothing when it has a
  // channel already, when channels or the learned-address cap are used up, or before allocation.
  std::vector<Bytes> bind_channel(const SocketAddress& peer, TimePoint now);
  // One datagram for `peer` through the relay (ChannelData once bound, else a Send indication).
  // `peer` needs a permission: its own (add_peer) or its IP's (permit_ip, granted or pending).
  Result<Bytes, std::string> send(const SocketAddress& peer, ByteView data) const;
  std::vector<RelayedDatagram> take_received();
  // Deletes the allocation (Refresh with LIFETIME 0), sent once: the server would drop it anyway.
  std::vector<Bytes> close(TimePoint now);

  State state() const { return state_; }
  const std::string& error() const { return error_; }
  const std::optional<SocketAddress>& relayed() const { return relayed_; }
  const std::optional<SocketAddress>& mapped() const { return mapped_; }
  bool permitted(const SocketAddress& peer) const;
  bool channel_bound(const SocketAddress& peer) const;
  enum class Permission { None, Pending, Granted, Refused };
  // The state of permit_ip(ip) (the port is ignored); error() says why when Refused.
  Permission ip_permission(const SocketAddress& ip) const;

  // Addresses of permitted IPs learned from their data and given channels, per allocation.
  static constexpr std::size_t kMaxLearnedPeers = 32;
  std::chrono::seconds lifetime() const { return granted_; }

 private:
  enum class Kind { Allocate, Refresh, Permission, ChannelBind, IpPermission };
  struct Transaction {
    Kind kind;
    TransactionId id{};
    Bytes bytes;
    TimePoint started;
    RetransmitPlan plan;
    std::size_t sent = 0;
    SocketAddress peer;  // Permission, ChannelBind (port 0: an IP permission from permit_ip)
  };
  struct Peer {
    std::uint16_t channel = 0;
    bool permitted = false;
    bool bound = false;
    TimePoint permission_refresh{};
    TimePoint channel_refresh{};
  };

  Bytes request(Kind kind, const TransactionId& id, const SocketAddress& peer, std::uint32_t lifetime) const;
  std::vector<Bytes> begin(Kind kind, const SocketAddress& peer, TimePoint now, std::uint32_t lifetime = 0);
  std::vector<Bytes> on_response(const MessageView& m, TimePoint now);
  std::vector<Bytes> on_error(Transaction t, const MessageView& m, TimePoint now);
  void on_success(const Transaction& t, const MessageView& m, TimePoint now);
  void fail_with(std::string why);
  Peer* find_peer(const SocketAddress& peer);
  const Peer* find_peer(const SocketAddress& peer) const;

  TransactionId fresh_id() const;

  TurnConfig config_;
  State state_ = State::Idle;
  std::string error_;
  std::optional<std::string> realm_, nonce_;
  Bytes key_;  // long-term key, once the realm is known
  int auth_rounds_ = 0;
  std::optional<SocketAddress> relayed_, mapped_;
  std::chrono::seconds granted_{0};
  TimePoint refresh_at_{};
  std::vector<Transaction> pending_;
  struct IpPermission {
    Permission state = Permission::Pending;
    TimePoint refresh{};
  };
  static SocketAddress ip_only(const SocketAddress& a);
  const IpPermission* find_ip(const SocketAddress& peer) const;
  bool ip_admits(const SocketAddress& peer) const;  // Pending or Granted

  std::map<SocketAddress, Peer> peers_;                   // keyed by the peer's address (IP and port)
  std::map<SocketAddress, IpPermission> ip_permissions_;  // keyed by the IP, port 0
  std::size_t learned_ = 0;                               // peers_ entries made by bind_channel
  std::uint16_t next_channel_ = turn::kFirstChannel;
  std::vector<RelayedDatagram> received_;
};

}  // namespace natpunch
