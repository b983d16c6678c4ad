#include "wire/padding.h"

#include <algorithm>

#include "wire/builder.h"
#include "wire/fingerprint.h"

namespace natpunch {

namespace {
constexpr std::size_t kAttributeHeader = 4;
constexpr std::size_t kFingerprintSize = 8;
constexpr std::size_t kNonceSize = 4 + 56;  // "np1-" + 16 + "-" + 32 characters, padded to 56

std::size_t address_attribute(Family f) { return kAttributeHeader + (f == Family::V4 ? 8 : 20); }

bool ends_in_fingerprint(ByteView m) {
  if (m.size() < stun::kHeaderSize + kFingerprintSize) return false;
  auto at = m.size() - kFingerprintSize;
  return (std::to_integer<unsigned>(m[at]) << 8 | std::to_integer<unsigned>(m[at + 1])) == stun::attr::kFingerprint;
}
}  // namespace

std::size_t binding_response_size(Family family) {
  return stun::kHeaderSize + 3 * address_attribute(family) + kFingerprintSize;
}

std::size_t register_response_size(Family family) {
  return stun::kHeaderSize + address_attribute(family) + 8 + kNonceSize + kFingerprintSize;
}

Bytes with_attribute(ByteView message, std::uint16_t type, ByteView value) {
  if (!read_header(message) || value.size() > 0xffff) return {};
  const bool fingerprint = ends_in_fingerprint(message);
  Bytes out(message.begin(), message.end() - (fingerprint ? kFingerprintSize : 0));
  ByteWriter w(out);
  w.u16(type);
  w.u16(static_cast<std::uint16_t>(value.size()));
  w.bytes(value);
  while (out.size() % 4 != 0) w.u8(0);
  auto extra = fingerprint ? kFingerprintSize : 0;
  if (out.size() + extra - stun::kHeaderSize > 0xffff) return {};
  put_u16_at(out, 2, static_cast<std::uint16_t>(out.size() + extra - stun::kHeaderSize));
  if (fingerprint) {
    auto crc = fingerprint_value(out, static_cast<std::uint16_t>(out.size() + extra - stun::kHeaderSize));
    w.u16(stun::attr::kFingerprint);
    w.u16(4);
    w.u32(crc);
  }
  return out;
}

Bytes padded_to(ByteView message, std::size_t size) {
  if (message.size() >= size) return Bytes(message.begin(), message.end());
  auto missing = size - message.size();
  auto value = missing > kAttributeHeader ? (missing - kAttributeHeader + 3) / 4 * 4 : 0;
  Bytes zeros(value, std::byte{0});
  return with_attribute(message, stun::attr::kPadding, zeros);
}

Bytes padded_binding_request(const TransactionId& txid, Family server_family) {
  auto plain = MessageBuilder(stun::method::kBinding, stun::MessageClass::Request, txid).finish();
  return padded_to(plain, binding_response_size(server_family));
}

}  // namespace natpunch
