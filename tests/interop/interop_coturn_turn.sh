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
