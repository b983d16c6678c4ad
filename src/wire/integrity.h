// MESSAGE-INTEGRITY (RFC 8489 §14.5): HMAC-SHA1 over the message up to the attribute, with the
// header length pointing to the end of MESSAGE-INTEGRITY. Keys: short-term = the password (after
// OpaqueString); long-term = MD5(username ":" realm ":" password) (§9.2.2).
#pragma once

#include <array>
#include <string_view>

#include "wire/bytes.h"
#include "wire/message.h"

namespace natpunch {

using Sha1Digest = std::array<std::byte, 20>;

Sha1Digest integrity_value(ByteView prefix, std::uint16_t length_field, ByteView key);
// True when the message has MESSAGE-INTEGRITY and it verifies with `key` (constant-time compare).
bool integrity_matches(const MessageView& message, ByteView key);
Bytes long_term_key(std::string_view username, std::string_view realm, std::string_view password);

}  // namespace natpunch
