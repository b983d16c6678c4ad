# shellcheck shell=bash
# `lab selftest`: every NAT type brought up and measured with the probe; the measurement must match
# what the type's name promises (RFC 4787 mapping and filtering, port preservation, allocation).

LAB_REFLECT_PORT1=4001
LAB_REFLECT_PORT2=4002

# type → expected "mapping filtering preserved allocation port-range" (range "-" = not checked).
declare -A SELFTEST_EXPECT=(
  [open]="none EIF yes preserved -"
  [full-cone]="EIM EIF yes preserved -"
  [restricted-cone]="EIM ADF yes preserved -"
  [port-restricted-cone]="EIM APDF yes preserved -"
  [port-restricted-cone-random]="EIM APDF no random 20000-29999"
  [symmetric-random]="APDM APDF no random 1024-65535"
  [symmetric-random-narrow]="APDM APDF no random 30000-30255"
  [symmetric-sequential]="APDM APDF no sequential 40000-41023"
  [symmetric-preserve-first]="APDM APDF first random 1024-65535"
  [upnp]="APDM APDF no random 1024-65535"
)

selftest_usage() {
  cat <<'EOF'
usage: lab selftest [--probe PATH] [--types T1,T2,...] [--no-variants] [--natpunch PATH]
  Brings up one topology per NAT type (in parallel), measures it with natpunch-labprobe and
  compares with the type's definition; also checks the same-LAN and loss variants.
  Type upnp (not in the default list) also checks that a mapping made with UPnP-IGD, NAT-PMP and
  PCP (upnpc, natpmpc, bash; then natpunch portmap with each) admits unsolicited inbound UDP, and
  natpunch's deleted mappings admit none; its router needs --natpunch PATH (STUN for miniupnpd
  and the portmap clients).
  Exits 0 only if every row passes.
EOF
  exit 2
}

# Reads key=value lines of a probe --kv output into the associative array named by $2.
read_kv() {
  local file=$1 line
  local -n _kv=$2
  _kv=()
  while IFS= read -r line; do
    [[ "$line" == *=* ]] && _kv[${line%%=*}]=${line#*=}
  done <"$file"
}

selftest_cleanup() {
  local name
  for name in "${SELFTEST_TOPOLOGIES[@]}"; do topology_down "$name" 2>/dev/null || true; done
  [[ -n "${LAB_TMP:-}" && -d "$LAB_TMP" ]] && rm -rf "$LAB_TMP"
  return 0
}

# Starts the reflector in topology NAME's inet namespace; waits (bounded) until it is listening.
start_reflector() {
  local name=$1 probe=$2 out=$3
  ip netns exec "$(ns_name "$name" inet)" "$probe" reflect \
    --listen "$LAB_SERVER_IP1:$LAB_REFLECT_PORT1" --listen "$LAB_SERVER_IP1:$LAB_REFLECT_PORT2" \
    --listen "$LAB_SERVER_IP2:$LAB_REFLECT_PORT1" --listen "$LAB_SERVER_IP2:$LAB_REFLECT_PORT2" \
    --duration 60 >"$out" 2>&1 &
}

selftest_main() {
  local probe_arg="" types_arg="" variants=1
  while (($#)); do
    case "$1" in
      --probe) probe_arg=${2:?--probe needs a path}; shift 2 ;;
      --types) types_arg=${2:?--types needs a list}; shift 2 ;;
      --no-variants) variants=0; shift ;;
      --natpunch) LAB_NATPUNCH=${2:?--natpunch needs a path}; shift 2 ;;
      *) selftest_usage ;;
    esac
  done
  local -a types
  if [[ -n "$types_arg" ]]; then IFS=, read -r -a types <<<"$types_arg"; else types=("${LAB_NAT_TYPES[@]}"); fi
  local t i
  for i in "${!types[@]}"; do types[$i]=$(canonical_type "${types[$i]}"); done

  require_lab_support
  local start
  start=$(now_ms)
  SELFTEST_TOPOLOGIES=()
  LAB_TMP=$(make_lab_tmp)
  trap selftest_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  local probe
  probe=$(find_probe "$probe_arg")
  topology_cleanup # stale topologies of crashed runs (owner gone)

  # One topology per type (side a measured; side b open), all at once.
  local name
  local -a names=()
  for i in "${!types[@]}"; do
    name="st$$n$i"
    SELFTEST_TOPOLOGIES+=("$name")
    names+=("$name")
    topology_up "$name" "${types[$i]}" open 0 0 0 $$
    start_reflector "$name" "$probe" "$LAB_TMP/$name.reflect"
  done
  if ((variants)); then
    SELFTEST_TOPOLOGIES+=("st$$lan" "st$$loss")
    topology_up "st$$lan" port-restricted-cone port-restricted-cone 1 0 0 $$
    topology_up "st$$loss" port-restricted-cone open 0 30 0 $$
    start_reflector "st$$loss" "$probe" "$LAB_TMP/st$$loss.reflect"
    # Host b of the same-LAN topology answers host a directly.
    ip netns exec "$(ns_name "st$$lan" b)" "$probe" reflect --listen "$LAB_LAN_HOST_b_SAMELAN:$LAB_REFLECT_PORT1" \
      --duration 60 >"$LAB_TMP/st$$lan.reflect" 2>&1 &
  fi
  for name in "${SELFTEST_TOPOLOGIES[@]}"; do
    wait_for_line "$LAB_TMP/$name.reflect" '^ready$' 5 ||
      die "reflector in '$name' did not start within 5 s: $(cat "$LAB_TMP/$name.reflect")"
  done

  local -A pids=()
  for name in "${names[@]}"; do
    ip netns exec "$(ns_name "$name" a)" "$probe" measure --ip1 "$LAB_SERVER_IP1" --ip2 "$LAB_SERVER_IP2" \
      --port1 "$LAB_REFLECT_PORT1" --port2 "$LAB_REFLECT_PORT2" --fresh 6 --kv >"$LAB_TMP/$name.out" 2>&1 &
    pids[$name]=$!
  done
  if ((variants)); then
    ip netns exec "$(ns_name "st$$lan" a)" "$probe" burst --server "$LAB_LAN_HOST_b_SAMELAN:$LAB_REFLECT_PORT1" \
      --count 50 >"$LAB_TMP/st$$lan.out" 2>&1 &
    pids[st$$lan]=$!
    ip netns exec "$(ns_name "st$$loss" a)" "$probe" burst --server "$LAB_SERVER_IP1:$LAB_REFLECT_PORT1" \
      --count 400 --interval-ms 1 >"$LAB_TMP/st$$loss.out" 2>&1 &
    pids[st$$loss]=$!
  fi
  local -A status=()
  for name in "${!pids[@]}"; do
    status[$name]=0
    wait_pid_timeout "${pids[$name]}" 30 || status[$name]=$?
  done

  local failures=0 diagnostics=""
  printf '%-28s %-8s %-10s %-10s %-11s %-12s %s\n' "type" mapping filtering preserved allocation ports result
  printf '%-28s %-8s %-10s %-10s %-11s %-12s %s\n' ---- ------- --------- --------- ---------- ----- ------
  for i in "${!types[@]}"; do
    name=${names[$i]} t=${types[$i]}
    local -A got=()
    read_kv "$LAB_TMP/$name.out" got
    local exp_map exp_filt exp_pres exp_alloc exp_range
    read -r exp_map exp_filt exp_pres exp_alloc exp_range <<<"${SELFTEST_EXPECT[$t]}"
    local ports="-" why=""
    if [[ "${got[ports_min]:--1}" != -1 ]]; then ports="${got[ports_min]}-${got[ports_max]}"; fi
    [[ "${status[$name]}" == 0 ]] || why+=" probe exited ${status[$name]}: $(tail -n 3 "$LAB_TMP/$name.out" | tr '\n' ' ');"
    [[ "${got[mapping]:-}" == "$exp_map" ]] || why+=" mapping: expected $exp_map;"
    [[ "${got[filtering]:-}" == "$exp_filt" ]] || why+=" filtering: expected $exp_filt;"
    [[ "${got[preserved]:-}" == "$exp_pres" ]] || why+=" preserved: expected $exp_pres;"
    [[ "${got[allocation]:-}" == "$exp_alloc" ]] || why+=" allocation: expected $exp_alloc;"
    if [[ "$exp_range" != - ]]; then
      if [[ "$ports" == - ]] || ((${got[ports_min]} < ${exp_range%-*} || ${got[ports_max]} > ${exp_range#*-})); then
        why+=" ports $ports outside $exp_range;"
      fi
    fi
    # Every mapping must be on the router's WAN address (the host's own address when open).
    local k
    for k in 0 1 2 3; do
      [[ "${got[mapped_$k]:-}" == "$LAB_WAN_IP_a:"* ]] || why+=" mapped_$k ${got[mapped_$k]:-none} not on $LAB_WAN_IP_a;"
    done
    local verdict=PASS
    if [[ -n "$why" ]]; then
      verdict="FAIL:$why"
      failures=$((failures + 1))
      diagnostics+="--- $t (topology $name), probe output:"$'\n'"$(cat "$LAB_TMP/$name.out")"$'\n'
    fi
    printf '%-28s %-8s %-10s %-10s %-11s %-12s %s\n' "$t" "${got[mapping]:-?}" "${got[filtering]:-?}" \
      "${got[preserved]:-?}" "${got[allocation]:-?}" "$ports" "$verdict"
  done
  local upnp_checks=0
  for i in "${!types[@]}"; do
    [[ "${types[$i]}" == upnp ]] || continue
    upnp_checks=$((upnp_checks + ${#UPNP_CHECK_ORDER[@]}))
    selftest_upnp_mappings "${names[$i]}" "$probe" || failures=$((failures + $?))
  done
  if ((variants)); then
    local sent received mapped verdict
    # Same LAN: every packet arrives, seen from the private address (no NAT between the hosts).
    read -r sent received mapped < <(sed -E 's/.*"sent":([0-9]+),"received":([0-9]+),"mapped":"([^"]*)".*/\1 \2 \3/' "$LAB_TMP/st$$lan.out")
    verdict=PASS
    if [[ "${status[st$$lan]}" != 0 || "$received" != "$sent" || "$mapped" != "$LAB_LAN_HOST_a:"* ]]; then
      verdict="FAIL: expected $sent/$sent from $LAB_LAN_HOST_a; $(cat "$LAB_TMP/st$$lan.out")"
      failures=$((failures + 1))
    fi
    printf '%-28s %-55s %s\n' "variant same-lan" "a -> b direct: $received/$sent seen from ${mapped%:*}" "$verdict"
    # 30 % loss each way on a's uplink: a round trip survives with p = 0.7^2 = 49 %.
    read -r sent received mapped < <(sed -E 's/.*"sent":([0-9]+),"received":([0-9]+),"mapped":"([^"]*)".*/\1 \2 \3/' "$LAB_TMP/st$$loss.out")
    verdict=PASS
    if [[ "${status[st$$loss]}" != 0 ]] || ((received * 100 < sent * 35 || received * 100 > sent * 63)); then
      verdict="FAIL: expected 35-63 % answered; $(cat "$LAB_TMP/st$$loss.out")"
      failures=$((failures + 1))
    fi
    printf '%-28s %-55s %s\n' "variant loss 30%" "round trips answered: $received/$sent (expected ~49 %)" "$verdict"
  fi
  [[ -z "$diagnostics" ]] || printf '%s' "$diagnostics"
  echo "selftest: $((${#types[@]} + 2 * variants + upnp_checks)) checks, $failures failed, $(($(now_ms) - start)) ms"
  ((failures == 0)) || {
    echo "selftest: FAIL" >&2
    return 1
  }
  echo "selftest: PASS"
}
