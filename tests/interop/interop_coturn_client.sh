#!/usr/bin/env bash
# coturn's STUN client (turnutils_stunclient) against `natpunch server` on loopback: it must
# report the reflexive address it was seen from, 127.0.0.1:<its port> (and [::1] over IPv6).
# Then coturn's forced RFC 5780 mode (-f, which sends CHANGE-REQUEST): without an alternate
# address the server answers CHANGE-REQUEST with 420; with --alternate coturn's run completes.
# turnutils_stunclient sends bare 20-byte Binding requests (no PADDING), and the smallest answer
# (XOR-MAPPED-ADDRESS alone) is 32 bytes: natpunch's default amplification limit (1.0 toward a
# source that has not proven its address) answers it with nothing, which this test checks first
# (counted under limits.amplification_refused). The interop runs then use the operator's
# --amplification-limit 4 (RFC 5780's answer to a 20-byte request is 64 bytes: ×3.2) so coturn's
# client can be served at all; the default stays 1.0 everywhere else.
# Usage: interop_coturn_client.sh PATH/TO/natpunch
source "$(dirname "$0")/lib.sh"

command -v turnutils_stunclient >/dev/null || fail "coturn's turnutils_stunclient is not installed"

# The default: no answer larger than the request, so nothing for a bare 20-byte request.
start_natpunch_server strict --listen 127.0.0.1:0 --stats --stats-interval 0.2 --log-level warn
rc=0
out=$(timeout 3 turnutils_stunclient -p "$(listening_port strict 127.0.0.1)" 127.0.0.1 2>&1) || rc=$?
grep -q 'UDP reflexive addr' <<<"$out" && fail "a bare 20-byte request was answered by default (amplification > 1): $out"
refused() { (($(json_field "$(last_stats strict)" stats.limits.amplification_refused || echo 0) >= 1)); }
wait_until 5 refused || fail "the refused answer was not counted: $(last_stats strict)"
pass "default --amplification-limit 1.0: coturn's bare request unanswered, counted ($(json_field "$(last_stats strict)" stats.limits.amplification_refused))"
stop_pid "$strict_PID"

listen=(--listen 127.0.0.1:0)
if have_ipv6_loopback; then listen+=(--listen '[::1]:0'); fi
start_natpunch_server np "${listen[@]}" --amplification-limit 4 --stats --stats-interval 0.2 --log-level warn

# check_reflexive IP PORT: one turnutils_stunclient run; its "UDP reflexive addr" must be IP:P,
# P a valid port. coturn prints IPv6 without brackets (::1:PORT).
check_reflexive() {
  local ip=$1 port=$2 out rc=0
  out=$(timeout 10 turnutils_stunclient -p "$port" "$ip" 2>&1) || rc=$?
  ((rc == 0)) || fail "turnutils_stunclient -p $port $ip exited $rc: $out"
  local addr
  addr=$(sed -n 's/.*UDP reflexive addr: *\(.*\)$/\1/p' <<<"$out" | head -n1)
  [[ -n "$addr" ]] || fail "turnutils_stunclient printed no reflexive address: $out"
  local got_ip=${addr%:*} got_port=${addr##*:}
  [[ "$got_ip" == "$ip" ]] || fail "reflexive address $addr: expected IP $ip"
  [[ "$got_port" =~ ^[0-9]+$ ]] && ((got_port > 0 && got_port < 65536)) || fail "reflexive address $addr: bad port"
  ((got_port != port)) || fail "reflexive port $got_port is the server's own port"
  pass "turnutils_stunclient -> natpunch server [$ip]:$port: reflexive addr $addr"
}

port4=$(listening_port np 127.0.0.1)
check_reflexive 127.0.0.1 "$port4"
if have_ipv6_loopback; then
  port6=$(listening_port np ::1)
  check_reflexive ::1 "$port6"
else
  skip_part "turnutils_stunclient over IPv6 (no ::1 loopback on this host)"
fi

# The server counted those Binding requests (one per run: without OTHER-ADDRESS in the answer
# coturn's default mode sends no CHANGE-REQUEST, it prints the one answer twice).
want=1
have_ipv6_loopback && want=2
binding_count() {
  local j
  j=$(last_stats np) || return 1
  [[ -n "$j" ]] || return 1
  local n
  n=$(json_field "$j" stats.requests.binding) || return 1
  ((n >= want))
}
wait_until 5 binding_count || fail "server --stats did not count $want binding requests: $(last_stats np)"
pass "server counted the Binding requests: $(json_field "$(last_stats np)" stats.requests.binding)"

# RFC 5780 (-f): coturn's client sends CHANGE-REQUEST after a first plain request.
# Without an alternate address the server must refuse CHANGE-REQUEST with 420 (RFC 5780 §6.1).
# coturn's client ignores that error and waits on (it has no timeout of its own): stop it at 2 s.
rc=0
out=$(timeout 2 turnutils_stunclient -f -p "$port4" 127.0.0.1 2>&1) || rc=$?
grep -q 'UDP reflexive addr: 127.0.0.1:' <<<"$out" || fail "turnutils_stunclient -f: no reflexive address: $out"
refused_420() {
  local j
  j=$(last_stats np)
  [[ -n "$j" ]] && (($(json_field "$j" stats.responses.420 || echo 0) >= 1))
}
wait_until 5 refused_420 || fail "CHANGE-REQUEST without --alternate was not answered 420: $(last_stats np)"
alive "$np_PID" || fail "natpunch server died during turnutils_stunclient -f"
pass "CHANGE-REQUEST without an alternate address: 420 (coturn's client then waits; stopped, exit $rc)"

# With an alternate address coturn's whole RFC 5780 run completes.
start_natpunch_server np5780 --listen 127.0.0.1:0 --alternate 127.0.0.2:0 --amplification-limit 4 --log-level warn
p=$(listening_port np5780 127.0.0.1)
rc=0
out=$(timeout 10 turnutils_stunclient -f -p "$p" 127.0.0.1 2>&1) || rc=$?
((rc == 0)) || fail "turnutils_stunclient -f against a server with --alternate exited $rc: $out"
grep -q 'UDP reflexive addr: 127.0.0.1:' <<<"$out" || fail "turnutils_stunclient -f: no reflexive address: $out"
pass "turnutils_stunclient -f (RFC 5780) against natpunch server --alternate completes"
