// Requests that make room for their answers. The rendezvous server never answers a source that has
// not proven it receives at its address with more bytes than it got (docs/security.md), so a
// request whose answer is larger carries RFC 5780's PADDING attribute (§7.6, `0x0026`; its value
// is ignored) up to the answer's expected size, and requests quote the server's NONCE once known.
#pragma once

#include <cstdint>

#include "wire/address.h"
#include "wire/bytes.h"
#include "wire/message.h"

namespace natpunch {

// The largest Binding success natpunch's server sends to a server of `family`: XOR-MAPPED-ADDRESS,
// RESPONSE-ORIGIN, OTHER-ADDRESS (RFC 5780) and FINGERPRINT — 64 bytes over IPv4, 100 over IPv6.
std::size_t binding_response_size(Family family);
// The NP-REGISTER success with the server's NONCE (XOR-MAPPED-ADDRESS, NP-LIFETIME, NONCE,
// FINGERPRINT): 108 bytes over IPv4, 120 over IPv6.
std::size_t register_response_size(Family family);

// `message` (a finished STUN message, with or without FINGERPRINT) re-finished with one more
// attribute before its FINGERPRINT. Empty when `message` is not a STUN message or the value is
// longer than an attribute can be.
Bytes with_attribute(ByteView message, std::uint16_t type, ByteView value);
// `message` with a PADDING attribute that brings it to at least `size` bytes (at most 3 more);
// unchanged when it is already that large.
Bytes padded_to(ByteView message, std::size_t size);
// A Binding request with FINGERPRINT, padded to binding_response_size(server_family).
Bytes padded_binding_request(const TransactionId& txid, Family server_family);

// Limits for parsing the answer to a padded request: an RFC 5780 server may pad its answer to the
// MTU (coturn's turnserver with an alternate address answers 1604 bytes, 1500 of them PADDING), so
// answers get the 4 KB of the clients' receive buffer rather than the 1500-byte default.
inline constexpr std::size_t kMaxAnswer = 4096;
inline ParseLimits answer_limits() {
  ParseLimits l;
  l.max_message = kMaxAnswer;
  return l;
}

}  // namespace natpunch
