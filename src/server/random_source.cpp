#include "server/random_source.h"

#include <openssl/rand.h>

#include <stdexcept>

namespace natpunch {

RandomSource system_random() {
  return [](std::span<std::byte> out) {
    if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(out.size())) != 1)
      throw std::runtime_error("RAND_bytes failed");  // local failure, never network input
  };
}

}  // namespace natpunch
