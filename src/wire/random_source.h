// The one kind of randomness natpunch's engines take: a function that fills a buffer. Injected
// (STYLE.md: no global state), so the same engine draws strong bytes in real use and a seeded,
// repeatable stream in the simulator and in tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>

#include "wire/message.h"

namespace natpunch {

using RandomSource = std::function<void(std::span<std::byte>)>;

// Cryptographically strong bytes (OpenSSL's RAND_bytes): nonces, tokens, transaction IDs.
RandomSource system_random();

// A repeatable stream (splitmix64) for the simulator and tests only: never for real traffic.
RandomSource seeded_random(std::uint64_t seed);

// A transaction ID (RFC 8489 §6: 96 bits, uniform) drawn from `random`.
TransactionId random_transaction_id(const RandomSource& random);

// 64 uniform bits drawn from `random` (a seed for an engine's own generator, a port draw).
std::uint64_t random_u64(const RandomSource& random);

}  // namespace natpunch
