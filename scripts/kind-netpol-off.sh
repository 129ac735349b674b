#!/usr/bin/env bash
# Switches off kind's own NetworkPolicy enforcement, keeping its pod networking, so that Palisade
# is the only enforcer in the cluster (two enforcers would both judge every connection, and a
# test could pass because of the other one).
#
#   scripts/kind-netpol-off.sh [CLUSTER]      # default cluster name: kind; kubectl uses $KUBECONFIG
#
# Since v0.24 kind's default CNI (kindnet) comes with a policy enforcer (kube-network-policies, a
# separate DaemonSet in v0.24, built into kindnetd in later releases). kind's only switch,
# `networking.disableDefaultCNI: true`, also removes pod networking, so instead this deletes the
# kube-network-policies DaemonSet if there is one, turns kindnetd's --network-policy flag off if it
# has one, and removes their nftables tables on every node. Running it again changes nothing.
# Used by scripts/kind-e2e.sh; the README's "On kind" steps run it too.
set -euo pipefail

CLUSTER=${1:-kind}
for tool in kubectl kind docker; do
  command -v "$tool" >/dev/null 2>&1 || { echo "kind-netpol-off: $tool is required" >&2; exit 1; }
done

if kubectl -n kube-system get daemonset kube-network-policies >/dev/null 2>&1; then
  kubectl -n kube-system delete daemonset kube-network-policies --wait=true
fi
# Read into a variable, not piped into `grep -q`: under pipefail, grep leaving at its first match
# can make the writer fail with SIGPIPE, and the pipeline with it. Only a flag that is on counts
# ("--network-policy" or "=true"), so a second run finds nothing to patch and restarts nothing.
kindnet=$(kubectl -n kube-system get daemonset kindnet -o jsonpath='{.spec.template.spec.containers[0].command} {.spec.template.spec.containers[0].args}' 2>/dev/null || true)
if [[ $kindnet =~ \"--network-policy(=true)?\" ]]; then
  # Rewrite the flag in whichever list carries it.
  for field in command args; do
    current=$(kubectl -n kube-system get daemonset kindnet -o jsonpath="{.spec.template.spec.containers[0].$field}")
    case "$current" in
      *--network-policy*)
        patched=$(printf '%s' "$current" | sed -E 's/"--network-policy(=[a-z]+)?"/"--network-policy=false"/')
        kubectl -n kube-system patch daemonset kindnet --type json \
          -p "[{\"op\":\"replace\",\"path\":\"/spec/template/spec/containers/0/$field\",\"value\":$patched}]"
        ;;
    esac
  done
  kubectl -n kube-system rollout status daemonset kindnet --timeout=180s
fi
for node in $(kind get nodes --name "$CLUSTER"); do
  for table in $(docker exec "$node" nft list tables 2>/dev/null | awk '/network-polic/ {print $2" "$3}' | tr ' ' ':'); do
    docker exec "$node" nft delete table "${table%%:*}" "${table#*:}" || true
  done
done
echo "kind-netpol-off: kind's NetworkPolicy enforcement is off in cluster $CLUSTER"
