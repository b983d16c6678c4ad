#!/usr/bin/env bash
# The natpunch CLI contract that scripts depend on, on loopback:
#   stun --json fields and values; register --json (ok, mapped, ttl_s; MAC IDs normalised);
#   exit 1 on timeout, 2 on usage errors; every subcommand's --help exits 0 with an example;
#   server --stats JSON counters show dropped garbage by reason, and the server still answers.
# Usage: interop_cli.sh PATH/TO/natpunch
source "$(dirname "$0")/lib.sh"

# expect_exit CODE DESCRIPTION CMD… : runs CMD (output kept in $OUT) and checks its exit status.
expect_exit() {
  local want=$1 what=$2 rc=0
  shift 2
  OUT=$("$@" 2>&1) || rc=$?
  ((rc == want)) || fail "$what: exit $rc, expected $want (${*}): $OUT"
  pass "$what: exit $want"
}

listen=(--listen 127.0.0.1:0)
if have_ipv6_loopback; then listen+=(--listen '[::1]:0'); fi
start_natpunch_server np "${listen[@]}" --stats --stats-interval 0.2 --log-level warn
port=$(listening_port np 127.0.0.1)
server=127.0.0.1:$port

# --- stun --json: every field, mapped == local on loopback.
expect_exit 0 "stun --json" "$NATPUNCH" stun --server "$server" --json --timeout 5
json=$OUT
for f in ok local mapped rtt_ms sends server; do
  [[ -n "$(json_field "$json" "$f")" ]] || fail "stun --json lacks '$f': $json"
done
[[ "$(json_field "$json" ok)" == true ]] || fail "stun --json: ok is not true: $json"
[[ "$(json_field "$json" mapped)" == "$(json_field "$json" local)" ]] || fail "stun --json: mapped != local: $json"
[[ "$(json_field "$json" mapped)" == 127.0.0.1:* ]] || fail "stun --json: mapped not on 127.0.0.1: $json"
[[ "$(json_field "$json" server)" == "$server" ]] || fail "stun --json: server is not $server: $json"
(($(json_field "$json" sends) >= 1)) || fail "stun --json: sends < 1: $json"
pass "stun --json fields: $json"

expect_exit 0 "stun (text)" "$NATPUNCH" stun --server "$server" --timeout 5
grep -q 'mapped address 127.0.0.1:' <<<"$OUT" || fail "stun text output lacks 'mapped address': $OUT"

if have_ipv6_loopback; then
  server6="[::1]:$(listening_port np ::1)"
  expect_exit 0 "stun --json over IPv6" "$NATPUNCH" stun --server "$server6" --json --timeout 5
  [[ "$(json_field "$OUT" mapped)" == "[::1]:"* ]] || fail "stun over IPv6: mapped not [::1]: $OUT"
  [[ "$(json_field "$OUT" mapped)" == "$(json_field "$OUT" local)" ]] || fail "stun over IPv6: mapped != local: $OUT"
else
  skip_part "stun --json over IPv6 (no ::1 loopback on this host)"
fi

# --- register --json.
expect_exit 0 "register --json" "$NATPUNCH" register --server "$server" --id alice --json --timeout 5
json=$OUT
[[ "$(json_field "$json" ok)" == true ]] || fail "register --json: ok is not true: $json"
[[ "$(json_field "$json" mapped)" == 127.0.0.1:* ]] || fail "register --json: mapped not on 127.0.0.1: $json"
ttl=$(json_field "$json" ttl_s)
[[ "$ttl" =~ ^[0-9]+$ ]] && ((ttl >= 1 && ttl <= 60)) || fail "register --json: ttl_s '$ttl' not in 1..60 (server default 60): $json"
[[ "$(json_field "$json" id)" == alice && "$(json_field "$json" kind)" == user-name ]] || fail "register --json: id/kind: $json"
pass "register --json: $json"

expect_exit 0 "register --id-kind mac" \
  "$NATPUNCH" register --server "$server" --id 00-11-22-AA-BB-CC --id-kind mac --json --timeout 5
[[ "$(json_field "$OUT" id)" == 00:11:22:aa:bb:cc ]] || fail "MAC ID not normalised to 00:11:22:aa:bb:cc: $OUT"

expect_exit 0 "register --ttl 5" "$NATPUNCH" register --server "$server" --id bob --ttl 5 --json --timeout 5
[[ "$(json_field "$OUT" ttl_s)" == 5 ]] || fail "register --ttl 5: granted ttl_s is not 5: $OUT"

# --- exit 1 on timeout: a port where nothing listens (a server's port 0 pick, after it stopped).
start_natpunch_server gone --listen 127.0.0.1:0 --log-level warn
dead_port=$(listening_port gone 127.0.0.1)
stop_pid "$gone_PID"
start=$SECONDS
expect_exit 1 "stun --timeout 1 against a silent port" "$NATPUNCH" stun --server "127.0.0.1:$dead_port" --timeout 1 --json
[[ "$(json_field "$OUT" ok)" == false ]] || fail "stun timeout --json: ok is not false: $OUT"
expect_exit 1 "register --timeout 1 against a silent port" \
  "$NATPUNCH" register --server "127.0.0.1:$dead_port" --id alice --timeout 1
# Each --timeout 1 must be honoured: the bound leaves room for a loaded machine, far below a hang.
((SECONDS - start <= 10)) || fail "two --timeout 1 runs took $((SECONDS - start)) s"

# --- exit 2 on usage errors.
expect_exit 2 "stun without --server" "$NATPUNCH" stun
expect_exit 2 "stun --server without a port" "$NATPUNCH" stun --server 127.0.0.1 --timeout 1
expect_exit 2 "register --bind IPv4 toward an IPv6-only server" "$NATPUNCH" register --server "[::1]:3478" --id alice --bind 127.0.0.1:0 --timeout 1
[[ "$OUT" == *"no IPv4 address"* ]] || fail "--bind of another family than --server: unclear error: $OUT"
expect_exit 2 "register without --server" "$NATPUNCH" register --id alice
expect_exit 2 "register without --id" "$NATPUNCH" register --server "$server"
expect_exit 2 "register --id ''" "$NATPUNCH" register --server "$server" --id ''
expect_exit 2 "register --id with a control character" "$NATPUNCH" register --server "$server" --id $'a\tb'
expect_exit 2 "register --id of 129 bytes" "$NATPUNCH" register --server "$server" --id "$(printf 'x%.0s' {1..129})"
expect_exit 2 "register bad MAC" "$NATPUNCH" register --server "$server" --id 00:11:22:33:44:zz --id-kind mac
expect_exit 2 "register short MAC" "$NATPUNCH" register --server "$server" --id 00:11:22:33:44 --id-kind mac
expect_exit 2 "register unknown --id-kind" "$NATPUNCH" register --server "$server" --id alice --id-kind phone
expect_exit 2 "server --listen garbage" "$NATPUNCH" server --listen not-an-address
expect_exit 2 "server --ttl 0" "$NATPUNCH" server --listen 127.0.0.1:0 --ttl 0
expect_exit 2 "no subcommand" "$NATPUNCH"
expect_exit 2 "unknown subcommand" "$NATPUNCH" frobnicate

# --- --help: exit 0 and an example, for the program and every subcommand.
expect_exit 0 "natpunch --help" "$NATPUNCH" --help
grep -q 'Example' <<<"$OUT" || fail "natpunch --help shows no example"
for sub in server stun register key; do
  expect_exit 0 "$sub --help" "$NATPUNCH" "$sub" --help
  grep -q 'Example' <<<"$OUT" || fail "$sub --help shows no 'Example': $OUT"
  grep -q "natpunch $sub " <<<"$OUT" || fail "$sub --help example does not show a 'natpunch $sub' command line"
done

# --- key: created once with mode 0600, shown again unchanged; a bad key file is named and kept.
keyfile=$WORK/keys/device.key
expect_exit 1 "key without --create on a missing file" "$NATPUNCH" key --key-file "$keyfile" --json
[[ "$(json_field "$OUT" ok)" == false && "$OUT" == *device.key* ]] || fail "key: missing file not named: $OUT"
expect_exit 0 "key --create" "$NATPUNCH" key --key-file "$keyfile" --create --json
pub=$(json_field "$OUT" public_key)
[[ ${#pub} -eq 64 && "$(json_field "$OUT" created)" == true ]] || fail "key --create: $OUT"
[[ $(stat -c %a "$keyfile") == 600 ]] || fail "key file mode $(stat -c %a "$keyfile"), expected 600"
expect_exit 0 "key again" "$NATPUNCH" key --key-file "$keyfile" --create --json
[[ "$(json_field "$OUT" public_key)" == "$pub" && "$(json_field "$OUT" created)" == false ]] || fail "key changed: $OUT"
head -c 40 "$keyfile" >"$WORK/keys/short.key" && chmod 600 "$WORK/keys/short.key"
before=$(sha256sum "$WORK/keys/short.key")
expect_exit 1 "key on a truncated file" "$NATPUNCH" key --key-file "$WORK/keys/short.key" --create
[[ "$OUT" == *short.key* && "$OUT" == *secret-seed* ]] || fail "key: truncated file error unclear: $OUT"
[[ "$(sha256sum "$WORK/keys/short.key")" == "$before" ]] || fail "key: the truncated file was changed"
chmod 644 "$keyfile"
expect_exit 1 "key readable by others" "$NATPUNCH" key --key-file "$keyfile"
[[ "$OUT" == *"chmod 600"* ]] || fail "key: exposed file error unclear: $OUT"

# --- garbage: counted by reason, never answered, and the server keeps serving.
drops_before=$(json_field "$(last_stats np)" stats.dropped_total)
# (No newlines: bash's printf writes line by line, and each write is its own datagram.)
printf 'GARBAGE-that-is-not-a-STUN-message' >"/dev/udp/127.0.0.1/$port"  # >= 20 bytes, top bits 01
printf 'hi' >"/dev/udp/127.0.0.1/$port"                                  # shorter than a header
# A Binding request header whose length field (8) promises more than the datagram carries.
printf '\x00\x01\x00\x08\x21\x12\xa4\x42abcdefghijkl' >"/dev/udp/127.0.0.1/$port"
drops_seen() {
  local j
  j=$(last_stats np)
  [[ -n "$j" ]] || return 1
  (($(json_field "$j" stats.dropped.not_stun) >= 1 && $(json_field "$j" stats.dropped.truncated) >= 2))
}
wait_until 5 drops_seen || fail "--stats does not show the drops by reason (not_stun >= 1, truncated >= 2): $(last_stats np)"
stats=$(last_stats np)
(($(json_field "$stats" stats.dropped_total) >= drops_before + 3)) || fail "dropped_total did not grow by 3: $stats"
pass "--stats counts garbage by reason: not_stun=$(json_field "$stats" stats.dropped.not_stun) truncated=$(json_field "$stats" stats.dropped.truncated)"

(($(json_field "$stats" stats.malformed) >= 3)) || fail "--stats 'malformed' total does not count the garbage: $stats"
for f in rejected rate_limited.total rate_limited.binding rate_limited.register rate_limited.connect \
         limits.registrations_capped limits.amplification_refused; do
  [[ -n "$(json_field "$stats" "stats.$f")" ]] || fail "--stats lacks $f: $stats"
done
pass "--stats totals: malformed=$(json_field "$stats" stats.malformed) rejected=$(json_field "$stats" stats.rejected) rate_limited=$(json_field "$stats" stats.rate_limited.total)"

alive "$np_PID" || fail "server died after garbage"
expect_exit 0 "stun after garbage" "$NATPUNCH" stun --server "$server" --json --timeout 5
[[ "$(json_field "$OUT" ok)" == true ]] || fail "stun after garbage: $OUT"

# --- identity: the first key that registers an ID owns it; another key or none is refused, counted.
ka=$WORK/keys/a.key kb=$WORK/keys/b.key
expect_exit 1 "connect as alice (binds alice's key; the peer is unknown)" \
  "$NATPUNCH" connect --server "$server" --id alice --peer nobody --key-file "$ka" --no-discover --attempts 1 --timeout 5 --json
[[ "$OUT" == *"404"* ]] || fail "alice's registration should pass and the connect find no peer: $OUT"
expect_exit 1 "connect as alice with another key" \
  "$NATPUNCH" connect --server "$server" --id alice --peer nobody --key-file "$kb" --no-discover --attempts 1 --timeout 5 --json
[[ "$OUT" == *"bound to another key"* ]] || fail "hijack with another key not refused clearly: $OUT"
expect_exit 1 "connect as alice unsigned" \
  "$NATPUNCH" connect --server "$server" --id alice --peer nobody --no-key --no-discover --attempts 1 --timeout 5 --json
[[ "$OUT" == *"401"* ]] || fail "unsigned registration of a bound ID not refused: $OUT"
auth_seen() { tail -1 "$WORK/np.out" | grep -q '"key_mismatches":1' && tail -1 "$WORK/np.out" | grep -q '"unsigned_refused":1'; }
wait_until 5 auth_seen || fail "--stats does not count the refusals: $(tail -1 "$WORK/np.out")"
pass "--stats counts identity refusals: key_mismatches=1 unsigned_refused=1"

printf 'alice %s\nbob not-a-key\n' "$(printf 'ab%.0s' $(seq 32))" >"$WORK/keys/authorized"
expect_exit 2 "server with a malformed --authorized-keys" \
  "$NATPUNCH" server --listen 127.0.0.1:0 --authorized-keys "$WORK/keys/authorized"
[[ "$OUT" == *authorized* && "$OUT" == *"line 2"* ]] || fail "malformed --authorized-keys not named with its line: $OUT"

# --- rate limits and the per-IP cap from the command line: excess dropped unanswered, counted.
expect_exit 2 "server --rate-limit garbage" "$NATPUNCH" server --listen 127.0.0.1:0 --rate-limit fast
expect_exit 2 "server --rate-limit unknown kind" "$NATPUNCH" server --listen 127.0.0.1:0 --rate-limit ping=5/s
expect_exit 2 "server --burst 0" "$NATPUNCH" server --listen 127.0.0.1:0 --burst 0
expect_exit 2 "server --amplification-limit 0.5" "$NATPUNCH" server --listen 127.0.0.1:0 --amplification-limit 0.5
start_natpunch_server limited --listen 127.0.0.1:0 --rate-limit binding=0.1/s --burst binding=2 --max-per-ip 1 \
  --stats --stats-interval 0.2 --log-level warn
lport=$(listening_port limited 127.0.0.1)
expect_exit 0 "stun within the burst (1)" "$NATPUNCH" stun --server "127.0.0.1:$lport" --timeout 2
expect_exit 0 "stun within the burst (2)" "$NATPUNCH" stun --server "127.0.0.1:$lport" --timeout 2
expect_exit 1 "stun over --rate-limit binding=0.1/s --burst binding=2 (dropped, unanswered)" \
  "$NATPUNCH" stun --server "127.0.0.1:$lport" --timeout 1
expect_exit 0 "register one device (--max-per-ip 1)" "$NATPUNCH" register --server "127.0.0.1:$lport" --id one --timeout 2
expect_exit 1 "register a second device from the same IP" \
  "$NATPUNCH" register --server "127.0.0.1:$lport" --id two --timeout 2
[[ "$OUT" == *508* ]] || fail "the per-IP cap is not answered 508: $OUT"
limited_seen() {
  local j
  j=$(last_stats limited)
  (($(json_field "$j" stats.rate_limited.binding) >= 1 && $(json_field "$j" stats.limits.registrations_capped) >= 1))
}
wait_until 5 limited_seen || fail "--stats does not count the rate-limited and capped requests: $(last_stats limited)"
pass "--stats counts rate_limited.binding=$(json_field "$(last_stats limited)" stats.rate_limited.binding) registrations_capped=$(json_field "$(last_stats limited)" stats.limits.registrations_capped)"
stop_pid "$limited_PID"

# --- bad key files given to agent and connect: named with the problem, never overwritten.
printf 'this is not a natpunch key file\n' >"$WORK/keys/garbage.key" && chmod 600 "$WORK/keys/garbage.key"
: >"$WORK/keys/empty.key" && chmod 600 "$WORK/keys/empty.key"
mkdir -p "$WORK/keys/dir.key"
snapshot() { stat -c '%F %s %a %Y' "$1"; if [[ -f "$1" ]]; then sha256sum <"$1"; fi; }
for bad in garbage empty dir; do
  f=$WORK/keys/$bad.key
  before=$(snapshot "$f")
  expect_exit 1 "agent with a $bad key file" "$NATPUNCH" agent --server "$server" --id home --allow-any --key-file "$f" \
    --no-discover --run-for 1 --json
  [[ "$OUT" == *"$bad.key"* ]] || fail "agent: the $bad key file is not named: $OUT"
  expect_exit 1 "connect with a $bad key file" "$NATPUNCH" connect --server "$server" --id phone --peer home \
    --key-file "$f" --no-discover --attempts 1 --timeout 2 --json
  [[ "$OUT" == *"$bad.key"* ]] || fail "connect: the $bad key file is not named: $OUT"
  [[ "$(snapshot "$f")" == "$before" ]] || fail "the $bad key file was changed"
  pass "$bad key file refused by agent and connect, unchanged: $(json_field "$OUT" error)"
done
expect_exit 2 "server with a missing --authorized-keys file" \
  "$NATPUNCH" server --listen 127.0.0.1:0 --authorized-keys "$WORK/keys/no-such-file"
[[ "$OUT" == *no-such-file* ]] || fail "missing --authorized-keys file not named: $OUT"
head -c 30 "$WORK/keys/authorized" >"$WORK/keys/authorized-truncated"
expect_exit 2 "server with a truncated --authorized-keys" \
  "$NATPUNCH" server --listen 127.0.0.1:0 --authorized-keys "$WORK/keys/authorized-truncated"
[[ "$OUT" == *authorized-truncated* && "$OUT" == *"line 1"* ]] || fail "truncated --authorized-keys not named with its line: $OUT"

# --- who may connect (issue 6): the agent's --allow list, enforced by the server (403, counted) and
# by the agent; at most --max-sprays-per-minute attempts per peer.
expect_exit 2 "agent --allow with --allow-any" "$NATPUNCH" agent --server "$server" --id home --allow a --allow-any
expect_exit 2 "agent --allow ''" "$NATPUNCH" agent --server "$server" --id home --allow ''
expect_exit 2 "agent --max-sprays-per-minute 0" "$NATPUNCH" agent --server "$server" --id home --allow-any --max-sprays-per-minute 0
expect_exit 0 "agent without --allow" "$NATPUNCH" agent --server "$server" --id lonely --key-file "$WORK/keys/lonely.key" \
  --no-discover --run-for 0.5 --json
[[ "$OUT" == *"nobody may connect"* && "$OUT" == *--allow-any* ]] || fail "agent without --allow gives no hint: $OUT"
spawn "$WORK/home.log" "$WORK/home.err" "$NATPUNCH" agent --server "$server" --id home --allow phone \
  --max-sprays-per-minute 2 --key-file "$WORK/keys/home.key" --no-discover --json
home_PID=$LAST_PID
home_registered() { grep -q '"event":"registered"' "$WORK/home.log"; }
wait_until 10 home_registered || fail "agent home did not register"
expect_exit 1 "connect from a peer home does not allow" "$NATPUNCH" connect --server "$server" --id stranger --peer home \
  --key-file "$WORK/keys/stranger.key" --no-discover --attempts 3 --timeout 5 --json
[[ "$OUT" == *403* && "$OUT" == *"does not allow you"* && "$(json_field "$OUT" attempts)" == 1 ]] ||
  fail "a refused peer gets no clear, final error: $OUT"
pass "refused: $(json_field "$OUT" error)"
for i in 1 2; do
  expect_exit 0 "connect from phone ($i of 2 in the minute)" "$NATPUNCH" connect --server "$server" --id phone --peer home \
    --key-file "$WORK/keys/phone.key" --no-discover --message "hi $i" --attempts 1 --timeout 10 --json
  [[ "$(json_field "$OUT" reply)" == "hi $i" ]] || fail "phone connected without the echo: $OUT"
done
expect_exit 1 "a third connect from phone within the minute" "$NATPUNCH" connect --server "$server" --id phone --peer home \
  --key-file "$WORK/keys/phone.key" --no-discover --message "hi 3" --attempts 1 --timeout 3 --method simultaneous --json
rate_limited() { grep -q '"event":"rate-limited".*"peer":"phone"' "$WORK/home.log"; }
wait_until 5 rate_limited || fail "the agent did not report the spent budget"
(($(grep -c '"event":"connected"' "$WORK/home.log") == 2)) || fail "the agent answered more than its budget"
! grep -q '"peer":"stranger"' "$WORK/home.log" || fail "the server passed the stranger's request on"
not_allowed() { tail -1 "$WORK/np.out" | grep -q '"connect_not_allowed":1'; }
wait_until 5 not_allowed || fail "--stats does not count the refused connect: $(tail -1 "$WORK/np.out")"
pass "allow list: stranger refused (403, counted), phone connected twice, third attempt rate-limited"
stop_pid "$home_PID"

# --- keys pinned by the agent (--allow ID=KEY, --allow-keys FILE): phone is accepted only with the
# key the agent pinned, whatever key the server vouches for; a wrong pin refuses it before any probe.
phone_pub=$(json_field "$("$NATPUNCH" key --key-file "$WORK/keys/phone.key" --json)" public_key)
[[ ${#phone_pub} -eq 64 ]] || fail "no public key for phone: $phone_pub"
wrong_pub=$(printf 'ab%.0s' $(seq 32))
expect_exit 2 "agent pinning two keys for one peer" "$NATPUNCH" agent --server "$server" --id pinned \
  --allow "phone=$wrong_pub" --allow "phone=$phone_pub"
[[ "$OUT" == *"two different keys"* ]] || fail "two pins for phone not refused clearly: $OUT"
expect_exit 2 "agent with a missing --allow-keys file" "$NATPUNCH" agent --server "$server" --id pinned \
  --allow-keys "$WORK/keys/no-such-allow-file"
[[ "$OUT" == *no-such-allow-file* ]] || fail "missing --allow-keys file not named: $OUT"
printf 'phone %s\nbroken\n' "$phone_pub" >"$WORK/keys/allow-broken"
expect_exit 2 "agent with a malformed --allow-keys file" "$NATPUNCH" agent --server "$server" --id pinned \
  --allow-keys "$WORK/keys/allow-broken"
[[ "$OUT" == *allow-broken* && "$OUT" == *"line 2"* ]] || fail "malformed --allow-keys not named with its line: $OUT"
# pinned_agent NAME ARGS…: an agent for phone only, registered; its log is $WORK/NAME.log.
pinned_agent() {
  local name=$1
  shift
  spawn "$WORK/$name.log" "$WORK/$name.err" "$NATPUNCH" agent --server "$server" --id "$name" "$@" \
    --key-file "$WORK/keys/$name.key" --no-discover --json
  PINNED_PID=$LAST_PID
  local log=$WORK/$name.log
  pinned_registered() { grep -q '"event":"registered"' "$log"; }
  wait_until 10 pinned_registered || fail "agent $name did not register"
}
pinned_agent pin-wrong --allow "phone=$wrong_pub"
expect_exit 1 "connect to an agent that pinned another key for phone" "$NATPUNCH" connect --server "$server" \
  --id phone --peer pin-wrong --key-file "$WORK/keys/phone.key" --no-discover --message hi --attempts 1 --timeout 3 --json
refused_pin() { grep -q '"event":"refused".*"peer":"phone".*"reason":"key does not match' "$WORK/pin-wrong.log"; }
wait_until 5 refused_pin || fail "the agent did not refuse phone's key: $(cat "$WORK/pin-wrong.log")"
! grep -q '"event":"connected"' "$WORK/pin-wrong.log" || fail "the agent connected a peer whose key is not the pinned one"
stop_pid "$PINNED_PID"
pinned_agent pin-right --allow "phone=$phone_pub"
expect_exit 0 "connect to an agent that pinned phone's key" "$NATPUNCH" connect --server "$server" --id phone \
  --peer pin-right --key-file "$WORK/keys/phone.key" --no-discover --message pinned --attempts 1 --timeout 10 --json
[[ "$(json_field "$OUT" reply)" == pinned && "$(json_field "$OUT" session.peer_authenticated)" == true ]] ||
  fail "no authenticated echo through a pinned agent: $OUT"
pin_closed() { grep -q '"event":"closed".*"peer":"phone".*"peer_authenticated":true' "$WORK/pin-right.log"; }
wait_until 10 pin_closed || fail "the pinned agent did not authenticate phone: $(cat "$WORK/pin-right.log")"
stop_pid "$PINNED_PID"
printf '# pinned peers\nphone %s\n' "$phone_pub" >"$WORK/keys/allow-phone"
pinned_agent pin-file --allow-keys "$WORK/keys/allow-phone"
expect_exit 0 "connect to an agent with phone in --allow-keys" "$NATPUNCH" connect --server "$server" --id phone \
  --peer pin-file --key-file "$WORK/keys/phone.key" --no-discover --message file --attempts 1 --timeout 10 --json
[[ "$(json_field "$OUT" reply)" == file ]] || fail "no echo through an agent with --allow-keys: $OUT"
stop_pid "$PINNED_PID"
pass "pinned keys: a wrong pin refuses phone before any probe, the right one (--allow ID=KEY or --allow-keys) connects"

# --- a hostile server's reason phrase (invalid UTF-8, terminal escapes, a C1 control, a bidi
# override) never reaches the terminal as it is, and --json output stays JSON (it used to end in
# "[json.exception.type_error.316] invalid UTF-8 byte" with no JSON at all).
spawn "$WORK/hostile.out" "$WORK/hostile.err" python3 "$(dirname "$0")/hostile_server.py" --seconds 60
hostile_ready() { [[ -s "$WORK/hostile.out" ]]; }
wait_until 10 hostile_ready || fail "hostile_server.py printed no port"
hostile=127.0.0.1:$(head -n1 "$WORK/hostile.out")
raw_bytes_in() { LC_ALL=C grep -q $'[\x1b\xff\x9b]' <<<"$1" || LC_ALL=C grep -q $'\xe2\x80\xae' <<<"$1"; }
for sub in register connect; do
  args=(--server "$hostile" --id victim --timeout 3)
  if [[ $sub == connect ]]; then args+=(--peer someone --no-discover --no-key --attempts 1); fi
  expect_exit 1 "$sub --json against a hostile server" "$NATPUNCH" "$sub" "${args[@]}" --json
  python3 -c 'import json,sys; j=json.loads(sys.argv[1]); assert j["ok"] is False and "\\xff" in j["error"], j' "$OUT" ||
    fail "$sub --json against a hostile server is not JSON with the escaped reason: $OUT"
  ! raw_bytes_in "$OUT" || fail "$sub --json printed the hostile bytes as they are: $(od -c <<<"$OUT" | head -5)"
  expect_exit 1 "$sub (text) against a hostile server" "$NATPUNCH" "$sub" "${args[@]}"
  ! raw_bytes_in "$OUT" || fail "$sub printed the hostile bytes to the terminal: $(od -c <<<"$OUT" | head -5)"
  [[ "$OUT" == *'\xff\xfe \x1b[31mred'* ]] || fail "$sub does not show the reason escaped: $OUT"
done
pass "a hostile server's reason phrase is escaped for the terminal and --json stays JSON"

# --- SIGTERM stops the server cleanly, with a final stats line. A server whose interval is an hour
# prints no periodic line during the test, so its one line can only be the one printed at exit, and
# must count the request made before the signal.
# sigterm_cleanly PID: SIGTERM, then the process must exit 0 within 5 s.
sigterm_cleanly() {
  local pid=$1 rc=0
  kill -TERM "$pid"
  gone() { ! alive "$pid"; }
  wait_until 5 gone || fail "server did not stop within 5 s of SIGTERM"
  wait "$pid" || rc=$?
  ((rc == 0)) || fail "server exited $rc on SIGTERM"
}
sigterm_cleanly "$np_PID"
start_natpunch_server quiet --listen 127.0.0.1:0 --stats --stats-interval 3600 --log-level warn
expect_exit 0 "stun before SIGTERM" "$NATPUNCH" stun --server "127.0.0.1:$(listening_port quiet 127.0.0.1)" --timeout 5
(($(grep -c '^{"stats":' "$WORK/quiet.out") == 0)) || fail "a stats line before the hour was up: $(cat "$WORK/quiet.out")"
sigterm_cleanly "$quiet_PID"
(($(grep -c '^{"stats":' "$WORK/quiet.out") == 1)) || fail "no single final stats line at SIGTERM: $(cat "$WORK/quiet.out")"
final=$(last_stats quiet)
(($(json_field "$final" stats.requests.binding) >= 1)) || fail "the final stats line does not count the Binding: $final"
pass "server stopped on SIGTERM with exit 0 and a final stats line: $final"
