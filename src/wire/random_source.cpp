#include "wire/random_source.h"

#include <openssl/rand.h>

#include <array>
#include <stdexcept>

namespace natpunch {

RandomSource system_random() {
  return [](std::span<std::byte> out) {
    if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(out.size())) != 1)
      throw std::runtime_error("RAND_bytes failed");  // local failure, never network input
  };
}

RandomSource seeded_random(std::uint64_t seed) {
  return [state = seed](std::span<std::byte> out) mutable {
    for (auto& b : out) {  // splitmix64, one byte per step
      state += 0x9e3779b97f4a7c15ULL;
      std::uint64_t z = state;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      b = std::byte(static_cast<std::uint8_t>(z ^ (z >> 31)));
    }
  };
}

TransactionId random_transaction_id(const RandomSource& random) {
  TransactionId id{};
  random(std::span<std::byte>(id));
  return id;
}

std::uint64_t random_u64(const RandomSource& random) {
  std::array<std::byte, 8> b{};
  random(std::span<std::byte>(b));
  std::uint64_t v = 0;
  for (auto x : b) v = (v << 8) | static_cast<std::uint8_t>(x);
  return v;
}

}  // namespace natpunch
