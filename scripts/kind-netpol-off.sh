#!/usr/bin/env bash
# Switches off kind's own NetworkPolicy enforcement, keeping its pod networking, so that Palisade
# is the only enforcer in the cluster (two enforcers would both judge every connection, and a
# test could pass because of the other one).
#
#   scripts/kind-netpol-off.sh [CLUSTER]      # default cluster name: kind; kubectl uses $KUBECONFIG
#
# Since v0.24 kind's default CNI (kindnet) comes with a policy enforcer (kube-network-policies, a
# separate DaemonSet in v0.24, compiled into kind's kindnetd from v0.25 on, always on: that kindnetd
# has no flag to turn it off). kind's only switch, `networking.disableDefaultCNI: true`, also
# removes pod networking, so instead this deletes the kube-network-policies DaemonSet if there is
# one, turns a --network-policy flag off where kindnetd is given one (the standalone kindnet), takes
# list/watch on networkpolicies away from kindnet's ClusterRole (the compiled-in enforcer programs
# nothing until its NetworkPolicy informer has synced, so after a restart it waits for good while
# routes and the CNI config carry on), and removes their nftables tables on every node. Running it
# again changes nothing. Used by scripts/kind-e2e.sh; the README's "On kind" steps run it too.
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
rollout=0
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
  rollout=1
fi
# The compiled-in enforcer: one JSON patch over every rule that grants networkpolicies (each
# guarded by a test of its current resources), from the last rule to the first so that removing
# one leaves the indices of the others as read. kubectl prints each rule's resources as a JSON list.
roles=$(kubectl get clusterrole kindnet -o jsonpath='{range .rules[*]}{.resources}{"\n"}{end}' 2>/dev/null || true)
# (A string, not an array: macOS's bash 3.2 calls an empty array unbound under set -u.)
ops=
i=0
while IFS= read -r resources; do
  if [[ $resources == *'"networkpolicies"'* ]]; then
    rest=$(printf '%s' "$resources" | sed -E 's/"networkpolicies",?//; s/,]$/]/')
    if [ "$rest" = "[]" ]; then
      op="{\"op\":\"remove\",\"path\":\"/rules/$i\"}"
    else
      op="{\"op\":\"replace\",\"path\":\"/rules/$i/resources\",\"value\":$rest}"
    fi
    ops="{\"op\":\"test\",\"path\":\"/rules/$i/resources\",\"value\":$resources},$op${ops:+,$ops}"
  fi
  i=$((i + 1))
done <<< "$roles"
if [ -n "$ops" ]; then
  kubectl patch clusterrole kindnet --type json -p "[$ops]"
  # Running kindnetd keeps its synced informer and its queue; new ones start without the grant.
  kubectl -n kube-system rollout restart daemonset kindnet
  rollout=1
fi
if [ "$rollout" = 1 ]; then
  kubectl -n kube-system rollout status daemonset kindnet --timeout=180s
fi
for node in $(kind get nodes --name "$CLUSTER"); do
  for table in $(docker exec "$node" nft list tables 2>/dev/null | awk '/network-polic/ {print $2" "$3}' | tr ' ' ':'); do
    docker exec "$node" nft delete table "${table%%:*}" "${table#*:}" || true
  done
done
echo "kind-netpol-off: kind's NetworkPolicy enforcement is off in cluster $CLUSTER"
