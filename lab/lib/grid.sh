# shellcheck shell=bash
# `lab grid`: runs a server command in the internet namespace and a command on each host, for every
# pair of NAT types, and prints one row per pair. A cell passes when both host commands exit 0.

grid_usage() {
  cat <<'EOF'
usage: lab grid --server CMD --a CMD --b CMD [options]
  CMD is a bash command line; it runs inside the node's namespace with the LAB_* environment
  (docs/lab.md): LAB_SERVER_IP1, LAB_SERVER_IP2, LAB_SERVER_PORT, LAB_TYPE, LAB_ADDR, LAB_WAN_IP,
  LAB_PEER_TYPE, LAB_PEER_ADDR, LAB_PEER_WAN_IP, LAB_SIDE, LAB_CELL_ID, LAB_CELL_DIR, ...
options:
  --types T1,T2,...    NAT types for both sides (default: all; short aliases accepted)
  --types-a LIST       types for side a (default: --types)
  --types-b LIST       types for side b (default: --types)
  --ordered            every ordered pair (default: each unordered pair once when the lists are equal)
  --same-lan           both hosts behind one router of side a's type (one cell per type)
  --loss PCT           random loss on each router's uplink
  --jobs N             cells run at once (default 4)
  --timeout SEC        limit for each host command (default 30)
  --server-ready RE    the server is ready once its stdout matches RE (default: listening)
  --server-ready-count N   ... in N lines (default 1)
  --server-wait SEC    how long to wait for that (default 10)
  --show F1,F2         JSON fields of each side's last JSON line to show (default: the whole line)
  --results FILE       also write one tab-separated line per cell: type_a type_b rc_a rc_b json_a json_b
  --keep-logs DIR      copy every cell's stdout/stderr files to DIR
Exit status: 0 when every cell passed.
EOF
  exit 2
}

grid_cleanup() {
  local pid name
  for pid in $(jobs -p); do kill -TERM "$pid" 2>/dev/null || true; done
  for name in "${GRID_TOPOLOGIES[@]}"; do topology_down "$name" 2>/dev/null || true; done
  [[ -n "${LAB_TMP:-}" && -d "$LAB_TMP" ]] && rm -rf "$LAB_TMP"
  return 0
}

# The last line of FILE that looks like a JSON object.
last_json_line() { grep -E '^[[:space:]]*\{' "$1" 2>/dev/null | tail -n 1 || true; }

# json_field LINE FIELD: a top-level string/number/bool field of a one-line JSON object (no jq needed).
json_field() {
  local v
  v=$(sed -nE "s/.*\"$2\":(\"([^\"]*)\"|([-0-9.eE+]+|true|false|null)).*/\2\3/p" <<<"$1")
  echo "${v:--}"
}

# grid_cell NAME TYPE_A TYPE_B DIR: one cell, from bring-up to teardown. Writes DIR/result.
grid_cell() {
  local name=$1 type_a=$2 type_b=$3 dir=$4
  mkdir -p "$dir"
  echo "error" >"$dir/status"
  topology_up "$name" "$type_a" "$type_b" "$GRID_SAME_LAN" "$GRID_LOSS" "$GRID_LOSS" "$GRID_OWNER"
  local -a cell_env=("LAB_CELL_ID=$name" "LAB_CELL_DIR=$dir" "LAB_SERVER_PORT=3478")
  local -a env_inet env_a env_b
  mapfile -t env_inet < <(topology_env "$name" inet)
  mapfile -t env_a < <(topology_env "$name" a)
  mapfile -t env_b < <(topology_env "$name" b)
  ip netns exec "$(ns_name "$name" inet)" env "${env_inet[@]}" "${cell_env[@]}" bash -c "$GRID_SERVER_CMD" \
    >"$dir/server.out" 2>"$dir/server.err" &
  if ! wait_for_line "$dir/server.out" "$GRID_SERVER_READY" "$GRID_SERVER_WAIT" "$GRID_SERVER_READY_COUNT"; then
    echo "server-not-ready" >"$dir/status"
    topology_down "$name"
    return 0
  fi
  ip netns exec "$(ns_name "$name" a)" env "${env_a[@]}" "${cell_env[@]}" \
    timeout -k 2 "$GRID_TIMEOUT" bash -c "$GRID_A_CMD" >"$dir/a.out" 2>"$dir/a.err" &
  local pid_a=$!
  ip netns exec "$(ns_name "$name" b)" env "${env_b[@]}" "${cell_env[@]}" \
    timeout -k 2 "$GRID_TIMEOUT" bash -c "$GRID_B_CMD" >"$dir/b.out" 2>"$dir/b.err" &
  local pid_b=$! rc_a=0 rc_b=0
  wait_pid_timeout "$pid_a" $((GRID_TIMEOUT + 5)) || rc_a=$?
  wait_pid_timeout "$pid_b" $((GRID_TIMEOUT + 5)) || rc_b=$?
  echo "$rc_a $rc_b" >"$dir/rc"
  topology_down "$name"
  echo "done" >"$dir/status"
}

grid_side_text() {
  local rc=$1 out=$2 line f text=""
  line=$(last_json_line "$out")
  if [[ -n "$GRID_SHOW" ]]; then
    for f in ${GRID_SHOW//,/ }; do text+="${text:+ }$f=$(json_field "$line" "$f")"; done
  else
    [[ -n "$line" ]] || line=$(grep -v '^[[:space:]]*$' "$out" 2>/dev/null | tail -n 1 || true)
    text=${line:-(no output)}
  fi
  local state=ok
  [[ "$rc" == 0 ]] || state="rc=$rc"
  [[ "$rc" == 124 ]] && state=timeout
  printf '%s %s' "$state" "$text"
}

grid_main() {
  GRID_SERVER_CMD="" GRID_A_CMD="" GRID_B_CMD="" GRID_SHOW="" GRID_SAME_LAN=0 GRID_LOSS=0
  GRID_TIMEOUT=30 GRID_SERVER_READY=listening GRID_SERVER_WAIT=10 GRID_OWNER=$$ GRID_SERVER_READY_COUNT=1
  local types_all="" types_a="" types_b="" ordered=0 jobs=4 results="" keep_logs=""
  while (($#)); do
    case "$1" in
      --server) GRID_SERVER_CMD=${2:?}; shift 2 ;;
      --a) GRID_A_CMD=${2:?}; shift 2 ;;
      --b) GRID_B_CMD=${2:?}; shift 2 ;;
      --types) types_all=${2:?}; shift 2 ;;
      --types-a) types_a=${2:?}; shift 2 ;;
      --types-b) types_b=${2:?}; shift 2 ;;
      --ordered) ordered=1; shift ;;
      --same-lan) GRID_SAME_LAN=1; shift ;;
      --loss) GRID_LOSS=${2:?}; shift 2 ;;
      --jobs) jobs=${2:?}; shift 2 ;;
      --timeout) GRID_TIMEOUT=${2:?}; shift 2 ;;
      --server-ready) GRID_SERVER_READY=${2:?}; shift 2 ;;
      --server-wait) GRID_SERVER_WAIT=${2:?}; shift 2 ;;
      --server-ready-count) GRID_SERVER_READY_COUNT=${2:?}; shift 2 ;;
      --show) GRID_SHOW=${2:?}; shift 2 ;;
      --results) results=${2:?}; shift 2 ;;
      --keep-logs) keep_logs=${2:?}; shift 2 ;;
      *) grid_usage ;;
    esac
  done
  [[ -n "$GRID_SERVER_CMD" && -n "$GRID_A_CMD" && -n "$GRID_B_CMD" ]] || grid_usage
  [[ "$jobs" =~ ^[1-9][0-9]*$ && "$GRID_TIMEOUT" =~ ^[1-9][0-9]*$ && "$GRID_SERVER_WAIT" =~ ^[1-9][0-9]*$ ]] ||
    die "grid: --jobs, --timeout and --server-wait take positive integers"
  [[ "$GRID_LOSS" =~ ^[0-9]+$ ]] && ((GRID_LOSS <= 100)) || die "grid: --loss must be 0..100"

  local -a list_a list_b all
  all=("${LAB_NAT_TYPES[@]}")
  [[ -z "$types_all" ]] || IFS=, read -r -a all <<<"$types_all"
  list_a=("${all[@]}") list_b=("${all[@]}")
  [[ -z "$types_a" ]] || IFS=, read -r -a list_a <<<"$types_a"
  [[ -z "$types_b" ]] || IFS=, read -r -a list_b <<<"$types_b"
  local i j
  for i in "${!list_a[@]}"; do list_a[$i]=$(canonical_type "${list_a[$i]}"); done
  for i in "${!list_b[@]}"; do list_b[$i]=$(canonical_type "${list_b[$i]}"); done

  # The cells: unordered pairs when both sides take the same list (unless --ordered).
  local -a cell_a=() cell_b=()
  local same_lists=0
  [[ "${list_a[*]}" == "${list_b[*]}" ]] && same_lists=1
  for i in "${!list_a[@]}"; do
    if ((GRID_SAME_LAN)); then
      [[ "${list_a[$i]}" == open ]] && continue
      cell_a+=("${list_a[$i]}") cell_b+=("${list_a[$i]}")
      continue
    fi
    for j in "${!list_b[@]}"; do
      ((same_lists && !ordered && j < i)) && continue
      cell_a+=("${list_a[$i]}") cell_b+=("${list_b[$j]}")
    done
  done

  require_lab_support
  local start
  start=$(now_ms)
  GRID_TOPOLOGIES=()
  LAB_TMP=$(make_lab_tmp)
  trap grid_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  topology_cleanup

  local name
  for i in "${!cell_a[@]}"; do
    name="g$$c$i"
    GRID_TOPOLOGIES+=("$name")
    while (($(jobs -pr | wc -l) >= jobs)); do sleep 0.05; done # cells are bounded by their own timeouts
    (grid_cell "$name" "${cell_a[$i]}" "${cell_b[$i]}" "$LAB_TMP/$name") >"$LAB_TMP/$name.log" 2>&1 &
  done
  # Each cell is bounded by its own timeouts; this is the backstop.
  local deadline=$(($(now_ms) + (GRID_TIMEOUT + GRID_SERVER_WAIT + 20) * 1000))
  while [[ -n "$(jobs -pr)" ]] && (($(now_ms) < deadline)); do sleep 0.05; done
  [[ -z "$(jobs -pr)" ]] || note "grid: cells still running at the deadline; stopping them"

  local failures=0 rc_a rc_b status text_a text_b dir line_a line_b verdict
  [[ -z "$results" ]] || : >"$results"
  printf '%-28s %-28s %-6s %s\n' "a type" "b type" result "a: exit, output | b: exit, output"
  for i in "${!cell_a[@]}"; do
    name="g$$c$i" dir="$LAB_TMP/g$$c$i"
    status=$(cat "$dir/status" 2>/dev/null || echo error)
    rc_a=-1 rc_b=-1
    [[ -f "$dir/rc" ]] && read -r rc_a rc_b <"$dir/rc"
    verdict=ok
    if [[ "$status" != "done" ]]; then
      verdict=FAIL text_b=""
      text_a="cell $status: $(tail -q -n 3 "$LAB_TMP/$name.log" "$dir/server.out" "$dir/server.err" 2>/dev/null | tr '\n' ' ')"
    else
      [[ "$rc_a" == 0 && "$rc_b" == 0 ]] || verdict=FAIL
      text_a=$(grid_side_text "$rc_a" "$dir/a.out") text_b=$(grid_side_text "$rc_b" "$dir/b.out")
    fi
    [[ "$verdict" == ok ]] || failures=$((failures + 1))
    printf '%-28s %-28s %-6s %s | %s\n' "${cell_a[$i]}" "${cell_b[$i]}" "$verdict" "$text_a" "$text_b"
    if [[ "$verdict" != ok && "$status" == "done" ]]; then
      [[ "$rc_a" == 0 ]] || sed 's/^/    a stderr: /' "$dir/a.err" | tail -n 5
      [[ "$rc_b" == 0 ]] || sed 's/^/    b stderr: /' "$dir/b.err" | tail -n 5
    fi
    if [[ -n "$results" ]]; then
      line_a=$(last_json_line "$dir/a.out") line_b=$(last_json_line "$dir/b.out")
      printf '%s\t%s\t%s\t%s\t%s\t%s\n' "${cell_a[$i]}" "${cell_b[$i]}" "$rc_a" "$rc_b" "$line_a" "$line_b" >>"$results"
    fi
    if [[ -n "$keep_logs" ]]; then
      mkdir -p "$keep_logs/${cell_a[$i]}__${cell_b[$i]}"
      cp "$dir"/*.out "$dir"/*.err "$keep_logs/${cell_a[$i]}__${cell_b[$i]}/" 2>/dev/null || true
    fi
  done
  echo "grid: ${#cell_a[@]} cells, $failures failed, $(($(now_ms) - start)) ms"
  ((failures == 0))
}
