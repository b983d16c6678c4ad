# shellcheck shell=bash
# Bringing a topology up and down, and finding out what exists.
#
#   inet:  bridge br0 with 203.0.113.1 and .2 (the server's addresses)
#   ra/rb/…: router per side, `wan` on the bridge (203.0.113.10 / .20 / .30 …), `lan` towards its host
#   a/b/…: host per side, `eth0` 10.0.1.2 / 10.0.2.2 / 10.0.3.2 …, default route via its router
#   sides a..h: side K (a=1) is WAN 203.0.113.(10·K), LAN 10.0.K.0/24 (router .1, host .2)
#   open side: no router; the host's eth0 sits on the bridge with the WAN address
#   --same-lan (two sides only): one router (ra, side a's type); `lan` is a bridge with hosts
#   a (10.0.1.2), b (10.0.1.3)

state_dir() { echo "$LAB_STATE_ROOT/$1"; }

# Topologies that exist: names taken from the namespaces, so crashed runs are found too.
topology_names() {
  ip netns list 2>/dev/null | awk '{print $1}' | sed -n "s/^${LAB_PREFIX}\([A-Za-z0-9_.]*\)-[a-z0-9]*$/\1/p" | sort -u
}

topology_namespaces() {
  ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${LAB_PREFIX}$1-[a-z0-9]+$" || true
}

# Reads a topology's description into TOPO_* variables.
load_topology() {
  local file
  file="$(state_dir "$1")/topology.env"
  [[ -f "$file" ]] || die "no topology '$1' (see: lab list)"
  # shellcheck disable=SC1090
  source "$file"
  TOPO_SIDES=${TOPO_SIDES:-a b}
}

ns_exists() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qx -- "$1"; }

# Stops every process in a namespace by PID: TERM, up to 2 s grace, then KILL.
kill_namespace_processes() {
  local ns=$1 pids i
  pids=$(ip netns pids "$ns" 2>/dev/null || true)
  [[ -n "$pids" ]] || return 0
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [[ -n "$pids" ]] || return 0
    sleep 0.02
  done
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null || true
}

topology_down() {
  local name=$1 ns
  upnp_router_stop "$name" # miniupnpd by PID, and its table, before the namespaces go
  for ns in $(topology_namespaces "$name"); do kill_namespace_processes "$ns"; done
  # nftables state, conntrack entries and veths go with the namespace.
  for ns in $(topology_namespaces "$name"); do
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "/etc/netns/$ns" # a hosts file given by `lab hosts`
  done
  rm -rf "$(state_dir "$name")"
  rmdir "$LAB_STATE_ROOT" 2>/dev/null || true
  [[ -z "$(topology_namespaces "$name")" ]] || die "could not remove every namespace of '$name'"
}

# A topology is in use while the process building it runs, while its owner process runs, or
# forever when brought up by hand (owner 0: removed only by name or --all).
topology_in_use() {
  local file owner builder
  file="$(state_dir "$1")/topology.env"
  [[ -f "$file" ]] || return 1
  owner=$(sed -n 's/^TOPO_OWNER=//p' "$file")
  builder=$(sed -n 's/^TOPO_BUILDER=//p' "$file")
  [[ -n "$builder" ]] && kill -0 "$builder" 2>/dev/null && return 0
  [[ "$owner" == 0 ]] && return 0
  [[ -n "$owner" ]] && kill -0 "$owner" 2>/dev/null
}

# lab cleanup [NAME | --all]: removes topology NAME, every topology, or (no argument) those left
# behind by crashed runs: namespaces without state, or whose owner process is gone.
topology_cleanup() {
  local only=${1:-} name
  for name in $(topology_names); do
    if [[ -n "$only" && "$only" != --all && "$name" != "$only" ]]; then continue; fi
    if [[ -z "$only" ]] && topology_in_use "$name"; then continue; fi
    note "removing topology '$name'"
    topology_down "$name"
  done
  # State without namespaces (a run that died between writing state and building).
  if [[ -d "$LAB_STATE_ROOT" ]]; then
    local dir
    for dir in "$LAB_STATE_ROOT"/*; do
      [[ -d "$dir" ]] || continue
      name=${dir##*/}
      [[ -z "$(topology_namespaces "$name")" ]] || continue
      if [[ -z "$only" ]] && topology_in_use "$name"; then continue; fi
      [[ -n "$only" && "$only" != --all && "$name" != "$only" ]] && continue
      rm -rf "${LAB_STATE_ROOT:?}/$name"
    done
    rmdir "$LAB_STATE_ROOT" 2>/dev/null || true
  fi
  # Hosts files (`lab hosts`) whose namespace is gone.
  local d
  for d in /etc/netns/"${LAB_PREFIX}"*; do
    [[ -d "$d" ]] && ! ns_exists "${d##*/}" && rm -rf "$d"
  done
  remove_stale_lab_tmp
}

# This kernel has br_netfilter built in with bridge-nf-call-iptables=1: bridged frames would go
# through the namespace's netfilter hooks (and fill its conntrack table). A switch should not.
_plain_switch() {
  ip netns exec "$1" sysctl -qw net.bridge.bridge-nf-call-iptables=0 net.bridge.bridge-nf-call-ip6tables=0 \
    net.bridge.bridge-nf-call-arptables=0 2>/dev/null || true
}

_add_ns() {
  ip netns add "$1"
  ip -n "$1" link set lo up
}

# _build_router NAME SIDE TYPE LOSS: router namespace rSIDE with wan on the internet bridge.
_build_router() {
  local name=$1 side=$2 type=$3 loss=$4
  local r inet wan_var
  r=$(ns_name "$name" "r$side")
  inet=$(ns_name "$name" inet)
  wan_var=LAB_WAN_IP_$side
  _add_ns "$r"
  ip -n "$r" link add wan type veth peer name "p$side" netns "$inet"
  ip -n "$inet" link set "p$side" master br0 up
  ip -n "$r" addr add "${!wan_var}/$LAB_INET_CIDR" dev wan
  ip -n "$r" link set wan up
  ip netns exec "$r" sysctl -qw net.ipv4.ip_forward=1
  {
    router_filter_rules "$type"
    nat_rules "$type" "${!wan_var}"
    [[ "$type" != upnp ]] || miniupnpd_table_rules
    router_loss_rules "$loss"
  } | ip netns exec "$r" nft -f -
}

# _build_host NAME SIDE ADDR ROUTER_ADDR LINK_IN_ROUTER: host namespace behind a router.
_build_host() {
  local name=$1 side=$2 addr=$3 gw=$4 link=$5
  local h r
  h=$(ns_name "$name" "$side")
  r=$(ns_name "$name" ra)
  [[ "$link" == lan ]] && r=$(ns_name "$name" "r$side")
  _add_ns "$h"
  ip -n "$r" link add "$link" type veth peer name eth0 netns "$h"
  ip -n "$h" addr add "$addr/$LAB_LAN_CIDR" dev eth0
  ip -n "$h" link set eth0 up
  ip -n "$h" route add default via "$gw"
}

# _build_open_host NAME SIDE LOSS: a host directly on the internet bridge.
_build_open_host() {
  local name=$1 side=$2 loss=$3
  local h inet wan_var
  h=$(ns_name "$name" "$side")
  inet=$(ns_name "$name" inet)
  wan_var=LAB_WAN_IP_$side
  _add_ns "$h"
  ip -n "$h" link add eth0 type veth peer name "p$side" netns "$inet"
  ip -n "$inet" link set "p$side" master br0 up
  ip -n "$h" addr add "${!wan_var}/$LAB_INET_CIDR" dev eth0
  ip -n "$h" link set eth0 up
  if ((loss > 0)); then host_loss_rules "$loss" | ip netns exec "$h" nft -f -; fi
}

# _build_topology NAME SAME_LAN SIDE:TYPE:LOSS...
_build_topology() {
  local name=$1 same_lan=$2
  shift 2
  local -a specs=("$@")
  local type_a loss_a
  IFS=: read -r _ type_a loss_a <<<"${specs[0]}"
  local inet
  inet=$(ns_name "$name" inet)
  _add_ns "$inet"
  ip -n "$inet" link add br0 type bridge
  _plain_switch "$inet"
  ip -n "$inet" addr add "$LAB_SERVER_IP1/$LAB_INET_CIDR" dev br0
  ip -n "$inet" addr add "$LAB_SERVER_IP2/$LAB_INET_CIDR" dev br0
  ip -n "$inet" link set br0 up

  if ((same_lan)); then
    local r
    r=$(ns_name "$name" ra)
    _build_router "$name" a "$type_a" "$loss_a"
    ip -n "$r" link add lan type bridge
    _plain_switch "$r"
    ip -n "$r" addr add "$LAB_LAN_ROUTER_a/$LAB_LAN_CIDR" dev lan
    ip -n "$r" link set lan up
    _build_host "$name" a "$LAB_LAN_HOST_a" "$LAB_LAN_ROUTER_a" la
    _build_host "$name" b "$LAB_LAN_HOST_b_SAMELAN" "$LAB_LAN_ROUTER_a" lb
    ip -n "$r" link set la master lan up
    ip -n "$r" link set lb master lan up
    return
  fi
  local spec side type loss router_var host_var
  for spec in "${specs[@]}"; do
    IFS=: read -r side type loss <<<"$spec"
    if [[ "$type" == open ]]; then
      _build_open_host "$name" "$side" "$loss"
      continue
    fi
    router_var=LAB_LAN_ROUTER_$side host_var=LAB_LAN_HOST_$side
    _build_router "$name" "$side" "$type" "$loss"
    _build_host "$name" "$side" "${!host_var}" "${!router_var}" lan
    ip -n "$(ns_name "$name" "r$side")" addr add "${!router_var}/$LAB_LAN_CIDR" dev lan
    ip -n "$(ns_name "$name" "r$side")" link set lan up
  done
}

# Writes the description the other subcommands (and the commands run in the lab) read.
# _write_state NAME SAME_LAN OWNER SIDE:TYPE:LOSS...
# TOPO_SIDES lists the sides (load_topology defaults it to "a b" for state written before sides
# c..h existed).
_write_state() {
  local name=$1 same_lan=$2 owner=$3
  shift 3
  local dir spec side type loss addr wan host_var wan_var type_a="" sides=""
  dir=$(state_dir "$name")
  mkdir -p "$dir" 2>/dev/null || mkdir -p "$dir" # a concurrent teardown may rmdir the empty root
  {
    echo "TOPO_NAME=$name"
    for spec in "$@"; do
      IFS=: read -r side type loss <<<"$spec"
      sides+="${sides:+ }$side"
      host_var=LAB_LAN_HOST_$side wan_var=LAB_WAN_IP_$side
      addr=${!host_var} wan=${!wan_var}
      [[ "$type" == open ]] && addr=$wan
      [[ $side == a ]] && type_a=$type
      if [[ $side == b ]] && ((same_lan)); then
        type=$type_a addr=$LAB_LAN_HOST_b_SAMELAN wan=$LAB_WAN_IP_a
      fi
      echo "TOPO_TYPE_$side=$type"
      echo "TOPO_LOSS_$side=$loss"
      echo "TOPO_ADDR_$side=$addr"
      echo "TOPO_WAN_$side=$wan"
    done
    echo "TOPO_SIDES='$sides'"
    echo "TOPO_SAME_LAN=$same_lan"
    echo "TOPO_OWNER=$owner"
    echo "TOPO_BUILDER=$$"
  } >"$dir/topology.env"
}

# topology_up NAME TYPE_A TYPE_B SAME_LAN LOSS_A LOSS_B OWNER [SIDE TYPE LOSS]...
# Sides after a and b (c, d, … in order, up to h) come as triples.
topology_up() {
  local name=$1 type_a=$2 type_b=$3 same_lan=$4 loss_a=$5 loss_b=$6 owner=$7
  shift 7
  local -a specs=("a:$type_a:$loss_a" "b:$type_b:$loss_b")
  local next=2
  while (($#)); do
    (($# >= 3)) || die "internal: topology_up takes extra sides as SIDE TYPE LOSS triples"
    [[ "$1" == "${LAB_SIDES[$next]:-}" ]] ||
      die "sides must follow a, b in order (next is '${LAB_SIDES[$next]:-none: at most ${#LAB_SIDES[@]} sides}', got '$1')"
    specs+=("$1:$2:$3")
    next=$((next + 1))
    shift 3
  done
  valid_name "$name" || die "bad topology name '$name' (letters, digits, _ and ., at most 32)"
  local spec side type loss
  for spec in "${specs[@]}"; do
    IFS=: read -r side type loss <<<"$spec"
    valid_type "$type" || die "unknown NAT type '$type' for side $side (types: ${LAB_NAT_TYPES[*]})"
  done
  ((same_lan)) && ((${#specs[@]} > 2)) &&
    die "--same-lan is a two-side feature (hosts a and b behind one router); not with side ${LAB_SIDES[2]} or more"
  ((same_lan)) && [[ "$type_a" == open ]] && die "--same-lan needs a NAT type for side a, not open"
  [[ -z "$(topology_namespaces "$name")" ]] || die "topology '$name' already exists (lab down $name)"
  _write_state "$name" "$same_lan" "$owner" "${specs[@]}"
  if ! (set -e; _build_topology "$name" "$same_lan" "${specs[@]}") >"$(state_dir "$name")/up.log" 2>&1; then
    local log
    log=$(cat "$(state_dir "$name")/up.log")
    topology_down "$name"
    die "bringing up '$name' failed: $log"
  fi
  local why
  for spec in "${specs[@]}"; do
    IFS=: read -r side type loss <<<"$spec"
    [[ $side == b ]] && ((same_lan)) && continue
    [[ "$type" == upnp ]] || continue
    if ! why=$(upnp_router_start "$name" "$side" 2>&1); then
      topology_down "$name"
      die "bringing up '$name' failed: $why"
    fi
  done
}

# Environment every command run inside a topology gets (documented in docs/lab.md).
topology_env() {
  local name=$1 node=$2
  load_topology "$name"
  local peer=""
  [[ "$node" == a ]] && peer=b
  [[ "$node" == b ]] && peer=a
  echo "LAB_NAME=$name"
  echo "LAB_NODE=$node"
  echo "LAB_SERVER_IP1=$LAB_SERVER_IP1"
  echo "LAB_SERVER_IP2=$LAB_SERVER_IP2"
  local side t a w
  for side in $TOPO_SIDES; do
    t="TOPO_TYPE_$side" a="TOPO_ADDR_$side" w="TOPO_WAN_$side"
    echo "LAB_TYPE_${side^^}=${!t}"
    echo "LAB_ADDR_${side^^}=${!a}"
    echo "LAB_WAN_IP_${side^^}=${!w}"
  done
  echo "LAB_SIDES=$TOPO_SIDES"
  echo "LAB_SAME_LAN=$TOPO_SAME_LAN"
  if [[ -z "$peer" && " $TOPO_SIDES " == *" $node "* ]]; then
    # Hosts c..h: their own side's values; no peer (LAB_PEER_* is the a/b pairing).
    t="TOPO_TYPE_$node" a="TOPO_ADDR_$node" w="TOPO_WAN_$node"
    echo "LAB_SIDE=$node"
    echo "LAB_TYPE=${!t}"
    echo "LAB_ADDR=${!a}"
    echo "LAB_WAN_IP=${!w}"
  fi
  if [[ -n "$peer" ]]; then
    local t="TOPO_TYPE_$node" a="TOPO_ADDR_$node" w="TOPO_WAN_$node"
    local pt="TOPO_TYPE_$peer" pa="TOPO_ADDR_$peer" pw="TOPO_WAN_$peer"
    echo "LAB_SIDE=$node"
    echo "LAB_PEER_SIDE=$peer"
    echo "LAB_TYPE=${!t}"
    echo "LAB_ADDR=${!a}"
    echo "LAB_WAN_IP=${!w}"
    echo "LAB_PEER_TYPE=${!pt}"
    echo "LAB_PEER_ADDR=${!pa}"
    echo "LAB_PEER_WAN_IP=${!pw}"
  fi
}

# topology_exec NAME NODE CMD...: runs CMD in the node's namespace with the LAB_* environment.
topology_exec() {
  local name=$1 node=$2
  shift 2
  local ns
  ns=$(ns_name "$name" "$node")
  [[ -n "$(topology_namespaces "$name")" ]] || die "no topology '$name' (see: lab list)"
  ns_exists "$ns" || die "topology '$name' has no node '$node' (nodes: $(topology_namespaces "$name" | sed "s/^${LAB_PREFIX}$name-//" | tr '\n' ' '))"
  local -a envs
  mapfile -t envs < <(topology_env "$name" "$node")
  ip netns exec "$ns" env "${envs[@]}" "$@"
}

# lab hosts NAME NODE 'IP NAME…'…: the node's own /etc/hosts (`ip netns exec` mounts
# /etc/netns/NS/hosts over /etc/hosts), so a name can resolve to several addresses inside the lab
# only. Removed with the topology.
topology_hosts() {
  local name=$1 node=$2 ns line
  shift 2
  ns=$(ns_name "$name" "$node")
  ns_exists "$ns" || die "topology '$name' has no node '$node'"
  mkdir -p "/etc/netns/$ns"
  {
    printf '127.0.0.1 localhost\n'
    for line in "$@"; do printf '%s\n' "$line"; done
  } >"/etc/netns/$ns/hosts"
}

topology_addr() {
  local name=$1 node=$2 ns
  ns=$(ns_name "$name" "$node")
  ns_exists "$ns" || die "topology '$name' has no node '$node'"
  ip -n "$ns" -4 -o addr show | awk '$2 != "lo" {sub(/\/.*/, "", $4); print $4}'
}

topology_list() {
  local name
  for name in $(topology_names); do
    if [[ -f "$(state_dir "$name")/topology.env" ]]; then
      (
        load_topology "$name"
        local side t l extra="" losses=""
        for side in $TOPO_SIDES; do
          t="TOPO_TYPE_$side" l="TOPO_LOSS_$side"
          losses+="${losses:+/}${!l}"
          [[ $side == a || $side == b ]] || extra+=" $side=${!t}"
        done
        printf '%-20s a=%-28s b=%-28s same_lan=%s loss=%s owner=%s%s\n' "$name" "$TOPO_TYPE_a" "$TOPO_TYPE_b" \
          "$TOPO_SAME_LAN" "$losses" "$TOPO_OWNER" "$extra"
      )
    else
      printf '%-20s (no state: stale, remove with lab cleanup %s)\n' "$name" "$name"
    fi
  done
}
