// A device's identity: an Ed25519 key pair (libsodium). The public key is what the server binds to
// the device's ID and what the peer pins; the secret seed never leaves the key file and this object,
// which wipes it on destruction. No I/O here (key_file.h reads and writes the file).
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <span>
#include <string>

#include "wire/bytes.h"

namespace natpunch {

inline constexpr std::size_t kPublicKeySize = 32;
inline constexpr std::size_t kSeedSize = 32;
inline constexpr std::size_t kSignatureSize = 64;

using PublicKey = std::array<std::byte, kPublicKeySize>;
using Signature = std::array<std::byte, kSignatureSize>;

class DeviceKey {
 public:
  // A fresh key from the system's CSPRNG (libsodium randombytes).
  static DeviceKey generate();
  // The key a 32-byte seed determines (key files store the seed).
  static DeviceKey from_seed(std::span<const std::byte, kSeedSize> seed);

  DeviceKey(const DeviceKey&) = delete;
  DeviceKey& operator=(const DeviceKey&) = delete;
  DeviceKey(DeviceKey&& other) noexcept;
  DeviceKey& operator=(DeviceKey&& other) noexcept;
  ~DeviceKey();

  const PublicKey& public_key() const { return public_; }
  std::span<const std::byte, kSeedSize> seed() const {
    return std::span<const std::byte, kSeedSize>(secret_.data(), kSeedSize);
  }
  Signature sign(std::span<const std::byte> message) const;

 private:
  DeviceKey() = default;
  PublicKey public_{};
  std::array<std::byte, 64> secret_{};  // libsodium's secret key: seed ‖ public key
};

// True when `signature` is `key`'s Ed25519 signature of `message`.
bool verify_signature(const PublicKey& key, std::span<const std::byte> message, const Signature& signature);

// A public key from exactly 64 hex digits (wire/bytes.h to_hex writes them).
std::optional<PublicKey> public_key_from_hex(std::string_view hex);

}  // namespace natpunch
