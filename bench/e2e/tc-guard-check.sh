#!/bin/bash
# Do the tc layouts of bench/e2e/guard-layouts.sh guard? In a pod a -- node -- pod b chain of
# namespaces of its own (pgtc<pid>a/n/b, routed /32 and /128 per veth as the bench, IPv6 through
# the node's link-local address, so ND must pass the filters), the layout's filters on both pod
# veths (the bench's tc_guard, tc_sink), then pod a sends UDP datagrams to b from its own IPv4 and
# IPv6 address and from a second address of each family it is not allowed (forged; a raw socket
# is not needed: the filters see only the source). Prints what b received and what the node
# counted, and fails unless exactly the own sources arrived and every forged one was counted.
#
#   bench/e2e/tc-guard-check.sh [LAYOUT...]     (root; default: tc tc-bpf tc-sink)
set -uo pipefail
B=$(dirname "$0")/guard-layouts.sh
hexw() { printf '%d' "0x$1"; }
# shellcheck source=/dev/null
source <(sed -n '/^tc_sink()/,/^}$/p;/^tc_guard()/,/^}$/p' "$B")
N=pgtc$$
cleanup() { for s in a n b; do ip netns del "$N$s" 2>/dev/null; done; }
trap cleanup EXIT
py() { ip netns exec "$1" python3 -c '
import socket, sys, time
if sys.argv[1] == "recv":
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", 7000)); s.settimeout(2); got = set()
    try:
        while True: got.add(s.recvfrom(100)[1][0].removeprefix("::ffff:"))
    except socket.timeout: pass
    print(" ".join(sorted(got)))
else:
    for _ in range(3):
        for pair in sys.argv[2:]:
            src, dst = pair.split(",")
            s = socket.socket(socket.AF_INET6 if ":" in dst else socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((src, 0)); s.sendto(b"x", (dst, 7000)); s.close()
        time.sleep(0.3)
' "${@:2}"; }
fail=0
for L in "${@:-tc tc-bpf tc-sink}"; do
  for l in $L; do
    cleanup
    for s in a n b; do ip netns add "$N$s"; ip -n "$N$s" link set lo up; done
    ip netns exec "${N}n" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
    [ "$l" = tc-sink ] && tc_sink "${N}n"
    for p in a b; do
      ip4=10.97.0.$([ $p = a ] && echo 1 || echo 2); ip6=fd97::$([ $p = a ] && echo 1 || echo 2)
      ip link add "$N$p" netns "${N}n" type veth peer name eth0 netns "$N$p"
      ip -n "$N$p" addr add $ip4/32 dev eth0; ip -n "$N$p" addr add $ip6/128 dev eth0 nodad
      ip -n "$N$p" link set eth0 up; ip -n "${N}n" link set "$N$p" up
      ip -n "${N}n" addr add 169.254.1.1/32 dev "$N$p"
      ip -n "$N$p" route add 169.254.1.1 dev eth0; ip -n "$N$p" route add default via 169.254.1.1 dev eth0
      ip -n "${N}n" route add $ip4/32 dev "$N$p"; ip -n "${N}n" route add $ip6/128 dev "$N$p"
      tc_guard "$l" "${N}n" "$N$p" $ip4 $ip6
    done
    # The node's link-local addresses leave DAD (tentative) before they can be a route's gateway.
    for _ in $(seq 50); do [ -z "$(ip -n "${N}n" -6 addr show tentative)" ] && break; sleep 0.1; done
    for p in a b; do
      ll=$(ip -n "${N}n" -6 addr show dev "$N$p" scope link | awk '/inet6/{print $2}' | cut -d/ -f1)
      ip -n "$N$p" -6 route add default via "$ll" dev eth0
    done
    ip -n "${N}a" addr add 10.97.0.9/32 dev eth0; ip -n "${N}a" addr add fd97::9/128 dev eth0 nodad
    py "${N}b" recv > "/tmp/$N.got" & sleep 0.3
    py "${N}a" send 10.97.0.1,10.97.0.2 10.97.0.9,10.97.0.2 fd97::1,fd97::2 fd97::9,fd97::2
    wait
    got=$(cat "/tmp/$N.got"); rm -f "/tmp/$N.got"
    if [ "$l" = tc-sink ]; then
      mac=$(ip -n "${N}a" -j link show eth0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')
      counted=$(ip netns exec "${N}n" nft list table netdev palisade-sink | grep -c "$mac . \(10.97.0.9\|fd97::9\)")
      want=2 what="(pod MAC, forged) pairs in the sink's sets"
    else
      counted=$(ip netns exec "${N}n" tc -s -j qdisc show dev "${N}a" ingress | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["drops"])')
      want=6 what="drops of a's qdisc"
    fi
    ok=PASS
    [ "$got" = "10.97.0.1 fd97::1" ] && [ "$counted" = $want ] || { ok=FAIL; fail=1; }
    printf '%-8s %s  b received from: %s; %s: %s (want %s)\n' "$l" $ok "$got" "$what" "$counted" $want
  done
done
exit $fail
