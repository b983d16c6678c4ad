#!/usr/bin/env bash
# `natpunch simulate` reproduces the seeds' birthday figures within ±0.5 point, with enough trials
# for its 95 % interval to be that tight, and is deterministic for a seed.
set -euo pipefail
NATPUNCH=${1:?usage: simulate_formula.sh NATPUNCH}
field() { sed -nE "s/.*\"$2\":\"?([^\",}]*).*/\1/p" <<<"$1"; }
check() { # PORTS PROBES TRIALS EXPECTED_PERCENT
  local out rate formula
  out=$("$NATPUNCH" simulate --nat-a port-restricted-cone --nat-b symmetric-random --ports "$1" --probes "$2" \
    --port-range 2048-65535 --trials "$3" --seed 7 --json)
  rate=$(field "$out" success_rate) formula=$(field "$out" formula)
  echo "N=$1 M=$2 trials=$3: simulated $rate, formula $formula, seed figure $4 %"
  awk -v r="$rate" -v f="$formula" -v e="$4" 'BEGIN {
    if (r * 100 < e - 0.5 || r * 100 > e + 0.5) { print "simulated rate off the seed figure by more than 0.5 point"; exit 1 }
    if (f * 100 < e - 0.1 || f * 100 > e + 0.1) { print "formula off the seed figure"; exit 1 } }'
}
check 400 500 8000 95.8     # JP7401564B2
check 100 500 40000 54.6    # JP7401564B2, the low setting
# Other settings: the formula must lie inside the simulated rate's 95 % interval (deterministic seed).
within() { # PORTS PROBES RANGE TRIALS
  local out lo hi formula
  out=$("$NATPUNCH" simulate --nat-a port-restricted-cone --nat-b symmetric-random --ports "$1" --probes "$2" \
    --port-range "$3" --trials "$4" --seed 9 --json)
  formula=$(field "$out" formula)
  lo=$(sed -nE 's/.*"ci95":\[([^,]*),([^]]*)\].*/\1/p' <<<"$out") hi=$(sed -nE 's/.*"ci95":\[([^,]*),([^]]*)\].*/\2/p' <<<"$out")
  echo "N=$1 M=$2 R=$3: simulated $(field "$out" success_rate) (95 % CI $lo–$hi), formula $formula"
  awk -v f="$formula" -v lo="$lo" -v hi="$hi" 'BEGIN { if (f == "" || f < lo || f > hi) { print "formula outside the interval"; exit 1 } }'
}
within 500 500 2048-65535 4000   # CN104660728A's 500/500
within 64 1024 1024-65535 4000
within 32 128 10000-14095 4000
within 1000 100 1024-65535 4000
a=$("$NATPUNCH" simulate --ports 64 --probes 256 --trials 300 --seed 3 --json)
b=$("$NATPUNCH" simulate --ports 64 --probes 256 --trials 300 --seed 3 --json)
[[ "$a" == "$b" ]] || { echo "same seed, different results"; exit 1; }
echo "deterministic for a seed"
