#!/usr/bin/env bash
# The simulator's grid over NAT pairs (STYLE.md example 7) against the lab grid's table: for every
# ordered pair of the lab's 9 NAT types, `natpunch simulate` (initiator alternating, the lab
# grid's N and M) must connect every trial where lab/cells/expect.sh says a direct method connects
# the pair, and none where the lab needs the relay (the simulator has none: symmetric ↔ symmetric
# fails there at once). Deterministic (fixed seed).
set -euo pipefail
NATPUNCH=${1:?usage: sim_grid.sh NATPUNCH}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../../lab/cells/expect.sh
source "$here/../../lab/cells/expect.sh"
types=(open full-cone restricted-cone port-restricted-cone port-restricted-cone-random symmetric-random
  symmetric-random-narrow symmetric-sequential symmetric-preserve-first)
trials=${SIM_GRID_TRIALS:-20}
bad=0 cells=0
printf '%-28s %-28s %-9s %-9s %s\n' a b expected simulated method
for LAB_TYPE in "${types[@]}"; do
  for LAB_PEER_TYPE in "${types[@]}"; do
    out=$("$NATPUNCH" simulate --nat-a "$LAB_TYPE" --nat-b "$LAB_PEER_TYPE" --ports "${LAB_PORTS:-256}" \
      --probes "${LAB_PROBES:-2048}" --trials "$trials" --seed 5 --json)
    k=$(field "$out" connected)
    if expect_direct; then want="$trials/$trials"; else want="0/$trials"; fi
    got="$k/$trials"
    cells=$((cells + 1))
    mark=""
    [[ "$got" == "$want" ]] || { mark="  <-- differs from the lab table"; bad=$((bad + 1)); }
    printf '%-28s %-28s %-9s %-9s %s%s\n' "$LAB_TYPE" "$LAB_PEER_TYPE" "$want" "$got" "$(field "$out" method)" "$mark"
  done
done
echo "$((cells - bad))/$cells cells as the lab table says"
((bad == 0))
