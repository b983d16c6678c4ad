#!/usr/bin/env python3
"""Seeds and binomial bounds for the statistical shell tests (the same rules as
tests/unit/test_seed.h).

  stats.py seed NAME             a seed (63 bits) for the test part NAME, from NATPUNCH_TEST_SEED
                                 (which ./run test sets fresh per run and prints); the line
                                 "[ seed ] ..." goes to stderr so the draw can be repeated
  stats.py at-least N P [ALPHA]  the largest k with P(X < k) <= ALPHA for X ~ Binomial(N, P)
  stats.py at-most N P [ALPHA]   the smallest k with P(X > k) <= ALPHA
  stats.py two-sample K1 N1 K2 N2 [ALPHA]
                                 exit 0 if K1/N1 and K2/N2 may share one rate (two-sided
                                 two-proportion test at ALPHA), 1 if they differ; prints the z score

ALPHA defaults to 1e-4: a correct implementation fails a bound once in 10,000 runs.
"""
import math
import os
import random
import sys

ALPHA = 1e-4
MASK = (1 << 64) - 1


def base_seed():
    s = os.environ.get("NATPUNCH_TEST_SEED", "")
    if s.isdigit():
        return int(s) & MASK
    return random.SystemRandom().getrandbits(64)


def derive(base, name):
    # FNV-1a of the name, then splitmix64, as test_seed.h does.
    h = 1469598103934665603
    for b in name.encode():
        h = ((h ^ b) * 1099511628211) & MASK
    z = (base + h + 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def pmf(n, k, p):
    if p <= 0:
        return 1.0 if k == 0 else 0.0
    if p >= 1:
        return 1.0 if k == n else 0.0
    return math.exp(math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
                    + k * math.log(p) + (n - k) * math.log1p(-p))


def at_least(n, p, alpha):
    below = 0.0
    for k in range(n + 1):
        nxt = below + pmf(n, k, p)
        if nxt > alpha:
            return k
        below = nxt
    return n


def at_most(n, p, alpha):
    return n - at_least(n, 1 - p, alpha)


def z_two_sample(k1, n1, k2, n2):
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return 0.0 if se == 0 else (k1 / n1 - k2 / n2) / se


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd = argv[1]
    if cmd == "seed" and len(argv) == 3:
        base = base_seed()
        seed = derive(base, argv[2]) >> 1  # 63 bits: shell arithmetic (seed + 1) stays positive
        print(f"[ seed ] NATPUNCH_TEST_SEED={base}: {argv[2]} draws from {seed}", file=sys.stderr)
        print(seed)
        return 0
    if cmd in ("at-least", "at-most") and len(argv) in (4, 5):
        n, p = int(argv[2]), float(argv[3])
        alpha = float(argv[4]) if len(argv) == 5 else ALPHA
        print(at_least(n, p, alpha) if cmd == "at-least" else at_most(n, p, alpha))
        return 0
    if cmd == "two-sample" and len(argv) in (6, 7):
        k1, n1, k2, n2 = (int(x) for x in argv[2:6])
        alpha = float(argv[6]) if len(argv) == 7 else ALPHA
        z = z_two_sample(k1, n1, k2, n2)
        # Two-sided normal quantile for alpha, by bisection on erfc.
        lo, hi = 0.0, 10.0
        for _ in range(100):
            mid = (lo + hi) / 2
            if math.erfc(mid / math.sqrt(2)) > alpha:
                lo = mid
            else:
                hi = mid
        print(f"z={z:.2f} (|z| <= {hi:.2f} at alpha {alpha:g})")
        return 0 if abs(z) <= hi else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
