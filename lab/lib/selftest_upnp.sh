# shellcheck shell=bash
# `lab selftest --types upnp`: on a upnp router, a mapping made with each protocol (UPnP-IGD with
# upnpc, NAT-PMP with natpmpc, PCP with a MAP request written here) admits unsolicited inbound UDP,
# and the same datagrams are dropped before the mapping exists. Then the same with natpunch's own
# clients (`natpunch portmap --protocol P`), which must also delete their mapping (`--delete`):
# inbound datagrams are dropped again afterwards.

# Internal port on host a, external port asked for, per protocol.
declare -A UPNP_CHECK_PORTS=([upnp-igd]="5001 40001" [nat-pmp]="5002 40002" [pcp]="5003 40003"
  [natpunch:upnp-igd]="5004 40004" [natpunch:nat-pmp]="5005 40005" [natpunch:pcp]="5006 40006")
UPNP_CHECK_ORDER=(upnp-igd nat-pmp pcp natpunch:upnp-igd natpunch:nat-pmp natpunch:pcp)

# _hex_escapes N VALUE: VALUE as N big-endian bytes, written as printf escapes.
_hex_escapes() {
  local n=$1 v=$2 out="" i
  for ((i = n - 1; i >= 0; i--)); do out+=$(printf '\\x%02x' $(((v >> (8 * i)) & 255))); done
  echo "$out"
}

# pcp_map_request CLIENT_IP INT_PORT EXT_PORT LIFETIME: an RFC 6887 MAP request for UDP, as printf
# escapes (60 bytes; addresses IPv4-mapped).
pcp_map_request() {
  local ip=$1 int_port=$2 ext_port=$3 lifetime=$4 req="" o i
  local v4mapped='\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff'
  # §7.1 header: version 2, R=0 opcode MAP (1), reserved, lifetime, PCP client's IP address.
  req+='\x02\x01\x00\x00'$(_hex_escapes 4 "$lifetime")$v4mapped
  for o in ${ip//./ }; do req+=$(_hex_escapes 1 "$o"); done
  # §11.1 MAP: 96-bit nonce, protocol (17), reserved, internal port, suggested external port and
  # address (::ffff:0.0.0.0: no preference).
  for ((i = 0; i < 6; i++)); do req+=$(_hex_escapes 2 $((RANDOM))); done
  req+='\x11\x00\x00\x00'$(_hex_escapes 2 "$int_port")$(_hex_escapes 2 "$ext_port")$v4mapped'\x00\x00\x00\x00'
  echo "$req"
}

# upnp_map_pcp NAME INT_PORT EXT_PORT: sends the MAP request from host a to its router over bash's
# /dev/udp (one datagram: dd writes the 60 bytes at once; printf alone splits at NUL bytes) and
# prints the answer as hex bytes. 2 s bound.
upnp_map_pcp() {
  local name=$1 int_port=$2 ext_port=$3 req
  req=$(pcp_map_request "$LAB_LAN_HOST_a" "$int_port" "$ext_port" 120)
  ip netns exec "$(ns_name "$name" a)" bash -c '
    exec 3<>"/dev/udp/$1/5351"
    printf "$2" | dd bs=60 count=1 iflag=fullblock status=none >&3
    timeout 2 dd bs=1100 count=1 status=none <&3 | od -An -tx1 -v | tr -s " \n" " "' _ "$LAB_LAN_ROUTER_a" "$req"
}

# natpunch_portmap NAME ARGS...: `natpunch portmap --json ARGS` on host a toward its router; prints
# its JSON line (and stderr). 15 s bound (each protocol gives up after its --timeout).
natpunch_portmap() {
  local name=$1
  shift
  timeout 15 ip netns exec "$(ns_name "$name" a)" "$(upnp_find_natpunch)" portmap --json \
    --gateway "$LAB_LAN_ROUTER_a" "$@" 2>&1
}

# upnp_map PROTOCOL NAME INT_PORT EXT_PORT: makes the mapping; prints the client's output; fails
# unless the client reports the mapping as asked for. natpunch's own client saves its JSON in
# $LAB_TMP/NAME.portmap-PROTOCOL (upnp_unmap needs the PCP nonce).
upnp_map() {
  local proto=$1 name=$2 int_port=$3 ext_port=$4 out
  local a
  a=$(ns_name "$name" a)
  case "$proto" in
    natpunch:*)
      out=$(natpunch_portmap "$name" --protocol "${proto#natpunch:}" --internal-port "$int_port" \
        --external-port "$ext_port" --lifetime 120) || true
      echo "$out" >"$LAB_TMP/$name.portmap-${proto#natpunch:}"
      echo "$out"
      [[ "$out" == *'"ok":true'* && "$out" == *"\"external\":\"$LAB_WAN_IP_a:$ext_port\""* &&
        "$out" == *"\"internal\":\"$LAB_LAN_HOST_a:$int_port\""* &&
        "$out" == *"\"protocol\":\"${proto#natpunch:}\""* ]]
      ;;
    upnp-igd)
      # -i: upnpc calls an IGD "not connected" when its external address is a reserved one.
      out=$(timeout 10 ip netns exec "$a" upnpc -i -e natpunch-lab -a "$LAB_LAN_HOST_a" "$int_port" "$ext_port" UDP 2>&1) || true
      echo "$out" | tail -n 3
      [[ "$out" == *"external $LAB_WAN_IP_a:$ext_port UDP is redirected to internal $LAB_LAN_HOST_a:$int_port"* ]]
      ;;
    nat-pmp)
      out=$(timeout 10 ip netns exec "$a" natpmpc -g "$LAB_LAN_ROUTER_a" -a "$ext_port" "$int_port" udp 120 2>&1) || true
      echo "$out" | grep -E 'Mapped|error|fail' || echo "$out" | tail -n 3
      [[ "$out" == *"Mapped public port $ext_port protocol UDP to local port $int_port"* ]]
      ;;
    pcp)
      out=$(upnp_map_pcp "$name" "$int_port" "$ext_port") || true
      echo "PCP answer:$out"
      # Answer: version 2, R=1|MAP, result SUCCESS (0); assigned external port and address.
      local -a b
      read -r -a b <<<"$out"
      local wan_hex
      wan_hex=$(printf '%02x ' ${LAB_WAN_IP_a//./ })
      [[ ${#b[@]} -eq 60 && "${b[0]} ${b[1]} ${b[3]}" == "02 81 00" && "${b[42]}${b[43]}" == "$(printf '%04x' "$ext_port")" &&
        "${b[*]:56:4} " == "$wan_hex" ]]
      ;;
  esac
}

# upnp_unmap PROTOCOL NAME INT_PORT EXT_PORT: natpunch deletes the mapping upnp_map made.
upnp_unmap() {
  local proto=${1#natpunch:} name=$2 int_port=$3 ext_port=$4 out nonce=()
  if [[ "$proto" == pcp ]]; then
    nonce=(--pcp-nonce "$(sed -nE 's/.*"pcp_nonce":"([0-9a-f]+)".*/\1/p' "$LAB_TMP/$name.portmap-pcp")")
  fi
  out=$(natpunch_portmap "$name" --delete --protocol "$proto" --internal-port "$int_port" \
    --external-port "$ext_port" "${nonce[@]}") || true
  echo "$out"
  [[ "$out" == *'"ok":true'* ]]
}

# upnp_inbound NAME EXT_PORT: unsolicited datagrams from the lab internet to the router's EXT_PORT;
# prints how many of 5 came back (host a's reflector answers what reaches it).
upnp_inbound() {
  local name=$1 ext_port=$2 probe=$3 out
  out=$(ip netns exec "$(ns_name "$name" inet)" "$probe" burst --server "$LAB_WAN_IP_a:$ext_port" --count 5 \
    --interval-ms 20 --wait-ms 300 2>&1) || true
  sed -nE 's/.*"received":([0-9]+).*/\1/p' <<<"$out"
}

# selftest_upnp_mappings NAME PROBE: one row per protocol; returns the number of failed rows.
selftest_upnp_mappings() {
  local name=$1 probe=$2 failures=0 proto int_port ext_port
  local reflect_args=()
  for proto in "${UPNP_CHECK_ORDER[@]}"; do
    read -r int_port ext_port <<<"${UPNP_CHECK_PORTS[$proto]}"
    reflect_args+=(--listen "$LAB_LAN_HOST_a:$int_port")
  done
  ip netns exec "$(ns_name "$name" a)" "$probe" reflect "${reflect_args[@]}" --duration 60 \
    >"$LAB_TMP/$name.upnp-reflect" 2>&1 &
  wait_for_line "$LAB_TMP/$name.upnp-reflect" '^ready$' 5 ||
    die "reflector on host a of '$name' did not start within 5 s: $(cat "$LAB_TMP/$name.upnp-reflect")"
  printf '%-38s %-14s %-14s %-14s %s\n' "upnp mapping" "before (of 5)" "after (of 5)" "deleted (of 5)" result
  for proto in "${UPNP_CHECK_ORDER[@]}"; do
    read -r int_port ext_port <<<"${UPNP_CHECK_PORTS[$proto]}"
    local before after client why=""
    before=$(upnp_inbound "$name" "$ext_port" "$probe")
    if ! client=$(upnp_map "$proto" "$name" "$int_port" "$ext_port"); then
      why+=" the $proto client did not get the mapping: $(tr '\n' ' ' <<<"$client");"
    fi
    after=$(upnp_inbound "$name" "$ext_port" "$probe")
    [[ "$before" == 0 ]] || why+=" ${before:-?} datagrams got in before the mapping;"
    [[ "$after" == 5 ]] || why+=" ${after:-?}/5 got in through the mapping;"
    local deleted=-
    if [[ "$proto" == natpunch:* ]]; then
      if ! client=$(upnp_unmap "$proto" "$name" "$int_port" "$ext_port"); then
        why+=" natpunch did not delete the mapping: $(tr '\n' ' ' <<<"$client");"
      fi
      deleted=$(upnp_inbound "$name" "$ext_port" "$probe")
      [[ "$deleted" == 0 ]] || why+=" ${deleted:-?} datagrams got in after the mapping was deleted;"
    fi
    local verdict=PASS
    if [[ -n "$why" ]]; then
      verdict="FAIL:$why"
      failures=$((failures + 1))
    fi
    printf '%-38s %-14s %-14s %-14s %s\n' "$proto $LAB_WAN_IP_a:$ext_port" "${before:-?}" "${after:-?}" \
      "${deleted:-?}" "$verdict"
  done
  return "$failures"
}
