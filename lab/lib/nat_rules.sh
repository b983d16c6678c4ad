# shellcheck shell=bash
# The nftables rulesets that turn a router namespace into each NAT type (see docs/lab.md).
# Interfaces inside a router are always `wan` (towards the internet bridge) and `lan`.

# Port ranges the non-preserving types allocate from.
LAB_CONE_RANDOM_PORTS=20000-29999
LAB_NARROW_PORTS=30000-30255
LAB_SEQ_BASE=40000
LAB_SEQ_COUNT=1024

# Every router: drop unsolicited inbound on wan (input and forward), accept replies and what a
# NAT rule dnat'ed. Without this the router itself answers early probes, creates conntrack entries
# for those ports and later outbound mappings move to other ports (LAB-NOTES pitfall 1).
router_filter_rules() {
  local type=${1:-}
  # A upnp router: miniupnpd's STUN check gets answers from the server's other address and port
  # (RFC 5780 CHANGE-REQUEST), which are not replies in conntrack's sense.
  local stun_answers=""
  [[ "$type" == upnp ]] && stun_answers='iifname "wan" udp sport { 3478, 3479 } accept'
  cat <<EOF
table inet lab_filter {
  chain input {
    type filter hook input priority filter; policy accept;
    iifname "wan" ct state established,related accept
    $stun_answers
    iifname "wan" drop
  }
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname "wan" ct state established,related accept
    iifname "wan" ct status dnat accept
    iifname "wan" drop
  }
}
EOF
}

# Random loss of PCT % of the packets crossing the router's wan link (each direction), before NAT
# sees them. Keyed on wan so that LAN-to-LAN traffic of --same-lan (bridged, and seen by the hooks
# because this kernel has br_netfilter built in) is not affected.
router_loss_rules() {
  local pct=$1
  ((pct > 0)) || return 0
  cat <<EOF
table inet lab_loss {
  chain forward {
    type filter hook forward priority filter - 10; policy accept;
    iifname "wan" numgen random mod 100 < $pct drop
    oifname "wan" numgen random mod 100 < $pct drop
  }
}
EOF
}

# The same loss for a host that sits directly on the internet (type open): its own in/out traffic.
host_loss_rules() {
  local pct=$1
  ((pct > 0)) || return 0
  cat <<EOF
table inet lab_loss {
  chain input {
    type filter hook input priority filter - 10; policy accept;
    iifname "eth0" numgen random mod 100 < $pct drop
  }
  chain output {
    type filter hook output priority filter - 10; policy accept;
    oifname "eth0" numgen random mod 100 < $pct drop
  }
}
EOF
}

# Learning chain of the cone tricks: after source NAT (priority srcnat + 1), remember which inside
# endpoint a mapped port belongs to, keyed as the filtering rule needs it.
cone_learn_chain() {
  local element=$1
  cat <<EOF
  chain learn {
    type filter hook postrouting priority srcnat + 1; policy accept;
    oifname "wan" meta l4proto udp ct direction original ct status snat update $element
  }
EOF
}

# nat_rules TYPE WAN_IP: the `lab_nat` table for TYPE (empty for open).
nat_rules() {
  local type=$1 wan_ip=$2
  local post='type nat hook postrouting priority srcnat; policy accept;'
  local pre='type nat hook prerouting priority dstnat; policy accept;'
  case "$type" in
    open) ;;
    port-restricted-cone)
      # Linux keeps the inside port and reuses the mapping for every destination (EIM); conntrack
      # lets in only replies from the exact remote endpoint (APDF).
      cat <<EOF
table ip lab_nat {
  chain postrouting { $post
    oifname "wan" masquerade
  }
}
EOF
      ;;
    port-restricted-cone-random)
      # A port range makes the kernel pick a random port, then reuse it for the same inside
      # endpoint (find_appropriate_src): EIM without port preservation.
      cat <<EOF
table ip lab_nat {
  chain postrouting { $post
    oifname "wan" meta l4proto udp masquerade to :$LAB_CONE_RANDOM_PORTS
    oifname "wan" masquerade
  }
}
EOF
      ;;
    symmetric-random)
      # fully-random skips the reuse of an existing mapping: a fresh random port per flow (APDM).
      cat <<EOF
table ip lab_nat {
  chain postrouting { $post
    oifname "wan" masquerade fully-random
  }
}
EOF
      ;;
    upnp)
      # symmetric-random, except the router's own traffic (miniupnpd's STUN check) leaves with its
      # address and port unchanged; miniupnpd's dnat rules live in its own `table inet filter`.
      cat <<EOF
table ip lab_nat {
  chain postrouting { $post
    oifname "wan" ip saddr $wan_ip snat ip to $wan_ip
    oifname "wan" masquerade fully-random
  }
}
EOF
      ;;
    symmetric-random-narrow)
      cat <<EOF
table ip lab_nat {
  chain postrouting { $post
    oifname "wan" meta l4proto udp masquerade to :$LAB_NARROW_PORTS fully-random
    oifname "wan" masquerade fully-random
  }
}
EOF
      ;;
    symmetric-sequential)
      # The nat chain runs once per new flow; a counter picks the next port. (The `offset` form of
      # numgen byte-swaps ports, hence the explicit map.)
      local map="" i
      for ((i = 0; i < LAB_SEQ_COUNT; i++)); do map+="${map:+, }$i : $((LAB_SEQ_BASE + i))"; done
      cat <<EOF
table ip lab_nat {
  chain postrouting { $post
    oifname "wan" meta l4proto udp snat ip to $wan_ip : numgen inc mod $LAB_SEQ_COUNT map { $map }
    oifname "wan" masquerade
  }
}
EOF
      ;;
    symmetric-preserve-first)
      # The first flow of an inside endpoint keeps its port; later flows get random ports.
      cat <<EOF
table ip lab_nat {
  set seen {
    type ipv4_addr . inet_service; flags dynamic, timeout; timeout 10m;
  }
  chain postrouting { $post
    oifname "wan" meta l4proto udp ip saddr . udp sport @seen masquerade fully-random
    oifname "wan" meta l4proto udp update @seen { ip saddr . udp sport } masquerade
    oifname "wan" masquerade
  }
}
EOF
      ;;
    full-cone)
      # EIM masquerade plus a learned map mapped-port -> inside endpoint; any remote reaching the
      # mapped port is forwarded inside (EIF).
      cat <<EOF
table ip lab_nat {
  map fc {
    type inet_service : ipv4_addr . inet_service; flags dynamic, timeout; timeout 10m;
  }
  chain postrouting { $post
    oifname "wan" masquerade
  }
$(cone_learn_chain '@fc { udp sport : ct original ip saddr . ct original proto-src }')
  chain prerouting { $pre
    iifname "wan" meta l4proto udp dnat ip to udp dport map @fc
  }
}
EOF
      ;;
    restricted-cone)
      # As full cone, but the map is keyed on (mapped port, remote IP): any port of a remote
      # address the inside endpoint has sent to gets in (ADF).
      cat <<EOF
table ip lab_nat {
  map rc {
    type inet_service . ipv4_addr : ipv4_addr . inet_service; flags dynamic, timeout; timeout 10m;
  }
  chain postrouting { $post
    oifname "wan" masquerade
  }
$(cone_learn_chain '@rc { udp sport . ip daddr : ct original ip saddr . ct original proto-src }')
  chain prerouting { $pre
    iifname "wan" meta l4proto udp dnat ip to udp dport . ip saddr map @rc
  }
}
EOF
      ;;
    *) die "unknown NAT type '$type'" ;;
  esac
}


# The table miniupnpd adds its rules to (it creates none itself; Debian's nft_init.sh is broken).
# Names are miniupnpd's defaults: table `filter` (family inet) with chains miniupnpd,
# prerouting_miniupnpd, postrouting_miniupnpd.
miniupnpd_table_rules() {
  cat <<'EOF2'
table inet filter {
  chain miniupnpd { }
  chain prerouting_miniupnpd { }
  chain postrouting_miniupnpd { }
  chain forward {
    type filter hook forward priority -10; policy accept;
    jump miniupnpd
  }
  chain prerouting {
    type nat hook prerouting priority dstnat - 10; policy accept;
    jump prerouting_miniupnpd
  }
  chain postrouting {
    type nat hook postrouting priority srcnat - 10; policy accept;
    jump postrouting_miniupnpd
  }
}
EOF2
}
