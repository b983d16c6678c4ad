# shellcheck shell=bash
# The `upnp` router type: symmetric random NAT whose router runs miniupnpd (UPnP-IGD, NAT-PMP and
# PCP) in the foreground, with its config, pid file and log in the topology's state dir.
# See docs/lab.md and LAB-NOTES ("A router that offers port mapping").

# natpunch binary whose server answers miniupnpd's RFC 5780 STUN check (lab up --natpunch PATH).
LAB_NATPUNCH=${LAB_NATPUNCH:-}

upnp_find_natpunch() {
  local given=${LAB_NATPUNCH:-$LAB_ROOT/../build/src/cli/natpunch}
  [[ -x "$given" ]] || die "type upnp needs natpunch's server for miniupnpd's STUN check: give --natpunch PATH (tried '$given')"
  echo "$given"
}

upnp_miniupnpd_config() {
  local lan_net=$1
  cat <<EOF
ext_ifname=wan
listening_ip=lan
http_port=0
enable_upnp=yes
enable_natpmp=yes
secure_mode=yes
ipv6_disable=yes
system_uptime=yes
# miniupnpd refuses documentation ranges as its external address unless a STUN check shows
# the address is reachable (a 1:1 mapping, which the router's own SNAT rule keeps).
ext_perform_stun=yes
ext_stun_host=$LAB_SERVER_IP1
ext_stun_port=3478
uuid=3b5e0e6a-6e61-7470-756e-636800000001
allow 1024-65535 $lan_net 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
EOF
}

# upnp_router_start NAME SIDE: starts miniupnpd in router rSIDE; a natpunch server on the lab
# internet answers its STUN check and is stopped once miniupnpd has enabled port forwarding
# (miniupnpd checks only at start). Bounded: 5 s for the server, 10 s for miniupnpd.
upnp_router_start() {
  local name=$1 side=$2
  local dir r inet natpunch router_var lan_net
  dir=$(state_dir "$name")
  r=$(ns_name "$name" "r$side")
  inet=$(ns_name "$name" inet)
  natpunch=$(upnp_find_natpunch) || return 1
  router_var=LAB_LAN_ROUTER_$side
  lan_net="${!router_var%.*}.0/$LAB_LAN_CIDR"
  upnp_miniupnpd_config "$lan_net" >"$dir/miniupnpd-$side.conf"

  # miniupnpd's requests carry no PADDING: without a raised amplification limit the server refuses
  # to answer them (lab only; the server lives on the lab internet for a few seconds).
  ip netns exec "$inet" "$natpunch" server --listen "$LAB_SERVER_IP1:3478" --alternate "$LAB_SERVER_IP2:3479" \
    --amplification-limit 8 --log-level warn >"$dir/stun-$side.log" 2>&1 &
  local stun_pid=$!
  if ! wait_for_line "$dir/stun-$side.log" '^listening udp' 5 4; then
    kill -TERM "$stun_pid" 2>/dev/null || true
    wait "$stun_pid" 2>/dev/null || true
    echo "natpunch server for miniupnpd's STUN check did not start: $(cat "$dir/stun-$side.log")"
    return 1
  fi
  ip netns exec "$r" miniupnpd -d -f "$dir/miniupnpd-$side.conf" -P "$dir/miniupnpd-$side.daemon.pid" \
    >"$dir/miniupnpd-$side.log" 2>&1 &
  echo $! >"$dir/miniupnpd-$side.pid"
  local ok=0
  wait_for_line "$dir/miniupnpd-$side.log" 'Port forwarding is now enabled' 10 && ok=1
  kill -TERM "$stun_pid" 2>/dev/null || true
  wait "$stun_pid" 2>/dev/null || true
  if ((!ok)); then
    echo "miniupnpd in $r did not enable port forwarding within 10 s: $(tail -n 20 "$dir/miniupnpd-$side.log")"
    return 1
  fi
}

# upnp_router_stop NAME: kills each side's miniupnpd by PID (TERM, 2 s grace, KILL) and deletes its
# nftables table (its mappings outlive it). Safe to call on a half-built topology.
upnp_router_stop() {
  local name=$1 side dir pidfile pid r i
  dir=$(state_dir "$name")
  for side in "${LAB_SIDES[@]}"; do
    pidfile="$dir/miniupnpd-$side.pid"
    [[ -f "$pidfile" ]] || continue
    pid=$(cat "$pidfile")
    if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        [[ "$(ps -o stat= -p "$pid" 2>/dev/null)" != Z* ]] || break # exited, not yet reaped
        sleep 0.02
      done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
    r=$(ns_name "$name" "r$side")
    if ns_exists "$r"; then ip netns exec "$r" nft delete table inet filter 2>/dev/null || true; fi
  done
  return 0
}
