#include "wire/builder.h"

#include "wire/address_codec.h"
#include "wire/fingerprint.h"
#include "wire/integrity.h"

namespace natpunch {

MessageBuilder::MessageBuilder(std::uint16_t method, stun::MessageClass cls, const TransactionId& txid)
    : txid_(txid) {
  ByteWriter w(out_);
  w.u16(stun::message_type(method, cls));
  w.u16(0);
  w.u32(stun::kMagicCookie);
  w.bytes(txid);
}

MessageBuilder& MessageBuilder::add(std::uint16_t type, ByteView value) {
  static constexpr std::byte zeros[3]{};
  return add_with_padding(type, value, ByteView(zeros, (4 - value.size() % 4) % 4));
}

MessageBuilder& MessageBuilder::add_with_padding(std::uint16_t type, ByteView value, ByteView padding) {
  ByteWriter w(out_);
  w.u16(type);
  w.u16(static_cast<std::uint16_t>(value.size()));
  w.bytes(value);
  std::size_t need = (4 - value.size() % 4) % 4;
  for (std::size_t i = 0; i < need; ++i) w.u8(i < padding.size() ? static_cast<std::uint8_t>(padding[i]) : 0);
  set_length();
  return *this;
}

MessageBuilder& MessageBuilder::add_u32(std::uint16_t type, std::uint32_t v) {
  Bytes b;
  ByteWriter(b).u32(v);
  return add(type, b);
}

MessageBuilder& MessageBuilder::add_text(std::uint16_t type, std::string_view text) {
  return add(type, as_bytes(text));
}

MessageBuilder& MessageBuilder::add_xor_address(std::uint16_t type, const SocketAddress& a) {
  return add(type, encode_xor_address(a, txid_));
}

MessageBuilder& MessageBuilder::add_plain_address(std::uint16_t type, const SocketAddress& a) {
  return add(type, encode_plain_address(a));
}

MessageBuilder& MessageBuilder::add_error(int code, std::string_view reason) {
  return add(stun::attr::kErrorCode, encode_error_code(code, reason));
}

void MessageBuilder::set_length() {
  put_u16_at(out_, 2, static_cast<std::uint16_t>(out_.size() - stun::kHeaderSize));
}

Bytes MessageBuilder::finish(std::optional<ByteView> key, bool fingerprint) {
  if (key) {
    auto length_field = static_cast<std::uint16_t>(out_.size() + 24 - stun::kHeaderSize);
    auto mac = integrity_value(out_, length_field, *key);
    add(stun::attr::kMessageIntegrity, mac);
  }
  if (fingerprint) {
    auto length_field = static_cast<std::uint16_t>(out_.size() + 8 - stun::kHeaderSize);
    auto crc = fingerprint_value(out_, length_field);
    add_u32(stun::attr::kFingerprint, crc);
  }
  return std::move(out_);
}

}  // namespace natpunch
