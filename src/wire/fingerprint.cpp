#include "wire/fingerprint.h"

#include <zlib.h>

#include <array>

namespace natpunch {

std::uint32_t fingerprint_value(ByteView prefix, std::uint16_t length_field) {
  std::array<unsigned char, 4> head{};
  for (std::size_t i = 0; i < 4 && i < prefix.size(); ++i) head[i] = static_cast<unsigned char>(prefix[i]);
  head[2] = static_cast<unsigned char>(length_field >> 8);
  head[3] = static_cast<unsigned char>(length_field);
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, head.data(), 4);
  if (prefix.size() > 4)
    crc = crc32(crc, reinterpret_cast<const Bytef*>(prefix.data() + 4), static_cast<uInt>(prefix.size() - 4));
  return static_cast<std::uint32_t>(crc) ^ stun::kFingerprintXor;
}

bool fingerprint_matches(ByteView message, const AttributeView& fp) {
  if (fp.value.size() != 4) return false;
  auto prefix = message.first(fp.offset);
  auto length_field = static_cast<std::uint16_t>(fp.offset + 8 - stun::kHeaderSize);
  ByteReader r(fp.value);
  return *r.u32() == fingerprint_value(prefix, length_field);
}

}  // namespace natpunch
