// Values of the address-carrying attributes and ERROR-CODE / UNKNOWN-ATTRIBUTES.
//
// MAPPED-ADDRESS (RFC 8489 §14.1); XOR-MAPPED-ADDRESS (§14.2) has the same layout with the port
// XORed with the cookie's top 16 bits and the address with cookie (IPv4) or cookie||txid (IPv6):
//   0                   1                   2                   3
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |0 0 0 0 0 0 0 0|    Family     |         (X-)Port              |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                 (X-)Address (32 bits or 128 bits)             |
//
// ERROR-CODE (§14.8): 21 reserved bits, Class (3 bits, hundreds), Number (8 bits, 0-99),
// then a UTF-8 reason phrase of at most 128 characters.
#pragma once

#include <string>
#include <vector>

#include "wire/address.h"
#include "wire/bytes.h"
#include "wire/message.h"

namespace natpunch {

Bytes encode_xor_address(const SocketAddress& a, const TransactionId& txid);
Bytes encode_plain_address(const SocketAddress& a);
Result<SocketAddress, ParseError> decode_xor_address(ByteView value, const TransactionId& txid);
Result<SocketAddress, ParseError> decode_plain_address(ByteView value);

struct ErrorCode {
  int code = 0;
  std::string reason;
};
Bytes encode_error_code(int code, std::string_view reason);
Result<ErrorCode, ParseError> decode_error_code(ByteView value);

Bytes encode_unknown_attributes(const std::vector<std::uint16_t>& types);
Result<std::vector<std::uint16_t>, ParseError> decode_unknown_attributes(ByteView value);

// Decodes the XOR-MAPPED-ADDRESS of a message (falling back to MAPPED-ADDRESS, as old servers send).
Result<SocketAddress, ParseError> mapped_address_of(const MessageView& m);

}  // namespace natpunch
