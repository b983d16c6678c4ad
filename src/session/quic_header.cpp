#include "session/quic_header.h"

namespace natpunch {

std::optional<QuicHeader> parse_quic_header(ByteView datagram, std::size_t short_dcid_length) {
  ByteReader r(datagram);
  auto first = r.u8();
  if (!first) return std::nullopt;
  QuicHeader h;
  h.first = *first;
  h.long_header = (*first & 0x80) != 0;
  if (!h.long_header) {
    auto dcid = r.take(short_dcid_length);
    if (!dcid) return std::nullopt;
    h.dcid = *dcid;
    return h;
  }
  auto version = r.u32();
  if (!version) return std::nullopt;
  h.version = *version;
  auto dcid_len = r.u8();
  if (!dcid_len) return std::nullopt;
  auto dcid = r.take(*dcid_len);
  if (!dcid) return std::nullopt;
  auto scid_len = r.u8();
  if (!scid_len) return std::nullopt;
  auto scid = r.take(*scid_len);
  if (!scid) return std::nullopt;
  h.dcid = *dcid;
  h.scid = *scid;
  return h;
}

}  // namespace natpunch
