#!/bin/bash
# Does a tc guard on a pod veth (a clsact qdisc with ingress filters, the `tc` layouts of
# bench/e2e/guard-layouts.sh) cost the NFQUEUE its packets when the veth, a filter or the qdisc
# goes? The counterpart of bench/e2e/netdev-queue-flush.sh, same setup: in a namespace of its
# own, three UDP packets queued to NFQUEUE 0 and held there (bench/e2e/queue-floor.c, `hold`, binds the
# queue and never answers), then a veth with a clsact qdisc and u32 + bpf filters deleted, a
# filter deleted, a qdisc deleted, printing the queue's held packets after each step. A clsact
# qdisc is no netfilter hook, so none of these should call nf_queue_nf_hook_drop; the last step
# (a netdev chain's veth deleted) is the positive control that flushes.
#
#   bench/e2e/tc-queue-flush.sh        (root; needs cc, iptables, tc, nft)
#
# On 6.18 (2026-12-05): 3 held after every tc step, 0 after the control.
set -euo pipefail
N=pgtf$$
source "$(dirname "$0")/queue-hold-setup.sh"
guard() {
  $X tc qdisc add dev "$1" clsact
  $X tc filter add dev "$1" ingress pref 1 protocol ip u32 match ip src 10.0.0.1/32 classid :1
  $X tc filter add dev "$1" ingress pref 5 protocol ip bpf bytecode '1,6 0 0 2' da
}
send; held "3 packets queued"
$X ip link add vA type veth peer name pA; guard vA; held "a clsact qdisc with filters on veth vA"
$X ip link del vA; held "vA deleted"
$X ip link add vB type veth peer name pB; guard vB
$X tc filter del dev vB ingress pref 5; held "vB's drop filter deleted"
$X tc qdisc del dev vB clsact; held "vB's clsact qdisc deleted"
$X ip link add vC type veth peer name pC
$X nft -f - <<'R'
table netdev pgtf {
  chain c {
    type filter hook ingress device "vC" priority -500; policy accept;
  }
}
R
$X ip link del vC; held "control: veth vC with a netdev chain deleted"
