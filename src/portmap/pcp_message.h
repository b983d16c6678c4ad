// PCP (RFC 6887) MAP messages: natpunch asks the gateway for a UDP mapping of its socket and reads
// the answer. Debian has no PCP library, so this is natpunch's own codec, parsed with the bounded
// reader like every wire format here. Addresses are 128-bit (IPv4 as ::ffff:a.b.c.d, §5).
//
// Request (§7.1) and MAP opcode data (§11.1):
//    0                   1                   2                   3
//   |  Version = 2  |R|   Opcode    |         Reserved              |
//   |                 Requested Lifetime (32 bits)                  |
//   |            PCP Client's IP Address (128 bits)                 |
//   |                 Mapping Nonce (96 bits)                       |
//   |   Protocol    |          Reserved (24 bits)                   |
//   |        Internal Port          |    Suggested External Port    |
//   |           Suggested External IP Address (128 bits)            |
// Response (§7.2): version, R=1 + opcode, reserved, result code, lifetime, epoch time, 96 reserved
// bits, then the same MAP data with the *assigned* external port and address; options follow.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "wire/address.h"
#include "wire/bytes.h"
#include "wire/result.h"

namespace natpunch::pcp {

inline constexpr std::uint16_t kServerPort = 5351;  // §19.1
inline constexpr std::uint8_t kVersion = 2;
inline constexpr std::uint8_t kOpMap = 1;
inline constexpr std::uint8_t kProtocolUdp = 17;
inline constexpr std::size_t kMaxMessage = 1100;  // §7: "MUST NOT exceed 1100 octets"
inline constexpr std::size_t kMapMessageSize = 60;  // 24-byte header + 36 bytes of MAP data

using Nonce = std::array<std::byte, 12>;

// §7.4 result codes.
enum class ResultCode : std::uint8_t {
  Success = 0,
  UnsuppVersion = 1,
  NotAuthorized = 2,
  MalformedRequest = 3,
  UnsuppOpcode = 4,
  UnsuppOption = 5,
  MalformedOption = 6,
  NetworkFailure = 7,
  NoResources = 8,
  UnsuppProtocol = 9,
  UserExQuota = 10,
  CannotProvideExternal = 11,
  AddressMismatch = 12,
  ExcessiveRemotePeers = 13,
};
std::string_view describe(ResultCode code);  // "NOT_AUTHORIZED: …" for messages to the user

struct MapRequest {
  SocketAddress client;          // our address as the gateway sees it (the socket's LAN address)
  Nonce nonce{};                 // random per mapping, repeated on renewals (§11.1)
  std::uint8_t protocol = kProtocolUdp;
  std::uint16_t internal_port = 0;
  std::uint32_t lifetime_s = 0;  // 0 deletes the mapping (§15)
  std::optional<SocketAddress> suggested_external;  // port 0 / unspecified IP: no preference
};

Bytes encode_map_request(const MapRequest& r);

struct MapResponse {
  std::uint8_t version = kVersion;
  ResultCode result = ResultCode::Success;
  std::uint32_t lifetime_s = 0;  // of the mapping on success, of the error otherwise (§7.2)
  std::uint32_t epoch_s = 0;     // the server's epoch: going backwards means it lost its state (§8.5)
  Nonce nonce{};
  std::uint8_t protocol = 0;
  std::uint16_t internal_port = 0;
  SocketAddress external;        // the assigned external address and port
};

enum class PcpError {
  Truncated,        // under the 24-byte header, or a MAP response under 60 bytes
  Oversize,         // over 1100 bytes
  NotMultipleOf4,   // §7: lengths are multiples of 4
  NotAResponse,     // R bit clear
  WrongOpcode,      // not MAP
  BadOption,        // an option runs past the end, or a mandatory option we do not know (§7.3)
  OldVersion,       // version 0: a NAT-PMP (RFC 6886) server; fall back to NAT-PMP
  UnknownVersion,   // neither 2 nor 0
};
std::string_view to_string(PcpError e);

// Parses a response. It does not check that it answers our request: see matches().
Result<MapResponse, PcpError> parse_map_response(ByteView datagram);

// §11.3: a MAP response belongs to a request when nonce, protocol and internal port all match.
bool matches(const MapResponse& response, const MapRequest& request);

}  // namespace natpunch::pcp
