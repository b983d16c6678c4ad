#pragma once

#include <cstddef>
#include <functional>
#include <span>

namespace natpunch {
// Fills a buffer with unpredictable bytes. Injected so tests can be deterministic.
using RandomSource = std::function<void(std::span<std::byte>)>;
// Cryptographically strong bytes from OpenSSL's RAND_bytes.
RandomSource system_random();
}  // namespace natpunch
