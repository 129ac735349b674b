#!/bin/bash
# Kernel cost of the source guard's layouts (src/enforce/nft-guard.ts, src/enforce/spoof-guard.ts),
# without the agent: what bench:e2e's nfqueue/nfqueue-noguard ratio cannot resolve on a loaded
# machine.
#
#   bench/e2e/guard-layouts.sh [ROUNDS]        (root; needs perf, cc, iptables-nft, ipset, nft)
#   LAYOUTS="new nft" bench/e2e/guard-layouts.sh 5     (a subset; the default runs every layout)
#
# Per layout, a pod a -- node -- pod b chain of namespaces (pgl<i>a/n/b, routed /32 per veth like
# the lab and kind's ptp CNI, no conntrack, no other rules), the IPv4 guard of that layout in the
# node (raw table, nft table at raw priority, or tc filters), and bench/e2e/loadgen.c opening connections a -> b for 5 s while
# `perf record -a -g` samples the machine. Printed per round and layout: guard share = samples
# under nf_hook_slow or tc_run (only the guard hooks anything here) / all samples of the load generator's processes
# (client and server; the forwarding runs in their softirq context), i.e. the share of the
# path's CPU spent in the guard (plus the self shares of __netif_receive_skb_core and ip_rcv,
# where the clsact and netfilter hooks' inlined entries sit, to compare with none). Other load
# on the machine does not enter the ratio; the agent and conntrack, which bench:e2e adds to the
# path, are missing, so its share there is smaller.
# Layouts, interleaved in every round: none; old (a commented iptables hook jumping into a chain
# that starts with the honest-pair RETURN); new (the iptables/ipset layout the agent falls back
# to: the honest check `-m set ! --match-set` in the hook rule itself); nft (the agent's earlier
# single table: an inet prerouting chain at raw priority whose first rule is the honest-pair
# lookup `iifname . ip saddr @src4`, IPv6 rules included); nft-ip (the same in a table of family
# ip, IPv4 rules only); nft-iif (inet, honest pairs keyed by interface index `iif`);
# nft-ip-iif (both: a table of family ip keyed by `iif`, the IPv4 table the agent installs,
# nftGuardRuleset()). The iif layouts key only the honest pairs by index, as the agent does
# (podif and forged stay by name; honest packets never reach them). nft-ip-iif-hash: nft-ip-iif
# with the honest pairs' set declared with a size (the kernel's fixed-size hash instead of its
# rhashtable); nft-ip-vmap: PREROUTING, but a verdict map on the index jumping to a chain per pod
# that compares the source with its addresses. netdev: a netdev table with a base chain on the
# ingress hook of each pod's veth comparing the source with its pod's addresses, so only what pods
# send runs a guard (see bench/e2e/netdev-queue-flush.sh for what it costs when a veth goes);
# netdev-set: one ingress chain on all pod veths (`devices = {...}`) with the `iif . ip saddr`
# lookup; netdev-noif: netdev plus the PREROUTING chain that fail-closed for a pod whose
# interface is not found yet would still need (its set empty).
# tc layouts (not a netfilter hook: removing one unregisters none, see
# bench/e2e/tc-queue-flush.sh): an ingress qdisc on each pod's host-side veth with filters
# that pass the pod's own IPv4/IPv6 address, pass IPv6 fe80::/10 and ::, leave non-IP (ARP) alone
# and drop every other IP packet, counted in the qdisc's drops. This kernel (6.18 here) has the
# u32 and bpf classifiers but no flower, matchall or gact, so a drop is a classic BPF program in
# direct-action mode returning TC_ACT_SHOT. tc: one u32 filter per passed address (the honest
# IPv4 one first, terminal by classid: it returns TC_ACT_OK without running an action), a
# drop-all program per family behind them; tc-bpf: one classic BPF program per veth (cls_bpf,
# JITed, direct-action) doing every comparison; tc-sink (the agent's layout, src/enforce/tc-guard.ts): tc, but what the u32 filters do not
# pass is redirected (mirred) into the ingress of a sink veth of the node, where one netdev chain
# bound to the sink records (pod MAC, forged source) in a dynamic set and drops it: a way to
# learn forged addresses without a hook on the pod veths or in PREROUTING (the count per pod
# veth is the mirred action's); tc-noif: tc plus the PREROUTING chain that
# fail-closed for a pod whose interface is not found would need (as netdev-noif). Their share
# is the samples under tc_run (the clsact ingress hook) instead of (tc-noif: plus) nf_hook_slow.
# Softirq work of other namespaces (other tests on the machine) that runs while the load
# generator is on the CPU is charged to it: a round where a few rules take over 5 % is such a
# collision, not the layout; leave those rounds out, and a 0.0 % of a guarded layout or a 0.00 %
# self share (perf report now and then gives nothing for a round under load).
#
# LOAD=bulk measures throughput instead: per round and layout one iperf3 stream a -> b for
# BULK_SECONDS (default 4), layouts interleaved (order rotated every round), then a JSON summary:
# per layout the median Gbit/s, the median of its per-round ratio to none's, and the median guard
# share of the transfer's CPU (perf, as above, over iperf3's processes). The layout none2
# is a second, identical none: its ratio is the harness's own noise floor (an A/A control), e.g.
#   LOAD=bulk LAYOUTS="none none2 tc-sink" bench/e2e/guard-layouts.sh 15
set -euo pipefail
ROUNDS=${1:-3}
LOAD=${LOAD:-conn}
BULK_SECONDS=${BULK_SECONDS:-4}
D=$(mktemp -d)
# A name of its own: bench:e2e's load generator (also loadgen.c) must not enter the ratio.
cc -O2 -pthread -o "$D/glayload" "$(dirname "$0")/loadgen.c"
LAYOUTS=(${LAYOUTS:-none old new nft nft-ip nft-iif nft-ip-iif nft-ip-iif-hash nft-ip-vmap netdev netdev-set netdev-noif tc tc-bpf tc-sink tc-noif})
cleanup() {
  for p in "$D"/srv*.pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null || true; done
  for i in "${!LAYOUTS[@]}"; do for s in a n b; do ip netns del "pgl$i$s" 2>/dev/null || true; done; done
  rm -rf "$D"
}
trap cleanup EXIT

# The native table of an nft* layout for chain $2 (nft-ip-iif: the IPv4 table src/enforce/nft-guard.ts writes).
nft_table() {
  local l=$1 i=$2 fam=inet key=iifname ktype=ifname size=
  case $l in nft-ip|nft-ip-iif|nft-ip-iif-hash) fam=ip ;; esac
  case $l in nft-iif|nft-ip-iif|nft-ip-iif-hash) key=iif ktype=iface_index ;; esac
  # A set declared with a size gets the kernel's fixed-size hash, without one its resizable
  # rhashtable (nft_select_set_ops: nft_hash needs desc->size).
  case $l in *-hash) size=" size 65536;" ;; esac
  # podif and forged by name in every layout (only the honest pairs' key differs).
  echo "table $fam palisade-guard {"
  echo "  set src4 { type $ktype . ipv4_addr;$size elements = { \"pgl${i}a\" . 10.98.$i.1, \"pgl${i}b\" . 10.98.$i.2 } }"
  echo "  set podif { type ifname; counter; elements = { \"pgl${i}a\", \"pgl${i}b\" } }"
  echo "  set noif4 { type ipv4_addr; counter; }"
  echo "  set forged4 { type ifname . ipv4_addr; size 4096; flags dynamic,timeout; timeout 300s; }"
  if [ $fam = inet ]; then
    echo "  set src6 { type $ktype . ipv6_addr; }"
    echo "  set noif6 { type ipv6_addr; counter; }"
    echo "  set forged6 { type ifname . ipv6_addr; size 4096; flags dynamic,timeout; timeout 300s; }"
  fi
  echo "  chain prerouting { type filter hook prerouting priority raw; policy accept;"
  echo "    $key . ip saddr @src4 accept"
  [ $fam = inet ] && echo "    $key . ip6 saddr @src6 accept"
  echo "    jump check"
  echo "  }"
  echo "  chain check {"
  [ $fam = inet ] && echo "    ip6 saddr fe80::/10 return; ip6 saddr :: return"
  echo "    ip saddr @noif4 drop"
  [ $fam = inet ] && echo "    ip6 saddr @noif6 drop"
  echo "    iifname @podif jump spoofed"
  echo "  }"
  echo "  chain spoofed {"
  echo "    update @forged4 { iifname . ip saddr }"
  [ $fam = inet ] && echo "    update @forged6 { iifname . ip6 saddr }"
  echo "    drop"
  echo "  }"
  echo "}"
}

# The netdev layouts: the guard on the ingress hook of each pod's host-side veth, so only what a
# pod sends runs it. netdev: a base chain per veth whose rules name its pod's addresses;
# netdev-set: one base chain on all of them (`devices = { ... }`) with the honest-pair lookup
# `iif . ip saddr @src4`. IPv6 rules included (they follow the IPv4 accept).
netdev_table() {
  local l=$1 i=$2
  echo "table netdev palisade-guard {"
  echo "  set forged4 { type ifname . ipv4_addr; size 4096; flags dynamic,timeout; timeout 300s; }"
  echo "  set forged6 { type ifname . ipv6_addr; size 4096; flags dynamic,timeout; timeout 300s; }"
  if [ "$l" != netdev-set ]; then
    for p in a b; do
      echo "  chain pod-pgl$i$p { type filter hook ingress device \"pgl$i$p\" priority -500; policy accept;"
      echo "    ip saddr 10.98.$i.$([ $p = a ] && echo 1 || echo 2) accept"
      echo "    ip6 saddr fd98::$i:$([ $p = a ] && echo 1 || echo 2) accept"
      echo "    ip6 saddr fe80::/10 accept; ip6 saddr :: accept"
      echo "    meta protocol ip update @forged4 { iifname . ip saddr } counter drop"
      echo "    meta protocol ip6 update @forged6 { iifname . ip6 saddr } counter drop"
      echo "  }"
    done
  else
    echo "  set src4 { type iface_index . ipv4_addr; elements = { \"pgl${i}a\" . 10.98.$i.1, \"pgl${i}b\" . 10.98.$i.2 } }"
    echo "  set src6 { type iface_index . ipv6_addr; }"
    echo "  chain pods { type filter hook ingress devices = { \"pgl${i}a\", \"pgl${i}b\" } priority -500; policy accept;"
    echo "    iif . ip saddr @src4 accept"
    echo "    iif . ip6 saddr @src6 accept"
    echo "    ip6 saddr fe80::/10 accept; ip6 saddr :: accept"
    echo "    meta protocol ip update @forged4 { iifname . ip saddr } counter drop"
    echo "    meta protocol ip6 update @forged6 { iifname . ip6 saddr } counter drop"
    echo "  }"
  fi
  echo "}"
}

# nft-ip-vmap: PREROUTING at raw priority as the agent's table, but the honest check the netdev
# way: a verdict map keyed by interface index (4 bytes, declared with a size: the kernel's
# fast hash) jumps to the pod's own chain, which compares the source with its addresses.
# Other interfaces miss the map and meet the name-keyed podif rule (fail-closed for a
# recreated veth) and noif.
vmap_table() {
  local i=$1
  echo "table ip palisade-guard {"
  echo "  set podif { type ifname; counter; elements = { \"pgl${i}a\", \"pgl${i}b\" } }"
  echo "  set noif4 { type ipv4_addr; counter; }"
  echo "  set forged4 { type ifname . ipv4_addr; size 4096; flags dynamic,timeout; timeout 300s; }"
  echo "  chain spoofed {"
  echo "    update @forged4 { iifname . ip saddr } counter drop"
  echo "  }"
  for p in a b; do
    echo "  chain pod-pgl$i$p {"
    echo "    ip saddr 10.98.$i.$([ $p = a ] && echo 1 || echo 2) accept"
    echo "    goto spoofed"
    echo "  }"
  done
  echo "  map pods4 { type iface_index : verdict; size 65536; elements = { \"pgl${i}a\" : jump pod-pgl${i}a, \"pgl${i}b\" : jump pod-pgl${i}b } }"
  echo "  chain prerouting { type filter hook prerouting priority raw; policy accept;"
  echo "    iif vmap @pods4"
  echo "    ip saddr @noif4 drop"
  echo "    iifname @podif jump spoofed"
  echo "  }"
  echo "}"
}

# A word of an IPv4/IPv6 address as the unsigned number classic BPF compares with.
hexw() { printf '%d' "0x$1"; }
# tc-sink's sink in node namespace $1: a veth pair (this kernel has no dummy driver; the peer
# sends no IPv6 of its own) and one netdev chain bound to it recording (pod MAC, forged source).
tc_sink() {
  ip -n "$1" link add pglsink type veth peer name pglsinkp
  ip netns exec "$1" sysctl -qw net.ipv6.conf.pglsinkp.disable_ipv6=1 net.ipv6.conf.pglsink.disable_ipv6=1
  ip -n "$1" link set pglsink up; ip -n "$1" link set pglsinkp up
  printf '%s\n' "table netdev palisade-sink {" \
    "  set forged4 { type ether_addr . ipv4_addr; size 4096; flags dynamic,timeout; timeout 300s; }" \
    "  set forged6 { type ether_addr . ipv6_addr; size 4096; flags dynamic,timeout; timeout 300s; }" \
    "  chain in { type filter hook ingress device \"pglsink\" priority -500; policy drop;" \
    "    meta protocol ip update @forged4 { ether saddr . ip saddr } counter drop" \
    "    meta protocol ip6 update @forged6 { ether saddr . ip6 saddr } counter drop" "  }" "}" | ip netns exec "$1" nft -f -
}
# The tc layouts on pod veth $3 (pod IPv4 $4, IPv6 $5) of node namespace $2.
tc_guard() {
  local l=$1 R=$2 dev=$3 ip4=$4 ip6=$5 T="ip netns exec $2 tc"
  # The ingress qdisc, as the agent (src/enforce/tc-guard.ts): clsact would hook egress too.
  $T qdisc add dev "$dev" ingress
  case $l in
    tc)
      $T filter add dev "$dev" ingress pref 1 protocol ip u32 match ip src "$ip4/32" classid :1
      $T filter add dev "$dev" ingress pref 2 protocol ipv6 u32 match ip6 src "$ip6/128" classid :1
      $T filter add dev "$dev" ingress pref 3 protocol ipv6 u32 match ip6 src fe80::/10 classid :1
      $T filter add dev "$dev" ingress pref 4 protocol ipv6 u32 match ip6 src ::/128 classid :1
      $T filter add dev "$dev" ingress pref 5 protocol ip bpf bytecode '1,6 0 0 2' da
      $T filter add dev "$dev" ingress pref 6 protocol ipv6 bpf bytecode '1,6 0 0 2' da ;;
    tc-sink)
      $T filter add dev "$dev" ingress pref 1 protocol ip u32 match ip src "$ip4/32" classid :1
      $T filter add dev "$dev" ingress pref 2 protocol ipv6 u32 match ip6 src "$ip6/128" classid :1
      $T filter add dev "$dev" ingress pref 3 protocol ipv6 u32 match ip6 src fe80::/10 classid :1
      $T filter add dev "$dev" ingress pref 4 protocol ipv6 u32 match ip6 src ::/128 classid :1
      $T filter add dev "$dev" ingress pref 5 protocol ip u32 match u32 0 0 action mirred ingress redirect dev pglsink
      $T filter add dev "$dev" ingress pref 6 protocol ipv6 u32 match u32 0 0 action mirred ingress redirect dev pglsink ;;
    tc-bpf)
      # cls_bpf runs the program from the Ethernet header at ingress: IPv4 saddr at 26, IPv6 at 22.
      local a b c d w; IFS=. read -r a b c d <<<"$ip4"; w=$(( (a << 24) | (b << 16) | (c << 8) | d ))
      local x; x=$(python3 -c "import ipaddress,sys; print(ipaddress.IPv6Address(sys.argv[1]).exploded.replace(':',''))" "$ip6")
      local w0 w1 w2 w3; w0=$(hexw "${x:0:8}") w1=$(hexw "${x:8:8}") w2=$(hexw "${x:16:8}") w3=$(hexw "${x:24:8}")
      # 0 ld proto; 1 ipv4?; 2-3 saddr == own: pass, else drop; 4 ipv6? else pass; 5-12 saddr ==
      # own: pass; 13-20 saddr == ::: pass; 21-22 fe80::/10: pass; 23 pass (TC_ACT_OK); 24 drop
      # (TC_ACT_SHOT).
      local prog="25,32 0 0 4294963200,21 0 2 2048,32 0 0 26,21 19 20 $w,21 0 18 34525"
      prog+=",32 0 0 22,21 0 6 $w0,32 0 0 26,21 0 4 $w1,32 0 0 30,21 0 2 $w2,32 0 0 34,21 10 0 $w3"
      prog+=",32 0 0 22,21 0 6 0,32 0 0 26,21 0 7 0,32 0 0 30,21 0 5 0,32 0 0 34,21 2 3 0"
      prog+=",84 0 0 4290772992,21 0 1 4269801472,6 0 0 0,6 0 0 2"
      $T filter add dev "$dev" ingress pref 1 protocol all bpf bytecode "$prog" da ;;
  esac
}

for i in "${!LAYOUTS[@]}"; do
  R=pgl${i}n
  for ns in pgl${i}a $R pgl${i}b; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
  ip netns exec $R sysctl -qw net.ipv4.ip_forward=1
  for p in a b; do
    ns=pgl$i$p; hv=pgl$i$p; ip4=10.98.$i.$([ $p = a ] && echo 1 || echo 2)
    ip link add "$hv" netns $R type veth peer name eth0 netns "$ns"
    ip -n "$ns" addr add $ip4/32 dev eth0; ip -n "$ns" link set eth0 up; ip -n $R link set "$hv" up
    ip -n $R addr add 169.254.1.1/32 dev "$hv"
    ip -n "$ns" route add 169.254.1.1 dev eth0; ip -n "$ns" route add default via 169.254.1.1 dev eth0
    ip -n $R route add $ip4/32 dev "$hv"
  done
  X="ip netns exec $R"
  case ${LAYOUTS[$i]} in tc-sink) tc_sink $R ;; esac
  case ${LAYOUTS[$i]} in tc*)
    l=${LAYOUTS[$i]%-noif}; tc_guard $l $R pgl${i}a 10.98.$i.1 fd98::$i:1; tc_guard $l $R pgl${i}b 10.98.$i.2 fd98::$i:2 ;;
  esac
  case ${LAYOUTS[$i]} in
    nft-ip-vmap) vmap_table "$i" | $X nft -f - ;;
    nft*) nft_table "${LAYOUTS[$i]}" "$i" | $X nft -f - ;;
    netdev*) netdev_table "${LAYOUTS[$i]}" "$i" | $X nft -f - ;;
  esac
  # netdev-noif: plus what fail-closed for a pod whose interface is not found yet needs where
  # no device can be named: a PREROUTING chain dropping those pods' addresses (set empty here).
  case ${LAYOUTS[$i]} in
    netdev-noif|tc-noif) printf '%s\n' "table ip palisade-guard {" "  set noif4 { type ipv4_addr; counter; }" \
      "  chain prerouting { type filter hook prerouting priority raw; policy accept;" "    ip saddr @noif4 drop" "  }" "}" | $X nft -f - ;;
  esac
  if [ "${LAYOUTS[$i]}" = old ] || [ "${LAYOUTS[$i]}" = new ]; then
    $X ipset restore <<S
create PALISADE-SRC4 hash:net,iface family inet
create PALISADE-PODIF4 hash:net,iface family inet counters
create PALISADE-NOIF4 hash:net family inet counters
create PALISADE-FORGED4 hash:net,iface family inet timeout 300 maxelem 4096
add PALISADE-SRC4 10.98.$i.1,pgl${i}a
add PALISADE-SRC4 10.98.$i.2,pgl${i}b
add PALISADE-PODIF4 0.0.0.0/0,pgl${i}a
add PALISADE-PODIF4 0.0.0.0/0,pgl${i}b
S
  fi
  case ${LAYOUTS[$i]} in
    old) hook='-m comment --comment "palisade: pod source-address validation" -j PALISADE-SPOOF'
         first='-A PALISADE-SPOOF -m set --match-set PALISADE-SRC4 src,src -j RETURN' ;;
    new) hook='-m set ! --match-set PALISADE-SRC4 src,src -j PALISADE-SPOOF'; first='' ;;
  esac
  if [ "${LAYOUTS[$i]}" = old ] || [ "${LAYOUTS[$i]}" = new ]; then
    $X iptables-nft-restore -n <<R
*raw
:PALISADE-SPOOF - [0:0]
:PALISADE-SPOOFED - [0:0]
$first
-A PALISADE-SPOOF -m set --match-set PALISADE-NOIF4 src -j DROP
-A PALISADE-SPOOF -m set --match-set PALISADE-PODIF4 src,src -j PALISADE-SPOOFED
-A PALISADE-SPOOFED -j SET --add-set PALISADE-FORGED4 src,src --exist
-A PALISADE-SPOOFED -j DROP
-I PREROUTING 1 $hook
COMMIT
R
  fi
  ip netns exec pgl${i}b "$D/glayload" serve 8080 2 >/dev/null 2>&1 & echo $! > "$D/srv$i.pid"
  [ "$LOAD" = bulk ] && { ip netns exec pgl${i}b iperf3 -s -p 5201 >/dev/null 2>&1 & echo $! > "$D/srvi$i.pid"; }
done
sleep 0.5

if [ "$LOAD" = bulk ]; then
  n=${#LAYOUTS[@]}
  : > "$D/bulk.txt"
  for r in $(seq 1 "$ROUNDS"); do
    for k in $(seq 0 $((n - 1))); do
      i=$(( (k + r) % n ))
      ip netns exec pgl${i}a iperf3 -c 10.98.$i.2 -p 5201 -t "$BULK_SECONDS" -J > "$D/iperf.json" &
      sleep 0.5
      perf record -q -a -g -o "$D/perf.data" -- sleep $((BULK_SECONDS - 1)) >/dev/null 2>&1
      wait $!
      g=$(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"]/1e9, 3))' "$D/iperf.json")
      # The guard's share of the transfer's CPU: samples under tc_run / all samples of iperf3
      # (client and server; the forwarding runs in their softirq context), as the conn load's.
      lg=$(perf report -i "$D/perf.data" --sort comm --stdio -g none 2>/dev/null | awk '$3=="iperf3"{print $1+0}')
      gh=$(perf report -i "$D/perf.data" --comm iperf3 --children --sort sym --stdio -g none 2>/dev/null | awk '$4=="nf_hook_slow"||$4=="tc_run"{s+=$1}END{print s+0}')
      sh=$(awk -v lg="${lg:-0}" -v gh="${gh:-0}" 'BEGIN { printf "%.2f", (lg > 0 ? 100 * gh / lg : 0) }')
      echo "round $r ${LAYOUTS[$i]} $g Gbit/s, guard share $sh %" >&2
      echo "$r ${LAYOUTS[$i]} $g $sh" >> "$D/bulk.txt"
    done
  done
  python3 - "$D/bulk.txt" "$BULK_SECONDS" <<'PY'
import json, statistics, sys, os
rows = [l.split() for l in open(sys.argv[1])]
by = {}
share = {}
for r, l, g, sh in rows:
    by.setdefault(l, {})[int(r)] = float(g)
    share.setdefault(l, []).append(float(sh))
none = by.get('none', {})
out = {}
for l, v in by.items():
    ratios = [v[r] / none[r] for r in v if r in none and none[r] > 0]
    out[l] = {'medianGbps': round(statistics.median(v.values()), 3),
              'medianRatioToNone': round(statistics.median(ratios), 4) if ratios else None,
              'medianGuardSharePercent': round(statistics.median(share[l]), 2),
              'ratios': sorted(round(x, 3) for x in ratios)}
print(json.dumps({'bench': 'guard-layouts', 'load': 'bulk', 'rounds': len(set(r for r, _, _, _ in rows)),
                  'secondsPerSample': float(sys.argv[2]), 'loadavg': os.getloadavg(), 'layouts': out}, indent=2))
PY
  exit 0
fi

for r in $(seq 1 "$ROUNDS"); do
  for i in "${!LAYOUTS[@]}"; do
    ip netns exec pgl${i}a "$D/glayload" conn 10.98.$i.2 8080 4 5 > "$D/out.json" &
    sleep 0.5
    perf record -q -a -g -o "$D/perf.data" -- sleep 4 >/dev/null 2>&1
    wait $!
    lg=$(perf report -i "$D/perf.data" --sort comm --stdio -g none 2>/dev/null | awk '$3=="glayload"{print $1+0}')
    # The guard's hook: nf_hook_slow (netfilter) and tc_run (clsact ingress); one has samples (tc-noif: both).
    gh=$(perf report -i "$D/perf.data" --comm glayload --children --sort sym --stdio -g none 2>/dev/null | awk '$4=="nf_hook_slow"||$4=="tc_run"{s+=$1}END{print s+0}')
    # What the hooks' inlined entry leaves in their callers (self samples): the clsact hook's
    # sch_handle_ingress is inlined in __netif_receive_skb_core, the netfilter hook's test in
    # ip_rcv; compare a layout's with none's to see what tc_run or nf_hook_slow leaves out.
    rx=$(perf report -i "$D/perf.data" --comm glayload --no-children --sort sym --stdio -g none 2>/dev/null | awk '$3=="__netif_receive_skb_core.constprop.0"||$3=="__netif_receive_skb_core"{a+=$1} $3=="ip_rcv"{b+=$1} END{print a+0, b+0}')
    awk -v r="$r" -v l="${LAYOUTS[$i]}" -v lg="${lg:-0}" -v gh="${gh:-0}" -v rx="$rx" -v c="$(grep -o '"connections":[0-9]*' "$D/out.json" | cut -d: -f2)" \
      'BEGIN { s = 0; a = 0; b = 0; split(rx, x, " "); if (lg > 0) { s = 100 * gh / lg; a = 100 * x[1] / lg; b = 100 * x[2] / lg }
               printf "round %d %-10s guard share %.1f %% (%d connections; self rx core %.2f %%, ip_rcv %.2f %%)\n", r, l, s, c, a, b }'
  done
done
