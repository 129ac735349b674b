#!/bin/bash
# Does a guard on the netdev ingress hook of a pod's veth cost the NFQUEUE its packets when the
# veth goes? (README, "Cost of source-address validation": why the agent's guard stays in
# PREROUTING.) In a namespace of its own: three UDP packets queued to NFQUEUE 0 and held there
# (bench/e2e/queue-floor.c, `hold`, binds the queue and never answers), then a veth deleted without and
# with a netdev base chain bound to it, printing the queue's held packets after each step.
#
#   bench/e2e/netdev-queue-flush.sh        (root; needs cc, iptables, nft)
#
# On 6.18: deleting a veth with no chain leaves the 3 held; deleting the one with a chain (the
# chain stays, unbound, and binds again to a veth recreated under the name) empties the queue:
# the device's unregistration unregisters the chain's hook, and any hook unregistration makes
# the kernel flush every queue of the namespace (nf_queue_nf_hook_drop), i.e. drop the new
# connections waiting for the agent's verdict, whichever pod they belong to.
set -euo pipefail
N=pgqf$$
source "$(dirname "$0")/queue-hold-setup.sh"
send; held "3 packets queued"
$X ip link add vA type veth peer name pA; $X ip link del vA
held "a veth with no chain deleted"
$X ip link add vB type veth peer name pB
$X nft -f - <<'R'
table netdev pgqf {
  chain c {
    type filter hook ingress device "vB" priority -500; policy accept;
  }
}
R
held "a netdev ingress chain bound to veth vB"
$X ip link del vB; held "vB deleted"
send; held "3 packets queued again"
$X ip link add vB type veth peer name pB; held "vB recreated (the chain binds to it again)"
$X nft list chain netdev pgqf c | grep -q 'device "vB"' && echo "the chain still names vB"
$X nft delete table netdev pgqf; held "the netdev table deleted"
