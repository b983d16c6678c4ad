// A parsed STUN message (RFC 8489 §5, §14): a view over the caller's bytes.
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |0 0|     STUN Message Type     |         Message Length        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                         Magic Cookie                          |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                     Transaction ID (96 bits)                  |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |         Type                  |            Length             |  (attributes, each
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+   padded to 4 bytes)
//  |                         Value (variable)                ....
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "wire/bytes.h"
#include "wire/parse_error.h"
#include "wire/result.h"
#include "wire/stun_constants.h"

namespace natpunch {

using TransactionId = std::array<std::byte, stun::kTransactionIdSize>;

struct AttributeView {
  std::uint16_t type = 0;
  ByteView value;    // exactly `length` bytes
  ByteView padding;  // the 0-3 bytes after the value (content ignored, RFC 8489 §14)
  std::size_t offset = 0;  // offset of the attribute header from the start of the message
};

struct ParseLimits {
  std::size_t max_message = 1500;  // frame cap: larger datagrams are Oversize
  std::size_t max_attributes = 32;
  // When set, an attribute < 0x8000 not in stun::attr::kUnderstoodRequired fails the parse.
  bool reject_unknown_required = true;
};

struct MessageView {
  ByteView raw;  // the whole message
  std::uint16_t type = 0;
  TransactionId transaction{};
  std::vector<AttributeView> attributes;

  std::uint16_t method() const { return stun::method_of(type); }
  stun::MessageClass cls() const { return stun::class_of(type); }
  bool has_fingerprint() const;
  // First attribute of a type, looking no further than MESSAGE-INTEGRITY (attributes after it
  // must be ignored, RFC 8489 §14.5) — nullptr if absent.
  const AttributeView* find(std::uint16_t type) const;
  // Every attribute of a type, with the same limit.
  std::vector<const AttributeView*> find_all(std::uint16_t type) const;
  // Comprehension-required attributes not understood by natpunch (for a 420 response).
  std::vector<std::uint16_t> unknown_required() const;
};

struct MessageHeader {
  std::uint16_t type = 0;
  std::uint16_t length = 0;
  TransactionId transaction{};
};
// The 20-byte header, when the top two bits are 00, the cookie is right and the length field
// equals the rest of the datagram; nullopt otherwise. Says nothing about the attributes.
std::optional<MessageHeader> read_header(ByteView datagram);

// Cheap first check (libjuice's is_stun_datagram): top two bits 00, the magic cookie, and a
// length field that matches the datagram. Lets STUN share a socket with other traffic.
bool looks_like_stun(ByteView datagram);

// Parses and validates a datagram. Verifies FINGERPRINT when present. Never throws.
Result<MessageView, ParseError> parse_message(ByteView datagram, const ParseLimits& limits = {});

}  // namespace natpunch
