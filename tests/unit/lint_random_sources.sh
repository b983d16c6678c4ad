#!/usr/bin/env bash
# natpunch draws randomness one way (src/wire/random_source.h): engines take an injected
# RandomSource, so the simulator and tests can seed them. This check fails when a source file
# under SRC draws bytes another way. Allowed: the source itself, key generation (identity/), the
# TLS certificate serial (session/tls_identity.cpp), engines' own generators seeded from the source
# (punch/) and the simulator's models (sim/).
set -euo pipefail
src=${1:?usage: lint_random_sources.sh SRC_DIR}
[[ -d $src ]] || { echo "lint_random_sources: no directory $src" >&2; exit 2; }
found=$(grep -rnE 'RAND_bytes|randombytes_buf|random_device|mt19937|[^_]rand\(\)|arc4random|getrandom' \
          --include='*.cpp' --include='*.h' "$src" |
        grep -vE "^$src/(wire/random_source\.(cpp|h)|identity/|session/tls_identity\.cpp|punch/|sim/)" || true)
if [[ -n $found ]]; then
  echo "randomness drawn outside wire/random_source (inject a RandomSource instead):" >&2
  echo "$found" >&2
  exit 1
fi
echo "lint_random_sources: every draw goes through wire/random_source"
