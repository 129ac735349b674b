#!/usr/bin/env bash
# End-to-end check of the Palisade DaemonSet on a throwaway kind cluster.
#
# Needs: docker, kind (>= 0.20), kubectl, curl and tar (for the upstream e2e binary), ~4 GB RAM.
# Time on a 4-core laptop: cluster + image + rollout ~5 min; the curl scenario ~1 min; the
# upstream NetworkPolicy e2e suite ~20-30 min with E2E_PROCS=4 (over an hour serially).
#
#   scripts/kind-e2e.sh                  # everything, cluster deleted at the end
#   E2E=0 scripts/kind-e2e.sh            # skip the upstream suite
#   KEEP=1 scripts/kind-e2e.sh           # keep the cluster for poking around
#
# Environment: CLUSTER (palisade-e2e), IMAGE (palisade:0.1.0), NODE_IMAGE (kind's default),
# E2E (1), E2E_PROCS (4), E2E_FOCUS ('Netpol'), E2E_SKIP ('SCTP'), WORKDIR (a temp dir, removed at
# the end; one you give is kept), KEEP (0). A cluster named CLUSTER must not exist yet.
#
# About kind's own NetworkPolicy enforcement: since v0.24 kind's default CNI (kindnet) comes with
# a policy enforcer (kube-network-policies, a separate DaemonSet in v0.24, compiled into kindnetd,
# with no switch, from v0.25). Two enforcers would both judge every connection, so a test could
# pass because of the other one. kind's only switch is `networking.disableDefaultCNI: true`, which
# also removes pod networking. We keep kindnet for pod networking and switch off only its policy
# part (scripts/kind-netpol-off.sh: delete the kube-network-policies DaemonSet if there is one,
# take kindnet's read of NetworkPolicies away so its compiled-in enforcer never starts, and remove
# their nftables tables; the README's "On kind" steps run the same script). Then a self-check applies a default-deny
# policy BEFORE Palisade is installed and insists that traffic still flows: if anything else
# still enforces policy, the script stops there.
set -euo pipefail

CLUSTER=${CLUSTER:-palisade-e2e}
IMAGE=${IMAGE:-palisade:0.1.0}
NODE_IMAGE=${NODE_IMAGE:-}
E2E=${E2E:-1}
E2E_PROCS=${E2E_PROCS:-4}
E2E_FOCUS=${E2E_FOCUS:-Netpol}
E2E_SKIP=${E2E_SKIP:-SCTP}
KEEP=${KEEP:-0}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The cleanup removes only what this run made: a WORKDIR given by the user stays, and so does a
# cluster of the same name that was there before (the run stops instead of taking it over).
own_workdir=0
if [ -z "${WORKDIR:-}" ]; then
  WORKDIR=$(mktemp -d -t palisade-kind.XXXXXX)
  own_workdir=1
fi
mkdir -p "$WORKDIR"
created=0
KUBECONFIG_FILE="$WORKDIR/kubeconfig"
DEMO_NS=palisade-demo
AGNHOST=registry.k8s.io/e2e-test-images/agnhost:2.47

log() { printf '\n== %s\n' "$*"; }
die() { printf 'kind-e2e: %s\n' "$*" >&2; exit 1; }
k() { kubectl --kubeconfig "$KUBECONFIG_FILE" "$@"; }

for tool in docker kind kubectl; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is required (see the header of this script)"
done
if [ "$E2E" = 1 ]; then
  for tool in curl tar; do command -v "$tool" >/dev/null 2>&1 || die "$tool is required for the e2e suite (or run with E2E=0)"; done
fi

cleanup() {
  local rc=$?
  if [ "$KEEP" = 1 ]; then
    if [ "$created" = 1 ]; then
      echo "cluster kept: kubectl --kubeconfig $KUBECONFIG_FILE get pods -A   (kind delete cluster --name $CLUSTER)"
    fi
  else
    if [ "$created" = 1 ]; then kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true; fi
    if [ "$own_workdir" = 1 ]; then rm -rf "$WORKDIR"; fi
  fi
  exit "$rc"
}
trap cleanup EXIT

# ---- cluster -----------------------------------------------------------------------------------
log "creating kind cluster $CLUSTER (1 control plane, 2 workers)"
cat > "$WORKDIR/kind.yaml" <<'EOF'
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
  - role: control-plane
  - role: worker
  - role: worker
EOF
# A variable, not a pipe into grep -q (pipefail; see kind-netpol-off.sh).
clusters=$(kind get clusters 2>/dev/null || true)
if [[ $'\n'$clusters$'\n' == *$'\n'$CLUSTER$'\n'* ]]; then
  die "a kind cluster named $CLUSTER already exists; delete it (kind delete cluster --name $CLUSTER) or run with CLUSTER=another-name"
fi
# From here on the name is this run's: a create that fails half-way is cleaned up too.
created=1
kind create cluster --name "$CLUSTER" --config "$WORKDIR/kind.yaml" --kubeconfig "$KUBECONFIG_FILE" \
  ${NODE_IMAGE:+--image "$NODE_IMAGE"} --wait 180s

log "switching off kind's built-in NetworkPolicy enforcement"
KUBECONFIG="$KUBECONFIG_FILE" "$ROOT/scripts/kind-netpol-off.sh" "$CLUSTER"

# ---- demo workload -----------------------------------------------------------------------------
log "deploying frontend / backend / db in $DEMO_NS"
k create namespace "$DEMO_NS"
for app in frontend backend db; do
  k -n "$DEMO_NS" run "$app" --image "$AGNHOST" --labels "app=$app" --port 80 \
    --command -- /agnhost netexec --http-port=80
  k -n "$DEMO_NS" expose pod "$app" --port 80
done
k -n "$DEMO_NS" wait --for=condition=Ready pod --all --timeout=180s

# can FROM TO: exit 0 when a TCP connection from pod FROM to service TO:80 succeeds.
can() { k -n "$DEMO_NS" exec "$1" -- /agnhost connect "$2.$DEMO_NS.svc.cluster.local:80" --timeout=3s >/dev/null 2>&1; }
expect() { # expect allow|deny FROM TO
  local want=$1 from=$2 to=$3 got=deny
  if can "$from" "$to"; then got=allow; fi
  printf '  %-8s -> %-8s %-5s (want %s)\n' "$from" "$to" "$got" "$want"
  [ "$got" = "$want" ] || return 1
}
# Policy changes take effect within moments; allow a few tries before calling it a failure.
expect_eventually() {
  local i line
  for i in 1 2 3 4 5 6 7 8 9 10; do
    # The passing probe's own line: probing again to print it could get another answer (a
    # flap while a change settles), and under set -e that stopped the run without a word.
    if line=$(expect "$@"); then printf '%s\n' "$line"; return 0; fi
    sleep 2
  done
  expect "$@" || die "connectivity $2 -> $3 is not $1"
}

log "self-check: with nothing enforcing policy, a default-deny must NOT block traffic"
k -n "$DEMO_NS" apply -f - <<'EOF'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny-ingress}
spec: {podSelector: {}, policyTypes: [Ingress]}
EOF
sleep 5
expect allow frontend backend || die "traffic is blocked before Palisade is installed: another NetworkPolicy enforcer is active in this cluster"
k -n "$DEMO_NS" delete networkpolicy default-deny-ingress

# ---- install Palisade --------------------------------------------------------------------------
log "building $IMAGE and loading it into the nodes"
docker build -t "$IMAGE" "$ROOT"
# kind load docker-image pipes `docker save` into the nodes' `ctr import`; with Docker's containerd
# image store (the default from Docker 29) that import can fail with "content digest ... not
# found" (kubernetes-sigs/kind#3795). A single-platform archive of the image loads either way
# (docker image save --platform needs Docker 28, which that store implies).
if ! kind load docker-image "$IMAGE" --name "$CLUSTER"; then
  platform=$(docker image inspect -f '{{.Os}}/{{.Architecture}}' "$IMAGE")
  log "kind load docker-image failed; loading a $platform archive of $IMAGE instead"
  docker image save --platform "$platform" -o "$WORKDIR/image.tar" "$IMAGE"
  kind load image-archive "$WORKDIR/image.tar" --name "$CLUSTER"
  rm -f "$WORKDIR/image.tar"
fi

log "applying daemonset.yaml"
sed "s#image: palisade:0.1.0#image: $IMAGE#" "$ROOT/daemonset.yaml" | k apply -f -
if ! k -n kube-system rollout status daemonset palisade --timeout=300s; then
  # An agent that cannot start says why in its log (a kernel module and the modprobe to run, a
  # permission); the exit deletes the cluster unless KEEP=1, so show those lines now.
  k -n kube-system get pods -l app.kubernetes.io/name=palisade -o wide || true
  k -n kube-system logs -l app.kubernetes.io/name=palisade --prefix --tail=20 || true
  die "the palisade agents are not Ready after 300 s (their last log lines are above; KEEP=1 keeps the cluster)"
fi
k -n kube-system get pods -l app.kubernetes.io/name=palisade -o wide

# ---- the curl scenario -------------------------------------------------------------------------
log "no policy: everything open"
expect_eventually allow frontend backend
expect_eventually allow frontend db
expect_eventually allow db frontend

log "policies: default-deny ingress; frontend -> backend; backend -> db"
k -n "$DEMO_NS" apply -f - <<'EOF'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny-ingress}
spec: {podSelector: {}, policyTypes: [Ingress]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: backend-from-frontend}
spec:
  podSelector: {matchLabels: {app: backend}}
  ingress: [{from: [{podSelector: {matchLabels: {app: frontend}}}], ports: [{port: 80}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-from-backend}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress: [{from: [{podSelector: {matchLabels: {app: backend}}}], ports: [{port: 80}]}]
EOF
expect_eventually allow frontend backend
expect_eventually deny frontend db
expect_eventually allow backend db
expect_eventually deny db frontend
expect_eventually deny backend frontend

log "relabel: frontend loses app=frontend, so backend closes to it"
k -n "$DEMO_NS" label pod frontend app=other --overwrite
expect_eventually deny frontend backend
k -n "$DEMO_NS" label pod frontend app=frontend --overwrite
expect_eventually allow frontend backend

log "policies removed: everything open again"
k -n "$DEMO_NS" delete networkpolicy --all
expect_eventually allow frontend db
expect_eventually allow db frontend
k delete namespace "$DEMO_NS" --wait=false

# ---- upstream e2e NetworkPolicy suite ----------------------------------------------------------
if [ "$E2E" = 1 ]; then
  version=$(k get --raw /version | sed -n 's/.*"gitVersion": *"\([^"]*\)".*/\1/p' | head -n1)
  [ -n "$version" ] || die "cannot read the server version"
  # ginkgo and e2e.test run here, on the machine that runs kind (a Mac too), not in a node.
  os=$(uname -s | tr '[:upper:]' '[:lower:]')
  arch=$(uname -m); case "$arch" in x86_64) arch=amd64 ;; aarch64|arm64) arch=arm64 ;; esac
  log "upstream e2e ($version, focus '$E2E_FOCUS', skip '$E2E_SKIP', $E2E_PROCS processes)"
  # The test binaries must match the server's version; they are published per release, for
  # linux and darwin.
  curl -fsSL "https://dl.k8s.io/release/$version/kubernetes-test-$os-$arch.tar.gz" \
    | tar -xz -C "$WORKDIR" kubernetes/test/bin/e2e.test kubernetes/test/bin/ginkgo
  "$WORKDIR/kubernetes/test/bin/ginkgo" --procs="$E2E_PROCS" --timeout=3h \
    "$WORKDIR/kubernetes/test/bin/e2e.test" -- \
    --kubeconfig="$KUBECONFIG_FILE" --provider=local \
    --ginkgo.focus="$E2E_FOCUS" --ginkgo.skip="$E2E_SKIP" \
    --report-dir="$WORKDIR/e2e-report"
fi

log "all checks passed"
