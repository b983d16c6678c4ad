// Every way a datagram can fail to be a well-formed STUN message, by name.
#pragma once

#include <cstdint>
#include <string_view>

namespace natpunch {

enum class ParseError : std::uint8_t {
  Truncated,                     // shorter than the 20-byte header, or than its length field says
  Oversize,                      // larger than the caller's frame cap
  NotStun,                       // top two bits not 00 or no magic cookie
  BadLength,                     // length field smaller than the datagram (trailing bytes)
  BadAttributeLength,            // an attribute's header or value runs past the end of the message
  BadPadding,                    // an attribute's padding to 4 bytes is missing at the end
  TooManyAttributes,             // more attributes than the cap
  BadFingerprint,                // FINGERPRINT wrong size, not last, or CRC mismatch
  UnknownComprehensionRequired,  // an attribute < 0x8000 natpunch does not understand
  BadAttributeValue,             // a known attribute whose value is malformed
  MissingAttribute,              // a message lacks an attribute its method requires
  WrongMessage,                  // a valid message of another method or class than expected
};

std::string_view to_string(ParseError e);

}  // namespace natpunch
