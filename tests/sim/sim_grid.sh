#!/usr/bin/env bash
# The simulator's grid over NAT pairs (STYLE.md example 7) against the lab grid's table: for every
# ordered pair of the lab's 9 NAT types, `natpunch simulate` (initiator alternating, the lab
# grid's N and M) must connect every trial where lab/cells/expect.sh says a direct method connects
# the pair, and none where the lab needs the relay (the simulator has none: symmetric ↔ symmetric
# fails there at once). Each cell is a fresh draw from NATPUNCH_TEST_SEED; where a cell connects by
# chance (birthday methods, the formula's 99.97 % at the lab's N and M) it may miss a trial within
# the binomial bound a correct simulator stays inside 9,999 runs in 10,000 (tests/lib/stats.py).
set -euo pipefail
NATPUNCH=${1:?usage: sim_grid.sh NATPUNCH}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
stats=$here/../lib/stats.py
# One base seed for the whole run (./run test sets it; otherwise drawn here), printed to repeat it.
export NATPUNCH_TEST_SEED=${NATPUNCH_TEST_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
echo "NATPUNCH_TEST_SEED=$NATPUNCH_TEST_SEED"
# shellcheck source=../../lab/cells/expect.sh
source "$here/../../lab/cells/expect.sh"
types=(open full-cone restricted-cone port-restricted-cone port-restricted-cone-random symmetric-random
  symmetric-random-narrow symmetric-sequential symmetric-preserve-first)
trials=${SIM_GRID_TRIALS:-20}
bad=0 cells=0
printf '%-28s %-28s %-9s %-9s %s\n' a b expected simulated method
for LAB_TYPE in "${types[@]}"; do
  for LAB_PEER_TYPE in "${types[@]}"; do
    seed=$("$stats" seed "sim_grid.$LAB_TYPE.$LAB_PEER_TYPE" 2>/dev/null)
    out=$("$NATPUNCH" simulate --nat-a "$LAB_TYPE" --nat-b "$LAB_PEER_TYPE" --ports "${LAB_PORTS:-256}" \
      --probes "${LAB_PROBES:-2048}" --trials "$trials" --seed "$seed" --json)
    k=$(field "$out" connected) method=$(field "$out" method)
    [[ "$k" =~ ^[0-9]+$ ]] || { echo "no result for $LAB_TYPE -> $LAB_PEER_TYPE: $out"; exit 1; }
    if ! expect_direct; then
      least=0 most=0
    elif [[ "$method" == birthday-* && "$(field "$out" formula)" != null ]]; then
      least=$("$stats" at-least "$trials" "$(field "$out" formula)") most=$trials
    else
      least=$trials most=$trials  # direct, simultaneous, prediction, a pool the listener covers: no chance
    fi
    if ((least == most)); then want="$least/$trials"; else want="$least..$most/$trials"; fi
    got="$k/$trials"
    cells=$((cells + 1))
    mark=""
    ((k >= least && k <= most)) || { mark="  <-- differs from the lab table"; bad=$((bad + 1)); }
    printf '%-28s %-28s %-9s %-9s %s%s\n' "$LAB_TYPE" "$LAB_PEER_TYPE" "$want" "$got" "$(field "$out" method)" "$mark"
  done
done
echo "$((cells - bad))/$cells cells as the lab table says (NATPUNCH_TEST_SEED=$NATPUNCH_TEST_SEED)"
((bad == 0))
