// NAT-PMP (RFC 6886) messages: the external-address and UDP mapping requests natpunch sends to the
// gateway's port 5351, and the gateway's answers. natpunch's own codec, read with the bounded reader
// like PCP: libnatpmp (20150609, Debian's) reads answers only from its own socket into a fixed
// 16-byte buffer without checking the datagram's length, and does not check that an answer is the
// one to the pending request; so its parser can neither be fed bytes (fuzzed, golden-tested) nor be
// trusted with a short or stray answer. This codec does both checks and is fuzzed.
//
// §3.2 external address request / response:     §3.3 mapping request / response:
//   | Vers = 0 | OP = 0 |                          | Vers = 0 | OP = 1 (UDP) | Reserved (16)  |
//                                                  | Internal Port   | Suggested External Port |
//   | Vers = 0 | OP = 128 | Result Code (16) |     | Requested Port Mapping Lifetime (32)      |
//   | Seconds Since Start of Epoch (32)      |
//   | External IPv4 Address (32)             |     | Vers = 0 | OP = 129 | Result Code (16)    |
//                                                  | Seconds Since Start of Epoch (32)         |
//                                                  | Internal Port   | Mapped External Port    |
//                                                  | Port Mapping Lifetime in Seconds (32)     |
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "wire/address.h"
#include "wire/bytes.h"
#include "wire/result.h"

namespace natpunch::natpmp {

inline constexpr std::uint16_t kServerPort = 5351;  // §3
inline constexpr std::uint8_t kVersion = 0;
inline constexpr std::uint8_t kOpExternalAddress = 0;
inline constexpr std::uint8_t kOpMapUdp = 1;
inline constexpr std::uint8_t kResponseBit = 128;  // §3.5: response opcode = 128 + request opcode
inline constexpr std::size_t kMaxMessage = 1100;   // natpunch's cap (PCP's, RFC 6887 §7)

// §3.5 result codes.
enum class ResultCode : std::uint16_t {
  Success = 0,
  UnsupportedVersion = 1,
  NotAuthorized = 2,  // "Not Authorized/Refused"
  NetworkFailure = 3,
  OutOfResources = 4,
  UnsupportedOpcode = 5,
};
std::string_view describe(ResultCode code);  // for messages to the user; unknown codes too

Bytes encode_external_address_request();
// A lifetime of 0 deletes the mapping (§3.4); suggested_external 0 means no preference.
Bytes encode_map_request(std::uint16_t internal_port, std::uint16_t suggested_external, std::uint32_t lifetime_s);

struct Response {
  std::uint8_t opcode = 0;  // with the response bit: 128 or 129
  ResultCode result = ResultCode::Success;
  std::uint32_t epoch_s = 0;
  // Op 128 on success: the gateway's external address (port 0).
  std::optional<SocketAddress> external_address;
  // Op 129 on success.
  std::uint16_t internal_port = 0;
  std::uint16_t external_port = 0;
  std::uint32_t lifetime_s = 0;
};

enum class NatPmpError {
  Truncated,      // under the 8-byte header, or a success answer without its fields
  Oversize,       // over kMaxMessage
  WrongVersion,   // not 0 (a PCP server answers version 2)
  NotAResponse,   // response bit clear
  UnknownOpcode,  // neither 128 nor 129
};
std::string_view to_string(NatPmpError e);

// Parses one answer. It does not check that it answers our request: see answers().
Result<Response, NatPmpError> parse_response(ByteView datagram);

// §3.5/§3.3: the answer to our request has opcode 128 + ours and, for a mapping, our internal port.
bool answers(const Response& r, std::uint8_t request_opcode, std::uint16_t internal_port);

}  // namespace natpunch::natpmp
