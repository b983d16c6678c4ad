#!/usr/bin/env bash
# The io layer's RelayPath (src/io/relay_path.h) against coturn's turnserver on loopback: a QUIC
# session through a TURN allocation to a server on a plain socket (message echo, a DATAGRAM burst),
# a peer from an unannounced port of a permitted IP, wrong credentials, an unreachable and a silent
# server. coturn runs in shared-secret mode with --allow-loopback-peers (lib.sh start_turnserver),
# so every packet stays on 127.0.0.1. The checks are in the GoogleTest binary relay_path_interop_test.
# Usage: interop_coturn_relay_path.sh PATH/TO/natpunch PATH/TO/relay_path_interop_test [GTEST ARGS…]
TURN_SECRET=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
export TURN_SECRET
source "$(dirname "$0")/lib.sh"
TEST_BIN=${2:?usage: $0 natpunch relay_path_interop_test}
start_turnserver relay 127.0.0.1
note "coturn relay on 127.0.0.1:$TURN_PORT"
TURN_SERVER="127.0.0.1:$TURN_PORT" "$TEST_BIN" "${@:3}" >"$WORK/gtest.out" 2>&1 || { cat "$WORK/gtest.out"; fail "relay_path_interop_test failed"; }
cat "$WORK/gtest.out"
grep -q '\[  PASSED  \]' "$WORK/gtest.out" || fail "relay_path_interop_test ran no test"
pass "QUIC over natpunch's RelayPath <-> coturn relay"
