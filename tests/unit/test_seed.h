// Seeds and bounds for statistical tests.
//
// Every random draw a test judges comes from NATPUNCH_TEST_SEED: `./run test` sets a fresh one per
// run and prints it, so a failure is repeated by running again with the same value; unset, the
// test draws one and prints it. test_seed("name") derives an independent stream per test, so tests
// do not share draws and adding one test does not move another's.
//
// Bounds are exact binomial quantiles: a correct implementation with success probability p falls
// outside them with probability at most kTestAlpha (1 in 10,000 runs) per bound.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <string_view>

namespace natpunch::test {

inline constexpr double kTestAlpha = 1e-4;

// The run's base seed: NATPUNCH_TEST_SEED, or one drawn now (then printed the same way).
inline std::uint64_t base_test_seed() {
  static const std::uint64_t seed = [] {
    if (const char* s = std::getenv("NATPUNCH_TEST_SEED"); s != nullptr && *s != '\0') {
      char* end = nullptr;
      auto v = std::strtoull(s, &end, 10);
      if (end != nullptr && *end == '\0') return static_cast<std::uint64_t>(v);
      std::fprintf(stderr, "NATPUNCH_TEST_SEED='%s' is not a decimal number; drawing a seed instead\n", s);
    }
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  }();
  return seed;
}

// FNV-1a over the name, mixed with the base seed (splitmix64): one stream per test.
inline std::uint64_t test_seed(std::string_view name) {
  std::uint64_t h = 1469598103934665603ull;
  for (char c : name) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  std::uint64_t z = base_test_seed() + h + 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  std::printf("[ seed ] NATPUNCH_TEST_SEED=%llu: %.*s draws from %llu\n",
              static_cast<unsigned long long>(base_test_seed()), static_cast<int>(name.size()), name.data(),
              static_cast<unsigned long long>(z));
  ::testing::Test::RecordProperty("natpunch_test_seed", std::to_string(base_test_seed()));
  return z;
}

// P(X = k) for X ~ Binomial(n, p), in logs for large n.
inline double binomial_pmf(int n, int k, double p) {
  if (p <= 0) return k == 0 ? 1 : 0;
  if (p >= 1) return k == n ? 1 : 0;
  return std::exp(std::lgamma(n + 1.0) - std::lgamma(k + 1.0) - std::lgamma(n - k + 1.0) + k * std::log(p) +
                  (n - k) * std::log1p(-p));
}

// The largest k with P(X < k) <= alpha: a correct implementation succeeds at least k times out of
// n with probability >= 1 - alpha.
inline int binomial_at_least(int n, double p, double alpha = kTestAlpha) {
  double below = 0;
  for (int k = 0; k <= n; ++k) {
    double next = below + binomial_pmf(n, k, p);
    if (next > alpha) return k;
    below = next;
  }
  return n;
}

// The smallest k with P(X > k) <= alpha.
inline int binomial_at_most(int n, double p, double alpha = kTestAlpha) {
  return n - binomial_at_least(n, 1 - p, alpha);
}

}  // namespace natpunch::test
