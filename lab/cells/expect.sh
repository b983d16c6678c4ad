# Shared by the connect cells: how natpunch must connect this pair of lab NAT types (issue 7: every
# pair connects, by the cheapest method that works):
#   direct       a side without NAT (the other sends to its address)
#   port-mapped  a `upnp` side (its router mapped a port for it; the other side sends there)
#   relay        symmetric <-> symmetric: no direct method can find the pair; TURN (coturn) relays
#   punched      any other pair: simultaneous open or a birthday search
expected_method() {
  if [[ "$LAB_TYPE" == open || "$LAB_PEER_TYPE" == open ]]; then echo direct
  elif [[ "$LAB_TYPE" == upnp || "$LAB_PEER_TYPE" == upnp ]]; then echo port-mapped
  elif [[ "$LAB_TYPE" == symmetric-* && "$LAB_PEER_TYPE" == symmetric-* ]]; then echo relay
  else echo punched
  fi
}
# Whether a direct method (no relay) connects the pair: what the simulator, which has no relay,
# reproduces (tests/sim/sim_grid.sh).
expect_direct() { [[ "$(expected_method)" != relay ]]; }
# method_matches EXPECTED METHOD: "punched" stands for the punching methods.
method_matches() {
  case "$1" in
    punched) [[ "$2" == simultaneous || "$2" == birthday-* ]] ;;
    *) [[ "$2" == "$1" ]] ;;
  esac
}
field() { sed -nE "s/.*\"$2\":\"?([^\",}]*).*/\1/p" <<<"$1"; }
# Fast pacing for the lab (the default rate is for real routers; docs/architecture.md).
LAB_PUNCH_OPTS=(--rate "${LAB_RATE:-2000}" --ports "${LAB_PORTS:-256}" --probes "${LAB_PROBES:-2048}")
