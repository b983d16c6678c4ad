// The version-independent header of a QUIC packet (RFC 8999 §5): enough to route a datagram to the
// session it belongs to by its Destination Connection ID, without decrypting anything.
//
//   long header  (first bit 1):   | 1 | 7 bits | Version (32) | DCID Len (8) | DCID (0..255 bytes) |
//                                  | SCID Len (8) | SCID (0..255 bytes) | version-specific ...      |
//   short header (first bit 0):   | 0 | 7 bits | DCID (length known only to its receiver) | ...   |
//
// The 7 bits are not looked at: ngtcp2 0.12 greases the fixed bit (RFC 9287), so a QUIC packet may
// start 0x00-0x3f. A datagram that looks like STUN is never passed here (session/stun_demux.h).
// QUIC v1 (RFC 9000 §17.2): long-header type bits 0x30 give Initial (0), 0-RTT, Handshake, Retry;
// version 0 is Version Negotiation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "wire/bytes.h"

namespace natpunch {

struct QuicHeader {
  std::uint8_t first = 0;  // the first byte
  bool long_header = false;
  std::uint32_t version = 0;  // long header only
  ByteView dcid;              // views into the datagram
  ByteView scid;              // long header only
  // A QUIC v1 Initial: the only packet that may open a session (a client's first flight).
  bool initial() const { return long_header && version == 1 && ((first >> 4) & 0x03) == 0; }
};

// Parses the invariant header. `short_dcid_length` is the length of the connection IDs this
// receiver issues (a short header does not say). Nullopt when the datagram is too short for what
// its header claims, or is empty.
std::optional<QuicHeader> parse_quic_header(ByteView datagram, std::size_t short_dcid_length);

}  // namespace natpunch
