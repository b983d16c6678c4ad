# Shared by the connect cells: whether natpunch must connect this pair of lab NAT types.
# Required (issue 4): every pair where at least one side is not symmetric. Symmetric ↔ symmetric
# must fail cleanly and quickly (no direct method can find the pair without a relay).
expect_connect() {
  [[ "$LAB_TYPE" == symmetric-* && "$LAB_PEER_TYPE" == symmetric-* ]] && return 1
  return 0
}
field() { sed -nE "s/.*\"$2\":\"?([^\",}]*).*/\1/p" <<<"$1"; }
# Fast pacing for the lab (the default rate is for real routers; docs/architecture.md).
LAB_PUNCH_OPTS=(--rate "${LAB_RATE:-2000}" --ports "${LAB_PORTS:-256}" --probes "${LAB_PROBES:-2048}")
