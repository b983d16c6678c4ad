#include "wire/address_codec.h"

#include <cstring>

namespace natpunch {

namespace {

std::array<std::uint8_t, 16> xor_pad(const TransactionId& txid) {
  std::array<std::uint8_t, 16> pad{};
  pad[0] = 0x21;
  pad[1] = 0x12;
  pad[2] = 0xA4;
  pad[3] = 0x42;
  for (std::size_t i = 0; i < txid.size(); ++i) pad[4 + i] = static_cast<std::uint8_t>(txid[i]);
  return pad;
}

Bytes encode_address(const SocketAddress& a, const std::array<std::uint8_t, 16>* pad) {
  Bytes b;
  ByteWriter w(b);
  w.u8(0);
  w.u8(static_cast<std::uint8_t>(a.family));
  std::uint16_t port = a.port;
  if (pad) port ^= static_cast<std::uint16_t>(stun::kMagicCookie >> 16);
  w.u16(port);
  for (std::size_t i = 0; i < a.ip_size(); ++i) w.u8(pad ? a.ip[i] ^ (*pad)[i] : a.ip[i]);
  return b;
}

Result<SocketAddress, ParseError> decode_address(ByteView v, const std::array<std::uint8_t, 16>* pad) {
  ByteReader r(v);
  auto reserved = r.u8();
  auto family = r.u8();
  auto port = r.u16();
  if (!reserved || !family || !port) return fail(ParseError::BadAttributeValue);
  SocketAddress a;
  if (*family == 1 && v.size() == 8) a.family = Family::V4;
  else if (*family == 2 && v.size() == 20) a.family = Family::V6;
  else return fail(ParseError::BadAttributeValue);
  a.port = *port;
  if (pad) a.port ^= static_cast<std::uint16_t>(stun::kMagicCookie >> 16);
  auto ip = *r.take(a.ip_size());
  for (std::size_t i = 0; i < a.ip_size(); ++i) {
    auto b = static_cast<std::uint8_t>(ip[i]);
    a.ip[i] = pad ? static_cast<std::uint8_t>(b ^ (*pad)[i]) : b;
  }
  return a;
}

}  // namespace

Bytes encode_xor_address(const SocketAddress& a, const TransactionId& txid) {
  auto pad = xor_pad(txid);
  return encode_address(a, &pad);
}

Bytes encode_plain_address(const SocketAddress& a) { return encode_address(a, nullptr); }

Result<SocketAddress, ParseError> decode_xor_address(ByteView v, const TransactionId& txid) {
  auto pad = xor_pad(txid);
  return decode_address(v, &pad);
}

Result<SocketAddress, ParseError> decode_plain_address(ByteView v) { return decode_address(v, nullptr); }

Bytes encode_error_code(int code, std::string_view reason) {
  Bytes b;
  ByteWriter w(b);
  w.u16(0);
  w.u8(static_cast<std::uint8_t>(code / 100));
  w.u8(static_cast<std::uint8_t>(code % 100));
  // RFC 8489 §14.8: the reason phrase MUST be less than 128 characters.
  w.text(reason.substr(0, 127));
  return b;
}

Result<ErrorCode, ParseError> decode_error_code(ByteView v) {
  ByteReader r(v);
  auto reserved = r.u16();
  auto cls = r.u8();
  auto number = r.u8();
  if (!reserved || !cls || !number) return fail(ParseError::BadAttributeValue);
  // RFC 8489 §14.8: class 3-6, number 0-99; reason at most 763 bytes.
  int c = *cls & 0x07;
  if (c < 3 || c > 6 || *number > 99 || r.remaining() > 763) return fail(ParseError::BadAttributeValue);
  ErrorCode e;
  e.code = c * 100 + *number;
  auto reason = *r.take(r.remaining());
  e.reason.assign(as_text(reason));
  return e;
}

Bytes encode_unknown_attributes(const std::vector<std::uint16_t>& types) {
  Bytes b;
  ByteWriter w(b);
  for (auto t : types) w.u16(t);
  return b;
}

Result<std::vector<std::uint16_t>, ParseError> decode_unknown_attributes(ByteView v) {
  if (v.size() % 2 != 0) return fail(ParseError::BadAttributeValue);
  std::vector<std::uint16_t> out;
  ByteReader r(v);
  while (!r.empty()) out.push_back(*r.u16());
  return out;
}

Result<SocketAddress, ParseError> mapped_address_of(const MessageView& m) {
  if (const auto* x = m.find(stun::attr::kXorMappedAddress)) return decode_xor_address(x->value, m.transaction);
  if (const auto* p = m.find(stun::attr::kMappedAddress)) return decode_plain_address(p->value);
  return fail(ParseError::MissingAttribute);
}

}  // namespace natpunch
