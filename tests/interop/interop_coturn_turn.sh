#!/usr/bin/env bash
# natpunch's TURN client (src/relay) against coturn's turnserver as a relay on loopback, with
# coturn's shared-secret auth (the credentials natpunch's server will hand out): allocation,
# permissions, channels, data both ways through the relay, refusal of wrong credentials, and
# deletion. The checks are in the GoogleTest binary turn_interop_test; this script runs coturn.
# Usage: interop_coturn_turn.sh PATH/TO/natpunch PATH/TO/turn_interop_test
TURN_SECRET=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
export TURN_SECRET
source "$(dirname "$0")/lib.sh"
TEST_BIN=${2:?usage: $0 natpunch turn_interop_test}
start_turnserver relay 127.0.0.1
note "coturn relay on 127.0.0.1:$TURN_PORT"
TURN_SERVER="127.0.0.1:$TURN_PORT" "$TEST_BIN" >"$WORK/gtest.out" 2>&1 || { cat "$WORK/gtest.out"; fail "turn_interop_test failed"; }
cat "$WORK/gtest.out"
grep -q '\[  PASSED  \]' "$WORK/gtest.out" || fail "turn_interop_test ran no test"
pass "natpunch TURN client <-> coturn relay"

# natpunch's server offers that relay with every peer-info (--turn, --turn-secret-file); the
# credentials it hands out are rest_credentials() (checked against coturn above, and byte for byte
# in TurnOfferTest). connect reports the offer; usage errors name the problem.
printf '%s\n' "$TURN_SECRET" >"$WORK/turn.secret"
expect_exit() {
  local want=$1 what=$2 rc=0
  shift 2
  OUT=$("$@" 2>&1) || rc=$?
  [[ $rc -eq $want ]] || fail "$what: exit $rc, expected $want: $OUT"
}
expect_exit 2 "--turn without --turn-secret-file" "$NATPUNCH" server --listen 127.0.0.1:0 --turn "127.0.0.1:$TURN_PORT"
expect_exit 2 "--turn-secret-file that does not exist" "$NATPUNCH" server --listen 127.0.0.1:0 \
  --turn "127.0.0.1:$TURN_PORT" --turn-secret-file "$WORK/missing.secret"
[[ "$OUT" == *missing.secret* ]] || fail "the missing secret file is not named: $OUT"

# start_agent ID PORT OPTION…: an agent with home's key on the rendezvous server at 127.0.0.1:PORT,
# logging to $WORK/ID.log; returns once it has registered.
start_agent() {
  local id=$1 port=$2
  shift 2
  spawn "$WORK/$id.log" "$WORK/$id.err" "$NATPUNCH" agent --server "127.0.0.1:$port" --id "$id" --allow-any \
    --key-file "$WORK/home.key" --no-discover --json "$@"
  wait_until 10 grep -q '"event":"registered"' "$WORK/$id.log" || fail "agent $id did not register"
}
start_natpunch_server rdv --listen 127.0.0.1:0 --turn "127.0.0.1:$TURN_PORT" --turn-secret-file "$WORK/turn.secret" \
  --log-level warn
rport=$(listening_port rdv 127.0.0.1)
start_agent home "$rport" --once --run-for 15
OUT=$("$NATPUNCH" connect --server "127.0.0.1:$rport" --id phone --peer home --key-file "$WORK/phone.key" \
  --no-discover --message relay-offer --timeout 10 --json) || fail "connect failed: $OUT"
[[ "$(json_field "$OUT" relay_offered)" == "127.0.0.1:$TURN_PORT" ]] || fail "no relay offered in the peer-info: $OUT"
pass "natpunch server offers the coturn relay 127.0.0.1:$TURN_PORT with the peer-info"

# The relay fallback end to end on loopback: connect --relay-only skips punching, allocates on
# coturn with the offered credentials, and the agent reaches it through the relay; the echo comes
# back inside the same authenticated QUIC session. Usage errors and a server without a relay.
expect_exit 2 "--no-relay with --relay-only" "$NATPUNCH" connect --server "127.0.0.1:$rport" --id phone --peer home \
  --no-relay --relay-only
[[ "$OUT" == *"exclude each other"* ]] || fail "--no-relay --relay-only: unclear error: $OUT"
start_agent home2 "$rport" --once --run-for 20
OUT=$("$NATPUNCH" connect --server "127.0.0.1:$rport" --id phone --peer home2 --key-file "$WORK/phone.key" \
  --no-discover --relay-only --message through-the-relay --timeout 15 --json) || fail "connect --relay-only failed: $OUT"
[[ "$(json_field "$OUT" method)" == relay ]] || fail "connect --relay-only: method is not relay: $OUT"
[[ "$(json_field "$OUT" relay)" == 127.0.0.1:* ]] || fail "connect --relay-only: no relayed address: $OUT"
[[ "$(json_field "$OUT" relay_server)" == "127.0.0.1:$TURN_PORT" ]] || fail "connect --relay-only: wrong relay: $OUT"
[[ "$(json_field "$OUT" reply)" == through-the-relay ]] || fail "connect --relay-only: no echo: $OUT"
[[ "$OUT" == *'"peer_authenticated":true'* ]] || fail "connect --relay-only: session not authenticated: $OUT"
home2_done() { grep -q '"event":"closed"' "$WORK/home2.log"; }
wait_until 10 home2_done || fail "the agent never closed its relayed session"
grep '"event":"connected"' "$WORK/home2.log" | grep -q '"method":"relay"' || fail "the agent did not connect by relay: $(cat "$WORK/home2.log")"
grep -q '"event":"message"' "$WORK/home2.log" || fail "the agent got no message through the relay"
pass "connect --relay-only: QUIC through coturn, echoed, peer authenticated on both sides"

# Numbered DATAGRAMs through the relay (loopback is lossless): every one arrives, exactly once.
start_agent home5 "$rport" --once --run-for 20
OUT=$("$NATPUNCH" connect --server "127.0.0.1:$rport" --id phone --peer home5 --key-file "$WORK/phone.key" \
  --no-discover --relay-only --no-upgrade --hold 3 --datagrams 300 --datagram-interval 5 --timeout 15 --json) ||
  fail "connect --relay-only --datagrams failed: $OUT"
[[ "$(json_field "$OUT" session.datagrams.sent)" == 300 ]] || fail "not all 300 datagrams were sent: $OUT"
home5_done() { grep -q '"event":"closed"' "$WORK/home5.log"; }
wait_until 10 home5_done || fail "the agent never closed the datagram session"
closed=$(grep '"event":"closed"' "$WORK/home5.log")
[[ "$(json_field "$closed" datagrams.received)" == 300 && "$(json_field "$closed" datagrams.duplicates)" == 0 &&
   "$(json_field "$closed" datagrams.missing)" == 0 && "$(json_field "$closed" path_changes)" == 0 ]] ||
  fail "datagrams through the relay: $closed"
pass "300 numbered DATAGRAMs through coturn (--no-upgrade): 300 received, none duplicated, none missing"

# Without --no-upgrade, the relayed session finds the direct path (loopback answers at once) and
# moves there make-before-break while the datagrams flow: still each one exactly once, and the
# agent logs one upgrade. (The lab's upgrade test does it through real NATs: lab_upgrade.)
start_agent home6 "$rport" --once --run-for 20
OUT=$("$NATPUNCH" connect --server "127.0.0.1:$rport" --id phone --peer home6 --key-file "$WORK/phone.key" \
  --no-discover --relay-only --hold 3 --datagrams 400 --datagram-interval 5 --timeout 15 --json) ||
  fail "connect --relay-only (upgrading) failed: $OUT"
[[ "$(json_field "$OUT" method)" == relay && "$(json_field "$OUT" upgrade.method)" == direct ]] ||
  fail "the relayed session did not upgrade: $OUT"
home6_done() { grep -q '"event":"closed"' "$WORK/home6.log"; }
wait_until 10 home6_done || fail "the agent never closed the upgraded session"
closed=$(grep '"event":"closed"' "$WORK/home6.log")
[[ "$(json_field "$closed" datagrams.received)" == 400 && "$(json_field "$closed" datagrams.duplicates)" == 0 &&
   "$(json_field "$closed" datagrams.missing)" == 0 && "$(json_field "$closed" path_changes)" == 1 ]] ||
  fail "datagrams across the upgrade: $closed"
[[ $(grep -c '"event":"upgraded"' "$WORK/home6.log") -eq 1 ]] || fail "the agent did not log exactly one upgrade"
pass "relay -> direct upgrade during 400 numbered DATAGRAMs: all received once, one path change"

start_natpunch_server plain --listen 127.0.0.1:0 --log-level warn
pport=$(listening_port plain 127.0.0.1)
start_agent home3 "$pport" --once --run-for 10
rc=0
OUT=$("$NATPUNCH" connect --server "127.0.0.1:$pport" --id phone --peer home3 --key-file "$WORK/phone.key" \
  --no-discover --relay-only --timeout 5 --json) || rc=$?
[[ $rc -eq 1 && "$(json_field "$OUT" error)" == *"offers no relay"* ]] || fail "--relay-only without a relay: rc $rc: $OUT"
pass "--relay-only against a server without --turn fails with a clear reason"

# An agent with --no-relay refuses the relayed attempt (event refused); the initiator gives up on
# the relay within its --timeout and says why.
start_agent home4 "$rport" --no-relay --run-for 15
rc=0
OUT=$("$NATPUNCH" connect --server "127.0.0.1:$rport" --id phone --peer home4 --key-file "$WORK/phone.key" \
  --no-discover --relay-only --timeout 4 --json) || rc=$?
[[ $rc -eq 1 && "$(json_field "$OUT" error)" == *"never reached our relayed address"* ]] ||
  fail "connect --relay-only to a --no-relay agent: rc $rc: $OUT"
grep -q '"reason":"relayed attempt (--no-relay)"' "$WORK/home4.log" || fail "the --no-relay agent did not refuse: $(cat "$WORK/home4.log")"
pass "agent --no-relay refuses a relayed attempt; the initiator fails within its --timeout"
