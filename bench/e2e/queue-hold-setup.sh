# Sourced by bench/e2e/netdev-queue-flush.sh and tc-queue-flush.sh (set N to a namespace name
# first): a namespace of its own whose UDP packets to 127.0.0.1:9999 go to NFQUEUE 0, where
# bench/e2e/queue-floor.c (`hold`) binds the queue and never answers, so they stay held. Gives X (run in
# the namespace), send (three packets queued) and held LABEL (prints the queue's held count).
D=$(mktemp -d)
X="ip netns exec $N"
cc -O2 -o "$D/hold" "$(dirname "${BASH_SOURCE[0]}")/queue-floor.c"
cleanup() { [ -n "${H:-}" ] && kill "$H" 2>/dev/null; ip netns del "$N" 2>/dev/null || true; rm -rf "$D"; }
trap cleanup EXIT
ip netns add "$N"; $X ip link set lo up
$X iptables -A OUTPUT -p udp --dport 9999 -j NFQUEUE --queue-num 0
$X "$D/hold" 0 hold > "$D/bound" & H=$!
for _ in $(seq 50); do grep -q bound "$D/bound" && break; sleep 0.1; done
send() { for _ in 1 2 3; do $X bash -c 'echo x > /dev/udp/127.0.0.1/9999'; done; }
held() { printf '%-62s held %s\n' "$1" "$($X awk '{print $3}' /proc/net/netfilter/nfnetlink_queue)"; }
