// natpunch's control messages, each a STUN message (docs/protocol.md lists every field):
//   NP-REGISTER request   : NP-DEVICE-ID, NP-LOCAL-ADDRESS*, [NP-LIFETIME]
//   NP-REGISTER success   : XOR-MAPPED-ADDRESS, NP-LIFETIME
//   NP-CONNECT request    : NP-DEVICE-ID (me), NP-PEER-ID
//   NP-CONNECT success    : the peer-info for the requester (fields as NP-PEER-INFO)
//   NP-PEER-INFO indication (server → the other side): NP-PEER-ID, NP-PEER-MAPPED-ADDRESS,
//                           NP-PEER-LOCAL-ADDRESS*, NP-ATTEMPT-TOKEN, NP-INITIATOR
//   error responses       : ERROR-CODE (+ UNKNOWN-ATTRIBUTES for 420)
#pragma once

#include <array>
#include <optional>
#include <vector>

#include "wire/address.h"
#include "wire/address_codec.h"
#include "wire/device_id.h"
#include "wire/message.h"

namespace natpunch {

inline constexpr std::size_t kMaxLocalAddresses = 8;
using AttemptToken = std::array<std::byte, 16>;

struct RegisterRequest {
  DeviceId id;
  std::vector<SocketAddress> locals;
  std::optional<std::uint32_t> lifetime_s;  // requested; the server may grant less
};

struct RegisterResponse {
  SocketAddress mapped;
  std::uint32_t lifetime_s = 0;
};

struct ConnectRequest {
  DeviceId self;
  DeviceId peer;
};

// What one side learns about the other for one connection attempt.
struct PeerInfo {
  DeviceId peer;
  SocketAddress peer_mapped;
  std::vector<SocketAddress> peer_locals;
  AttemptToken token{};
  bool initiator = false;  // true for the side that sent the connect request
};

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
