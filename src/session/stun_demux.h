// Telling natpunch's STUN-framed packets (control, punch probes) from QUIC packets on one UDP
// socket. RFC 7983/9443's first-byte rule alone is not enough with ngtcp2 0.12, which greases the
// QUIC fixed bit (RFC 9287): about 40 % of its packets have bit 0x40 clear and a few start with
// 0x00–0x03. The classifier is wire's looks_like_stun() (top two bits 00, magic cookie at bytes 4–7,
// length field matching the datagram); this side keeps QUIC from ever looking like that.
#pragma once

#include "wire/bytes.h"

namespace natpunch {

// True when a QUIC connection ID would make a short-header packet look like STUN: its bytes 3–6
// land on packet bytes 4–7, where STUN keeps the magic cookie. Such IDs are never issued.
bool cid_mimics_stun(ByteView cid);

}  // namespace natpunch
