// natpunch's control messages, each a STUN message (docs/protocol.md lists every field):
//   NP-REGISTER request   : NP-DEVICE-ID, NP-LOCAL-ADDRESS*, [NP-LIFETIME], [NP-NAT-BEHAVIOR], [NP-ALLOW],
//                           [NP-PORT-MAPPED]
//   NP-REGISTER success   : XOR-MAPPED-ADDRESS, NP-LIFETIME
//   NP-CONNECT request    : NP-DEVICE-ID (me), NP-PEER-ID, [NP-RELAYED]
//   NP-CONNECT success    : the peer-info for the requester (fields as NP-PEER-INFO)
//   NP-PEER-INFO indication (server → the other side): NP-PEER-ID, NP-PEER-MAPPED-ADDRESS,
//                           NP-PEER-LOCAL-ADDRESS*, NP-ATTEMPT-TOKEN, NP-INITIATOR,
//                           [NP-PEER-NAT-BEHAVIOR], [NP-PEER-PORT-MAPPED], [NP-PEER-RELAYED]
//   NP-SIGNAL request / indication: NP-DEVICE-ID, NP-PEER-ID, NP-ATTEMPT-TOKEN, NP-SIGNAL-KIND,
//                           [NP-PROBE-TARGET (a hint address)]
//   error responses       : ERROR-CODE (+ UNKNOWN-ATTRIBUTES for 420)
#pragma once

#include <array>
#include <optional>
#include <vector>

#include "wire/address.h"
#include "wire/address_codec.h"
#include "wire/device_id.h"
#include "wire/nat_behavior.h"
#include "wire/message.h"

namespace natpunch {

inline constexpr std::size_t kMaxLocalAddresses = 8;
using AttemptToken = std::array<std::byte, 16>;

// Who may connect to a device (NP-ALLOW in its registration): any peer, or only the listed IDs
// (compared by value, as the registry keys them). An empty list allows nobody.
//   0                   1                   2                   3
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  Mode (0 list, 1 any)  | Length L1 |  NP-DEVICE-ID value (L1 bytes) ... | Length L2 | ...
inline constexpr std::size_t kMaxAllowedPeers = 16;
inline constexpr std::size_t kMaxAllowBytes = 1024;  // the whole value; a registration must fit a frame
struct AllowList {
  bool any = false;
  std::vector<DeviceId> peers;
  bool allows(const DeviceId& requester) const;
  bool operator==(const AllowList&) const = default;
};
Bytes encode_allow_list(const AllowList& a);
Result<AllowList, ParseError> decode_allow_list(ByteView value);

struct RegisterRequest {
  DeviceId id;
  std::vector<SocketAddress> locals;
  std::optional<std::uint32_t> lifetime_s;  // requested; the server may grant less
  std::optional<NatBehavior> nat;           // what the device's discovery found
  std::optional<AllowList> allow;           // absent: the device did not say (older clients): anyone
  // The public address its router mapped to the main socket (UPnP-IGD, NAT-PMP or PCP): reachable
  // from anywhere, so a peer tries it first.
  std::optional<SocketAddress> port_mapped;
};

struct RegisterResponse {
  SocketAddress mapped;
  std::uint32_t lifetime_s = 0;
};

struct ConnectRequest {
  DeviceId self;
  DeviceId peer;
  // Set when direct paths failed: the requester's TURN relayed address (on the relay the server
  // offered). The server passes it to the peer, which then talks to the requester through it.
  std::optional<SocketAddress> relayed;
};

// A TURN relay (RFC 8656) the rendezvous server offers for one attempt, with credentials that
// expire (coturn's shared-secret mode): devices hold no long-lived relay secret.
struct TurnGrant {
  SocketAddress server;
  std::string username;  // "<unix expiry>:<device ID>"
  std::string password;  // base64(HMAC-SHA1(secret, username))
  bool operator==(const TurnGrant&) const = default;
};

// What one side learns about the other for one connection attempt.
struct PeerInfo {
  DeviceId peer;
  SocketAddress peer_mapped;
  std::vector<SocketAddress> peer_locals;
  AttemptToken token{};
  bool initiator = false;  // true for the side that sent the connect request
  std::optional<NatBehavior> peer_nat;
  // The Ed25519 key the peer's ID is bound to at the server (NP-PEER-PUBLIC-KEY), when it has one:
  // what this side pins when it authenticates the peer on the path.
  std::optional<std::array<std::byte, 32>> peer_key;
  // In NP-PEER-INFO: the NONCE the receiving device quoted in its last signed registration. Only the
  // device (and the server) saw it, so a peer-info spoofed from the server's address lacks it.
  std::optional<std::string> nonce;
  std::optional<TurnGrant> turn;  // NP-TURN-*: the relay to fall back on, when the server offers one
  std::optional<SocketAddress> peer_port_mapped;  // the peer's router port mapping (try it first)
  // A relayed attempt: the peer waits at this TURN relayed address; no punching.
  std::optional<SocketAddress> peer_relayed;
};

// A phase signal relayed by the server between the two sides of one attempt (the smart-home
// seed's "spray finished"; the birthday listener's "sockets open").
enum class SignalKind : std::uint8_t { ListenerReady = 1, SprayDone = 2, GiveUp = 3 };
struct Signal {
  DeviceId from;  // request: me; indication: the peer it comes from
  DeviceId to;    // request: the peer; indication: me
  AttemptToken token{};
  SignalKind kind = SignalKind::ListenerReady;
  std::optional<SocketAddress> hint;  // e.g. the listener's freshest public mapping
};
Bytes encode_signal(const Signal& s, stun::MessageClass cls, const TransactionId& txid);
Result<Signal, ParseError> decode_signal(const MessageView& m);

Bytes encode_register_request(const RegisterRequest& r, const TransactionId& txid);
Bytes encode_register_response(const RegisterResponse& r, const TransactionId& txid);
Bytes encode_connect_request(const ConnectRequest& r, const TransactionId& txid);
// The connect success response and the peer-info indication carry the same fields.
Bytes encode_peer_info(const PeerInfo& p, stun::MessageClass cls, std::uint16_t method,
                       const TransactionId& txid);
Bytes encode_error_response(std::uint16_t method, const TransactionId& txid, int code,
                            std::string_view reason,
                            const std::vector<std::uint16_t>& unknown = {});

Result<RegisterRequest, ParseError> decode_register_request(const MessageView& m);
Result<RegisterResponse, ParseError> decode_register_response(const MessageView& m);
Result<ConnectRequest, ParseError> decode_connect_request(const MessageView& m);
Result<PeerInfo, ParseError> decode_peer_info(const MessageView& m);
// ERROR-CODE of an error response.
Result<ErrorCode, ParseError> decode_error_response(const MessageView& m);

}  // namespace natpunch
