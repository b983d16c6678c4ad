// FINGERPRINT (RFC 8489 §14.7): CRC-32 of the message up to the attribute, XOR 0x5354554e,
// computed with the header length covering the FINGERPRINT attribute itself.
#pragma once

#include <cstdint>

#include "wire/bytes.h"
#include "wire/message.h"

namespace natpunch {

// CRC over `prefix` (the message bytes before FINGERPRINT) with its length field set to
// `length_field`.
std::uint32_t fingerprint_value(ByteView prefix, std::uint16_t length_field);
bool fingerprint_matches(ByteView message, const AttributeView& fingerprint);

}  // namespace natpunch
