# shellcheck shell=bash
# Shared constants and small helpers of the lab: addresses, namespace names, bounded waits.

# The lab's "internet": one bridge in the inet namespace. Documentation ranges only, and only inside
# the namespaces.
LAB_INET_CIDR=24
LAB_SERVER_IP1=203.0.113.1
LAB_SERVER_IP2=203.0.113.2
# Sides a..h (`lab up --a T --b T [--c T …]`); side K (a=1, b=2, …) has the WAN address
# 203.0.113.(10·K) (its router's, or its host's own when the side is `open`) and the private LAN
# 10.0.K.0/24 with the router on .1 and the host on .2: LAB_WAN_IP_a=203.0.113.10,
# LAB_LAN_ROUTER_a=10.0.1.1, LAB_LAN_HOST_a=10.0.1.2; side b .20, 10.0.2.1, 10.0.2.2; side c .30, …
LAB_SIDES=(a b c d e f g h)
_lab_k=0
for _lab_side in "${LAB_SIDES[@]}"; do
  _lab_k=$((_lab_k + 1))
  declare -g "LAB_WAN_IP_$_lab_side=203.0.113.$((10 * _lab_k))"
  declare -g "LAB_LAN_ROUTER_$_lab_side=10.0.$_lab_k.1" "LAB_LAN_HOST_$_lab_side=10.0.$_lab_k.2"
done
unset _lab_k _lab_side
LAB_LAN_HOST_b_SAMELAN=10.0.1.3
LAB_LAN_CIDR=24

# Every namespace of topology NAME is called np-NAME-NODE.
LAB_PREFIX=np-
LAB_STATE_ROOT=${LAB_STATE_ROOT:-/run/natpunch-lab}

LAB_NAT_TYPES=(open full-cone restricted-cone port-restricted-cone port-restricted-cone-random
  symmetric-random symmetric-random-narrow symmetric-sequential symmetric-preserve-first)
# Extra types: accepted by `lab up`, listed by `lab types`, measured by their own selftest, but not in
# LAB_NAT_TYPES (the STUN and NAT-type grids iterate over that; the connect grid adds them):
# upnp = symmetric random + miniupnpd (UPnP-IGD, NAT-PMP, PCP) on the router.
LAB_EXTRA_TYPES=(upnp)

# Short alias and RFC 4787 behaviour of each type (`lab types`); the short alias is accepted anywhere.
declare -A LAB_TYPE_SHORT=(
  [open]=open [full-cone]=fc [restricted-cone]=rc [port-restricted-cone]=prc
  [port-restricted-cone-random]=prc-r [symmetric-random]=sym-r [symmetric-random-narrow]=sym-n
  [symmetric-sequential]=sym-seq [symmetric-preserve-first]=sym-pf
  [upnp]=upnp
)
declare -A LAB_TYPE_RFC4787=(
  [open]="no NAT, no filtering"
  [full-cone]="EIM + EIF, port preserved"
  [restricted-cone]="EIM + ADF, port preserved"
  [port-restricted-cone]="EIM + APDF, port preserved"
  [port-restricted-cone-random]="EIM + APDF, random port 20000-29999"
  [symmetric-random]="APDM + APDF, random port 1024-65535"
  [symmetric-random-narrow]="APDM + APDF, random port 30000-30255"
  [symmetric-sequential]="APDM + APDF, sequential ports from 40000"
  [symmetric-preserve-first]="APDM + APDF, port kept on an endpoint's first flow, then random"
  [upnp]="APDM + APDF, random port 1024-65535; router maps ports on request (UPnP-IGD, NAT-PMP, PCP)"
)

# canonical_type NAME_OR_ALIAS: prints the full type name, fails on unknown types.
canonical_type() {
  local t
  for t in "${LAB_NAT_TYPES[@]}" "${LAB_EXTRA_TYPES[@]}"; do
    if [[ "$1" == "$t" || "$1" == "${LAB_TYPE_SHORT[$t]}" ]]; then
      echo "$t"
      return 0
    fi
  done
  die "unknown NAT type '$1' (see: lab types)"
}

die() {
  echo "lab: error: $*" >&2
  exit 1
}

note() { echo "lab: $*" >&2; }

ns_name() { echo "${LAB_PREFIX}$1-$2"; } # NAME NODE

valid_name() { [[ "$1" =~ ^[A-Za-z0-9][A-Za-z0-9_.]{0,31}$ ]]; }

valid_type() {
  local t
  for t in "${LAB_NAT_TYPES[@]}" "${LAB_EXTRA_TYPES[@]}"; do [[ "$t" == "$1" ]] && return 0; done
  return 1
}

# Root and network namespaces are hard requirements: fail loudly, never skip.
require_lab_support() {
  [[ $(id -u) -eq 0 ]] || die "the lab needs root (network namespaces, nftables); run as root"
  local cmd
  for cmd in ip nft; do
    command -v "$cmd" >/dev/null || die "'$cmd' not found; run scripts/setup (iproute2, nftables)"
  done
  local probe_ns="${LAB_PREFIX}probe$$"
  ip netns add "$probe_ns" 2>/dev/null || die "cannot create a network namespace (no netns support?)"
  if ! ip netns exec "$probe_ns" nft -f - <<<'table inet lab_check { chain c { type filter hook input priority 0; }; }' 2>/dev/null; then
    ip netns del "$probe_ns"
    die "nftables does not work inside a network namespace (kernel without nf_tables?)"
  fi
  ip netns del "$probe_ns"
}

now_ms() { local t=${EPOCHREALTIME/./}; echo $((10#$t / 1000)); }

# wait_for_line FILE REGEX SECONDS [COUNT]: polls FILE until COUNT lines (default 1) match REGEX;
# fails after SECONDS.
wait_for_line() {
  local file=$1 regex=$2 secs=$3 count=${4:-1}
  local deadline=$(($(now_ms) + secs * 1000))
  while :; do
    [[ -f "$file" ]] && (($(grep -Ec -- "$regex" "$file") >= count)) && return 0
    (($(now_ms) < deadline)) || return 1
    sleep 0.02
  done
}

# wait_pid_timeout PID SECONDS: waits for a child; kills it after SECONDS. Returns its status (124 on timeout).
wait_pid_timeout() {
  local pid=$1 secs=$2
  local deadline=$(($(now_ms) + secs * 1000))
  while kill -0 "$pid" 2>/dev/null && (($(now_ms) < deadline)); do sleep 0.02; done
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 124
  fi
  wait "$pid"
}

# A scratch directory for one run, named after the run's PID so that `lab cleanup` can tell
# leftovers of killed runs.
make_lab_tmp() { mktemp -d "/tmp/natpunch-lab.$$.XXXXXX"; }

remove_stale_lab_tmp() {
  local dir pid
  for dir in /tmp/natpunch-lab.*.*; do
    [[ -d "$dir" ]] || continue
    pid=${dir#/tmp/natpunch-lab.}
    pid=${pid%%.*}
    [[ "$pid" =~ ^[0-9]+$ ]] && ! kill -0 "$pid" 2>/dev/null && rm -rf "$dir"
  done
  return 0
}

# Finds (or builds into a temporary directory) the probe binary; prints its path.
find_probe() {
  local given=${1:-${LAB_PROBE:-}}
  if [[ -n "$given" ]]; then
    [[ -x "$given" ]] || die "probe binary '$given' is not executable"
    echo "$given"
    return
  fi
  local built="$LAB_ROOT/../build/lab/probe/natpunch-labprobe"
  if [[ -x "$built" && "$built" -nt "$LAB_ROOT/probe/probe.cpp" ]]; then
    echo "$built"
    return
  fi
  local cxx
  cxx=$(command -v c++ || command -v g++ || command -v clang++) || die "no C++ compiler to build the probe"
  [[ -n "${LAB_TMP:-}" ]] || die "internal: LAB_TMP unset"
  "$cxx" -std=c++20 -O2 -Wall -Wextra -o "$LAB_TMP/natpunch-labprobe" "$LAB_ROOT/probe/probe.cpp" ||
    die "building the probe failed"
  echo "$LAB_TMP/natpunch-labprobe"
}
