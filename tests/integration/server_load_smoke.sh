#!/usr/bin/env bash
# The short version of `./run bench`'s server load (issue 6): `natpunch server` with its default
# limits (only --ttl 600, because the load tool's devices do not refresh their registrations)
# takes 10 000 devices registering from 500 loopback source IPs (127.1.x.y, 20 devices per IP, each
# IP under the default 20 registrations/s), then 200 NP-CONNECT requests/s for 5 s between them.
# Behaviour only, never timing: no registration lost (every connect finds its peer, the registry
# holds every device), every connect answered and its peer-info indication delivered, nothing
# dropped by the limits, the server alive at the end. Memory figures are printed, not asserted.
# Usage: server_load_smoke.sh PATH/TO/natpunch PATH/TO/natpunch-bench-load
source "$(dirname "$0")/../interop/lib.sh"
LOAD=${2:?usage: $0 PATH/TO/natpunch PATH/TO/natpunch-bench-load}
devices=10000

start_natpunch_server np --listen 127.0.0.1:0 --ttl 600 --stats --stats-interval 0.5 --log-level warn
port=$(listening_port np 127.0.0.1)
rc=0
out=$("$LOAD" --target "127.0.0.1:$port" --kind devices --devices $devices --source-ips 500 --connect-rate 200 \
  --duration 5 --warmup 1 --server-pid "$np_PID" --json 2>"$WORK/load.err") || rc=$?
echo "$out" >"$WORK/load.log"
[[ -n "$out" ]] || fail "the load tool printed nothing (exit $rc): $(cat "$WORK/load.err")"
note "load: $out"

f() { json_field "$out" "$1"; }
(($(f register.registered) == devices)) || fail "registered $(f register.registered) of $devices devices"
(($(f connect.lost_registrations) == 0)) || fail "$(f connect.lost_registrations) connects did not find a registration"
(($(f connect.unanswered) == 0)) || fail "$(f connect.unanswered) connect requests unanswered"
(($(f connect.answered_ok) == $(f connect.requests))) || fail "$(f connect.answered_ok) of $(f connect.requests) connects succeeded"
(($(f connect.indications_received) == $(f connect.answered_ok))) ||
  fail "peer-info indications: $(f connect.indications_received) of $(f connect.answered_ok)"
[[ "$(f server_alive)" == true ]] || fail "the server did not answer a Binding at the end"
((rc == 0)) || fail "the load tool exited $rc"
alive "$np_PID" || fail "the server died"
pass "$devices devices registered, $(f connect.requests) connects answered, $(f connect.indications_received) indications delivered"

# The server's own counters agree: every device in the registry, nothing dropped by a limit.
settled() {
  local j
  j=$(last_stats np)
  [[ -n "$j" ]] && (($(json_field "$j" registrations) == devices)) &&
    (($(json_field "$j" stats.requests.connect) + $(json_field "$j" stats.requests.duplicate) >= $(f connect.requests)))
}
wait_until 5 settled || fail "server --stats does not show $devices registrations and every connect: $(last_stats np)"
stats=$(last_stats np)
s() { json_field "$stats" "stats.$1"; }
(($(s registrations.created) == devices)) || fail "registrations created: $(s registrations.created)"
(($(s registrations.expired) == 0)) || fail "registrations expired: $(s registrations.expired)"
drops=$(($(s rate_limited.total) + $(s limits.amplification_refused) + $(s limits.indications_refused) + $(s send_errors)))
((drops == 0)) || fail "the limits dropped $drops requests or replies in a within-limits load: $stats"
(($(f connect.requests) - $(f connect.answered_ok) == drops)) || fail "answers != requests - counted drops"
pass "server: $(json_field "$stats" registrations) registrations, rate_limited 0, amplification_refused 0, indications_refused 0"
note "server RSS (kB): $(json_field "$out" memory_kb.after_registration) registered, $(json_field "$out" memory_kb.after_warmup) after warm-up, $(json_field "$out" memory_kb.end) at the end"
