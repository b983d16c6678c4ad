#include "session/stun_demux.h"

#include "wire/stun_constants.h"

namespace natpunch {

namespace {
bool cookie_at(ByteView b, std::size_t at) {
  if (b.size() < at + 4) return false;
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<std::uint32_t>(b[at + i]);
  return v == stun::kMagicCookie;
}
}  // namespace

bool is_stun_datagram(ByteView d) {
  // RFC 8489 §5: a 20-byte header, the two most significant bits zero, the length a multiple of 4
  // that counts the bytes after the header.
  if (d.size() < 20 || (static_cast<std::uint8_t>(d[0]) & 0xC0) != 0) return false;
  if (!cookie_at(d, 4)) return false;
  auto length = (static_cast<std::size_t>(d[2]) << 8) | static_cast<std::size_t>(d[3]);
  return length % 4 == 0 && length + 20 == d.size();
}

bool cid_mimics_stun(ByteView cid) { return cookie_at(cid, 3); }

}  // namespace natpunch
