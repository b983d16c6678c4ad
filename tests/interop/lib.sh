# Shared helpers for the interop tests (sourced, not run). Loopback only; no fixed ports; every
# process a test starts is stopped by the EXIT trap; waits poll for the event with a deadline.
#
#   source lib.sh "$NATPUNCH"       sets NATPUNCH, WORK (scratch dir), the EXIT trap
#   start_natpunch_server NAME ARGS…  runs `natpunch server ARGS…`, waits for its `listening udp`
#                                   lines; output in $WORK/NAME.out / NAME.err
#   listening_port NAME IP          the port NAME listens on for IP (127.0.0.1 or ::1)
#   start_turnserver NAME IP…       coturn on a free random port (retried on bind failure);
#                                   sets TURN_PORT
#   wait_until SECONDS CMD…         polls CMD every 50 ms until it succeeds or the time is up
#   skip_part WHAT                  says SKIPPED; ./run test counts it in its closing summary
#   fail MSG / pass MSG / note MSG
set -euo pipefail

NATPUNCH=${1:?usage: $0 PATH/TO/natpunch}
[[ -x "$NATPUNCH" ]] || { echo "FAIL: natpunch binary '$NATPUNCH' is not executable" >&2; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/natpunch-interop.XXXXXX")
STARTED_PIDS=()
TEST_NAME=$(basename "$0" .sh)

note() { echo "[$TEST_NAME] $*"; }
pass() { echo "[$TEST_NAME] ok: $*"; }
fail() {
  echo "[$TEST_NAME] FAIL: $*" >&2
  # Show what the started processes said, to make a failure diagnosable from ctest's output.
  for f in "$WORK"/*.out "$WORK"/*.err "$WORK"/*.log; do
    [[ -s "$f" ]] || continue
    echo "---- $(basename "$f") (last 20 lines) ----" >&2
    tail -n 20 "$f" >&2
  done
  exit 1
}

stop_pid() {
  local pid=$1
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  local i
  for ((i = 0; i < 100; i++)); do  # up to 5 s for a clean exit
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local status=$?
  local pid
  for pid in "${STARTED_PIDS[@]}"; do stop_pid "$pid"; done
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Background a process and remember it for the EXIT trap. The pid is in $LAST_PID.
spawn() {
  local out=$1 err=$2
  shift 2
  "$@" >"$out" 2>"$err" &
  LAST_PID=$!
  STARTED_PIDS+=("$LAST_PID")
}

wait_until() {
  local seconds=$1
  shift
  local deadline=$((SECONDS + seconds))
  while ! "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.05
  done
}

alive() { kill -0 "$1" 2>/dev/null; }

# A part of a test that cannot run here is never passed silently: it says SKIPPED, and `./run test`
# (which sets NATPUNCH_SKIPS_FILE) lists and counts it in its closing summary.
skip_part() {
  echo "[$TEST_NAME] SKIPPED: $*"
  if [[ -n "${NATPUNCH_SKIPS_FILE:-}" ]]; then echo "$TEST_NAME: $*" >>"$NATPUNCH_SKIPS_FILE"; fi
}

have_ipv6_loopback() {
  [[ -e /proc/net/if_inet6 ]] && grep -q '^0\{31\}1 ' /proc/net/if_inet6
}

# start_natpunch_server NAME ARGS… : waits for one `listening udp` line per --listen.
start_natpunch_server() {
  local name=$1
  shift
  local listens=0 a
  for a in "$@"; do [[ "$a" == --listen ]] && listens=$((listens + 1)); done
  spawn "$WORK/$name.out" "$WORK/$name.err" "$NATPUNCH" server "$@"
  local pid=$LAST_PID
  eval "${name}_PID=$pid"
  server_ready() {
    alive "$pid" || fail "natpunch server '$name' exited before listening"
    (($(grep -c '^listening udp ' "$WORK/$name.out") >= listens))
  }
  wait_until 10 server_ready || fail "natpunch server '$name' did not print 'listening udp' within 10 s"
}

# listening_port NAME IP: the port of `listening udp IP:PORT` / `listening udp [IP]:PORT`.
listening_port() {
  local name=$1 ip=$2 pattern
  if [[ "$ip" == *:* ]]; then pattern="^listening udp \[$ip\]:\([0-9]\+\)$"; else pattern="^listening udp $ip:\([0-9]\+\)$"; fi
  local port
  port=$(sed -n "s/$pattern/\1/p" "$WORK/$name.out" | head -n1)
  [[ "$port" =~ ^[0-9]+$ ]] && ((port > 0 && port < 65536)) || fail "no 'listening udp $ip:PORT' line from '$name'"
  echo "$port"
}

# A JSON field of a one-line object, via python3 (present on Debian with coturn's dependencies;
# fall back to a regex for flat string/number/bool fields).
json_field() {
  local json=$1 field=$2
  if command -v python3 >/dev/null; then
    python3 -c 'import json,sys
v = json.loads(sys.argv[1])
for k in sys.argv[2].split("."):
    v = v[k]
print(json.dumps(v) if isinstance(v, (dict, list, bool)) or v is None else v)' "$json" "$field" 2>/dev/null
  else
    sed -n "s/.*\"$field\":\"\{0,1\}\([^\",}]*\).*/\1/p" <<<"$json"
  fi
}

# The last `{"stats":…}` line a `natpunch server --stats` printed.
last_stats() { grep '^{"stats":' "$WORK/$1.out" | tail -n1; }

# start_turnserver NAME IP… : coturn's turnserver listening on each IP (UDP only, STUN only, no
# auth, no config file: -n; a TURN relay with shared-secret auth when TURN_SECRET is set), on a
# random free port. coturn does not exit when a bind fails (it
# retries forever), so a failure is read from its log and the next port tried.
start_turnserver() {
  local name=$1
  shift
  command -v turnserver >/dev/null || fail "coturn's turnserver is not installed (scripts/setup installs coturn)"
  local attempt ip port pid
  for ((attempt = 1; attempt <= 10; attempt++)); do
    # An even port in 20000-59998: coturn's RFC 5780 alternate listener takes port+1.
    port=$((20000 + (RANDOM % 20000) * 2))
    # TURN_SECRET set: a relay with coturn's shared-secret auth (TURN REST API) that may relay to
    # loopback peers; otherwise STUN only, no auth.
    local mode=(--stun-only --no-auth)
    if [[ -n "${TURN_SECRET:-}" ]]; then
      mode=(--use-auth-secret --static-auth-secret="$TURN_SECRET" --realm=natpunch.test --allow-loopback-peers
            --min-port=49152 --max-port=65535 --relay-ip=127.0.0.1 --no-multicast-peers)
    fi
    local args=(-n --no-tls --no-dtls --no-tcp --no-cli "${mode[@]}"
                --listening-port="$port" --log-file=stdout --simple-log
                --pidfile="$WORK/$name.pid" --db="$WORK/$name.sqlite")
    for ip in "$@"; do args+=(--listening-ip="$ip"); done
    spawn "$WORK/$name.log" "$WORK/$name.err" turnserver "${args[@]}"
    pid=$LAST_PID
    # 0 bound, 1 not yet, 2 gave up on this port (exited or a bind error in its log).
    turn_state() {
      alive "$pid" || return 2
      grep -q -i -E 'cannot bind|address already in use' "$WORK/$name.log" && return 2
      # Bound when turnserver (this pid) owns a UDP socket on the port for every IP.
      local have
      have=$(ss -Huanp "sport = :$port" 2>/dev/null | grep -c "pid=$pid," || true)
      ((have >= $#)) && return 0
      return 1
    }
    local deadline=$((SECONDS + 10)) state
    while true; do
      state=0
      turn_state "$@" || state=$?
      ((state == 1 && SECONDS < deadline)) || break
      sleep 0.05
    done
    if ((state == 0)); then
      TURN_PORT=$port
      eval "${name}_PID=$pid"
      return 0
    fi
    note "turnserver could not bind port $port (attempt $attempt), retrying on another port"
    stop_pid "$pid"
  done
  fail "turnserver did not start on any of 10 random ports"
}
