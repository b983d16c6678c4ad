#include "identity/device_key.h"

#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace natpunch {

namespace {
// sodium_init is idempotent and thread-safe; every entry point calls it (no global init step).
void ensure_sodium() {
  if (sodium_init() < 0) throw std::runtime_error("libsodium could not initialise");
}
auto* u8(std::byte* p) { return reinterpret_cast<unsigned char*>(p); }
const auto* u8(const std::byte* p) { return reinterpret_cast<const unsigned char*>(p); }
}  // namespace

DeviceKey DeviceKey::generate() {
  ensure_sodium();
  DeviceKey k;
  crypto_sign_keypair(u8(k.public_.data()), u8(k.secret_.data()));
  return k;
}

DeviceKey DeviceKey::from_seed(std::span<const std::byte, kSeedSize> seed) {
  ensure_sodium();
  DeviceKey k;
  crypto_sign_seed_keypair(u8(k.public_.data()), u8(k.secret_.data()), u8(seed.data()));
  return k;
}

DeviceKey::DeviceKey(DeviceKey&& other) noexcept : public_(other.public_), secret_(other.secret_) {
  sodium_memzero(other.secret_.data(), other.secret_.size());
}

DeviceKey& DeviceKey::operator=(DeviceKey&& other) noexcept {
  if (this != &other) {
    public_ = other.public_;
    secret_ = other.secret_;
    sodium_memzero(other.secret_.data(), other.secret_.size());
  }
  return *this;
}

DeviceKey::~DeviceKey() { sodium_memzero(secret_.data(), secret_.size()); }

Signature DeviceKey::sign(std::span<const std::byte> message) const {
  Signature s{};
  crypto_sign_detached(u8(s.data()), nullptr, u8(message.data()), message.size(), u8(secret_.data()));
  return s;
}

bool verify_signature(const PublicKey& key, std::span<const std::byte> message, const Signature& signature) {
  ensure_sodium();
  return crypto_sign_verify_detached(u8(signature.data()), u8(message.data()), message.size(), u8(key.data())) == 0;
}

std::optional<PublicKey> public_key_from_hex(std::string_view hex) {
  auto bytes = hex.size() == 2 * kPublicKeySize ? from_hex(hex) : std::nullopt;
  if (!bytes || bytes->size() != kPublicKeySize) return std::nullopt;
  PublicKey k{};
  std::copy(bytes->begin(), bytes->end(), k.begin());
  return k;
}

}  // namespace natpunch
