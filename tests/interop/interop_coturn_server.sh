#!/usr/bin/env bash
# `natpunch stun` against coturn's turnserver on loopback: the answer must say ok and report a
# mapped address equal to the local address (loopback has no NAT), over IPv4 and, when the host
# has an IPv6 loopback, over [::1]. turnserver runs with -n (never reads /etc/turnserver.conf),
# STUN only, no auth, UDP only, on a random free port.
# Usage: interop_coturn_server.sh PATH/TO/natpunch
source "$(dirname "$0")/lib.sh"

ips=(127.0.0.1)
if have_ipv6_loopback; then ips+=(::1); else skip_part "natpunch stun against coturn over IPv6 (no ::1 loopback on this host)"; fi
start_turnserver turn "${ips[@]}"
note "turnserver listening on port $TURN_PORT (${ips[*]})"

# stun_query HOSTPORT: one `natpunch stun --json`; sets STUN_JSON.
stun_query() {
  local server=$1 rc=0
  STUN_JSON=$("$NATPUNCH" stun --server "$server" --json --timeout 2 2>"$WORK/stun.err") || rc=$?
  return "$rc"
}

for ip in "${ips[@]}"; do
  if [[ "$ip" == *:* ]]; then server="[$ip]:$TURN_PORT"; else server="$ip:$TURN_PORT"; fi
  # turnserver owns the socket already; its first answer may still race its worker threads'
  # start, so retry within a deadline rather than sleeping.
  wait_until 10 stun_query "$server" || fail "natpunch stun --server $server got no answer: $STUN_JSON $(cat "$WORK/stun.err")"
  [[ "$(json_field "$STUN_JSON" ok)" == true ]] || fail "natpunch stun --server $server: ok is not true: $STUN_JSON"
  mapped=$(json_field "$STUN_JSON" mapped)
  local_addr=$(json_field "$STUN_JSON" local)
  [[ -n "$mapped" && "$mapped" == "$local_addr" ]] || fail "mapped '$mapped' != local '$local_addr' on loopback: $STUN_JSON"
  if [[ "$ip" == *:* ]]; then want_prefix="[$ip]:"; else want_prefix="$ip:"; fi
  [[ "$mapped" == "$want_prefix"* ]] || fail "mapped '$mapped' is not on $ip"
  [[ "$(json_field "$STUN_JSON" server)" == "$server" ]] || fail "server field is not $server: $STUN_JSON"
  pass "natpunch stun -> coturn $server: mapped $mapped == local"
done
