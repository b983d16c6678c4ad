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
start_natpunch_server rdv --listen 127.0.0.1:0 --turn "127.0.0.1:$TURN_PORT" --turn-secret-file "$WORK/turn.secret" \
  --log-level warn
rport=$(listening_port rdv 127.0.0.1)
spawn "$WORK/home.log" "$WORK/home.err" "$NATPUNCH" agent --server "127.0.0.1:$rport" --id home --allow-any \
  --key-file "$WORK/home.key" --no-discover --once --run-for 15 --json
home_registered() { grep -q '"event":"registered"' "$WORK/home.log"; }
wait_until 10 home_registered || fail "the agent did not register"
OUT=$("$NATPUNCH" connect --server "127.0.0.1:$rport" --id phone --peer home --key-file "$WORK/phone.key" \
  --no-discover --message relay-offer --timeout 10 --json) || fail "connect failed: $OUT"
[[ "$(json_field "$OUT" relay_offered)" == "127.0.0.1:$TURN_PORT" ]] || fail "no relay offered in the peer-info: $OUT"
pass "natpunch server offers the coturn relay 127.0.0.1:$TURN_PORT with the peer-info"
