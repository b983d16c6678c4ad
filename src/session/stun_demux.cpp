#include "session/stun_demux.h"

#include "wire/stun_constants.h"

namespace natpunch {

bool cid_mimics_stun(ByteView cid) {
  if (cid.size() < 7) return false;
  std::uint32_t v = 0;
  for (std::size_t i = 3; i < 7; ++i) v = (v << 8) | static_cast<std::uint32_t>(cid[i]);
  return v == stun::kMagicCookie;
}

}  // namespace natpunch
