#include "identity/signed_request.h"

#include <cstring>

#include "wire/fingerprint.h"
#include "wire/stun_constants.h"

namespace natpunch {

namespace {
constexpr std::size_t kMaxNonce = 763;  // RFC 8489 §14.10: fewer than 128 characters, ≤ 763 bytes

void append_attribute(Bytes& out, std::uint16_t type, ByteView value) {
  auto at = out.size();
  out.resize(at + 4);
  put_u16_at(out, at, type);
  put_u16_at(out, at + 2, static_cast<std::uint16_t>(value.size()));
  out.insert(out.end(), value.begin(), value.end());
  while (out.size() % 4 != 0) out.push_back(std::byte{0});
}

void finish_length(Bytes& out, std::size_t extra) {
  put_u16_at(out, 2, static_cast<std::uint16_t>(out.size() + extra - stun::kHeaderSize));
}
}  // namespace

Bytes sign_request(ByteView finished, const DeviceKey& key, std::optional<std::string_view> nonce) {
  if (finished.size() < stun::kHeaderSize + 8 || (nonce && nonce->size() > kMaxNonce)) return {};
  auto fp = finished.size() - 8;
  if (((std::to_integer<unsigned>(finished[fp]) << 8) | std::to_integer<unsigned>(finished[fp + 1])) !=
      stun::attr::kFingerprint)
    return {};
  Bytes out(finished.begin(), finished.begin() + static_cast<std::ptrdiff_t>(fp));
  if (nonce) append_attribute(out, stun::attr::kNonce, as_bytes(*nonce));
  append_attribute(out, stun::attr::kPublicKey, key.public_key());
  finish_length(out, 4 + kSignatureSize);
  auto sig = key.sign(out);
  append_attribute(out, stun::attr::kSignature, sig);
  finish_length(out, 8);
  auto crc = fingerprint_value(out, static_cast<std::uint16_t>(out.size() + 8 - stun::kHeaderSize));
  std::byte v[4] = {std::byte(crc >> 24), std::byte(crc >> 16), std::byte(crc >> 8), std::byte(crc)};
  append_attribute(out, stun::attr::kFingerprint, v);
  return out;
}

SignatureCheck check_signature(const MessageView& m) {
  SignatureCheck c;
  const AttributeView* sig = nullptr;
  for (std::size_t i = 0; i < m.attributes.size(); ++i) {
    const auto& a = m.attributes[i];
    if (sig && a.type != stun::attr::kFingerprint) return {SignatureState::Invalid, {}, {}};
    if (a.type == stun::attr::kSignature) sig = &a;
  }
  if (!sig) return c;
  const auto* key = m.find(stun::attr::kPublicKey);
  if (!key || key->value.size() != kPublicKeySize || sig->value.size() != kSignatureSize || key->offset > sig->offset)
    return {SignatureState::Invalid, {}, {}};
  std::memcpy(c.key.data(), key->value.data(), kPublicKeySize);
  Signature s{};
  std::memcpy(s.data(), sig->value.data(), kSignatureSize);
  Bytes prefix(m.raw.begin(), m.raw.begin() + static_cast<std::ptrdiff_t>(sig->offset));
  put_u16_at(prefix, 2, static_cast<std::uint16_t>(sig->offset + 4 + kSignatureSize - stun::kHeaderSize));
  if (!verify_signature(c.key, prefix, s)) return {SignatureState::Invalid, {}, {}};
  if (const auto* n = m.find(stun::attr::kNonce); n && n->offset < sig->offset)
    c.nonce = std::string(as_text(n->value));
  c.state = SignatureState::Valid;
  return c;
}

}  // namespace natpunch
