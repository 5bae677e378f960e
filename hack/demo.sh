#!/usr/bin/env bash
# Runs keepalived-cloud-provider on this machine against a local control plane (etcd and
# kube-apiserver on 127.0.0.1, no nodes), under the ServiceAccount and RBAC of manifests/,
# with the pool 10.210.38.64/26. It creates three LoadBalancer Services in namespace demo,
# shows their EXTERNAL-IPs and the kube-keepalived-vip ConfigMap. As root, with keepalived,
# ip and curl (installed with hack/dataplane-prereqs.sh and apt-get when missing), it then
# shows the data plane (test/netns/cmd/demo-dataplane): two nodes and a client as network
# namespaces on a bridge in 10.210.38.0/24, a keepalived-vip-agent per node, and curl from
# the client to demo/web's EXTERNAL-IP answered by one node, then, once that node's agent
# is stopped, by the other, with the time it took. Then it waits for Ctrl-C.
#
#   hack/demo.sh             (or: make demo)
#   hack/demo.sh --no-wait   (or DEMO_NO_WAIT=1): clean up as soon as it has shown the result
#
# The first run builds kube-apiserver, kubectl and etcd into bin/controlplane (a few
# minutes). Everything it writes is under bin/ and _output/demo/ (both git-ignored); it
# stops the processes it started, and only those, and deletes the namespaces it made,
# when it ends. Without root the pool addresses are only written into the ConfigMap; as
# root they are announced inside the demo's namespaces only, and nothing else is contacted.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/_output/demo
pool=10.210.38.64/26
requested=10.210.38.100
subnet=10.210.38.0/24 # the data plane's bridge: the pool is inside it, so the client reaches the VIPs
no_wait=${DEMO_NO_WAIT:-0}

for arg in "$@"; do
  case $arg in
    --no-wait) no_wait=1 ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: $0 [--no-wait]" >&2; exit 2 ;;
  esac
done

if [ -t 1 ]; then bold=$'\033[1m' reset=$'\033[0m'; else bold='' reset=''; fi
step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$reset"; }
fail() { printf 'demo: %s\n' "$*" >&2; exit 1; }

started=$SECONDS
cp_pid=''
cp_children='' # etcd and kube-apiserver, started by demo-controlplane
provider_pid=''
dp_pid=''     # demo-dataplane, when the data plane runs
dp_started='' # set once it was started: its namespaces may need removing

# stop_pid PID NAME: SIGTERM, then SIGKILL if it is still there after 20 s.
stop_pid() {
  local pid=$1 name=$2 i
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
  echo "demo: stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 200; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "demo: $name did not stop; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null
  return 0
}

# wait_ready FILE PID SECONDS WHAT LOG: until FILE exists; fails if PID ends first or
# SECONDS pass.
wait_ready() {
  local file=$1 pid=$2 limit=$3 what=$4 log=$5 i
  for ((i = 0; i < limit * 10; i++)); do
    [ -f "$file" ] && return 0
    kill -0 "$pid" 2>/dev/null || fail "$what ended before it was ready; see $log"
    sleep 0.1
  done
  fail "$what was not ready after $limit s; see $log"
}

cleanup() {
  local code=$?
  trap - EXIT INT TERM
  set +e # clean up as much as possible, whatever fails
  # The data plane first: its agents stop while the API server still answers.
  [ -n "$dp_pid" ] && stop_pid "$dp_pid" "the data plane (demo-dataplane)"
  # Should it have been killed before it removed its namespaces: remove them.
  [ -n "$dp_started" ] && bin/demo-dataplane --remove-leftovers
  [ -n "$provider_pid" ] && stop_pid "$provider_pid" keepalived-cloud-provider
  # demo-controlplane stops etcd and kube-apiserver and removes their state.
  [ -n "$cp_pid" ] && stop_pid "$cp_pid" "the control plane"
  # Should it have died without doing so: stop them by PID, if still the same processes.
  local pid cmd
  for pid in $cp_children; do
    cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline")
    if [[ $cmd == *"$out/state/"* ]]; then
      stop_pid "$pid" "left-over ${cmd%% *}"
    fi
  done
  rm -rf "$out/state" "$out/ready" "$out/pids" "$out/admin.kubeconfig" "$out/provider.kubeconfig" "$out/provider.port"
  echo "demo: cleaned up after $((SECONDS - started))s (logs kept in $out)"
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$out"
# Files of an earlier run that was killed outright must not be taken for this run's.
rm -rf "$out/state" "$out/ready" "$out/pids" "$out/admin.kubeconfig" "$out/provider.kubeconfig" "$out/provider.port" \
  "$out/dataplane/ready"
cd "$root"

# dp_skip says why the data plane will not run; empty when it will. The tools are
# checked (and installed) before anything starts, so nothing waits on apt-get midway.
dp_skip=''
if [ "$(id -u)" -ne 0 ]; then
  dp_skip="it needs root (network namespaces); run as root to see it"
else
  bash hack/dataplane-prereqs.sh || true # keepalived, iproute2, ... (those of the data-plane test)
  if ! command -v curl >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    echo ">> installing curl for the data-plane demo" >&2
    { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends curl; } || true
  fi
  missing=()
  for bin in ip keepalived curl; do command -v "$bin" >/dev/null 2>&1 || missing+=("$bin"); done
  ((${#missing[@]} == 0)) || dp_skip="${missing[*]} not installed, and installing failed"
fi

step "Control plane binaries (kube-apiserver, kubectl, etcd; built on first use, which takes minutes)"
bash hack/controlplane.sh
assets=${KUBEBUILDER_ASSETS:-$root/bin/controlplane}
kubectl=$assets/kubectl
echo "using $assets"

step "Building bin/keepalived-cloud-provider, bin/keepalived-vip-agent (make build), bin/demo-controlplane and bin/demo-dataplane"
if ! git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
  export VERSION=${VERSION:-v0.0.0-dev} # no git: nothing to describe (a source tarball)
fi
if command -v make >/dev/null; then
  make --no-print-directory build
else
  for cmd in keepalived-cloud-provider keepalived-vip-agent; do
    go build -ldflags "-X k8s.io/component-base/version.gitVersion=${VERSION:-v0.0.0-dev}" -o "bin/$cmd" "./cmd/$cmd"
  done
fi
go build -o bin/demo-controlplane ./test/controlplane/cmd/demo-controlplane
go build -o bin/demo-dataplane ./test/netns/cmd/demo-dataplane
bin/keepalived-cloud-provider --version

step "Starting etcd and kube-apiserver on 127.0.0.1, applying manifests/ (ServiceAccount, RBAC)"
bin/demo-controlplane --dir "$out" &
cp_pid=$!
wait_ready "$out/ready" "$cp_pid" 120 "the control plane" "$out/controlplane.log"
cp_children=$(cat "$out/pids")
admin=$out/admin.kubeconfig
k() { "$kubectl" --kubeconfig "$admin" "$@"; }

step "Starting keepalived-cloud-provider as ServiceAccount kube-system/keepalived-cloud-provider, pool $pool"
port=$(cat "$out/provider.port")
: > "$out/provider.log"
env -u KUBECONFIG -u KEEPALIVED_NAMESPACE -u KEEPALIVED_CONFIG_MAP -u KEEPALIVED_DEFAULT_FORWARD_METHOD \
  KEEPALIVED_SERVICE_CIDR=$pool \
  bin/keepalived-cloud-provider \
  --kubeconfig "$out/provider.kubeconfig" \
  --authentication-kubeconfig "$out/provider.kubeconfig" \
  --authorization-kubeconfig "$out/provider.kubeconfig" \
  --bind-address 127.0.0.1 --secure-port "$port" --v=2 \
  >"$out/provider.log" 2>&1 &
provider_pid=$!
for ((i = 0; i < 600; i++)); do
  grep -qi 'successfully acquired lease' "$out/provider.log" && break
  kill -0 "$provider_pid" 2>/dev/null || { tail -20 "$out/provider.log" >&2; fail "keepalived-cloud-provider exited; see $out/provider.log"; }
  sleep 0.1
done
grep -qi 'successfully acquired lease' "$out/provider.log" || fail "keepalived-cloud-provider did not lead within 60 s; see $out/provider.log"
echo "pid $provider_pid leads; log: $out/provider.log; /healthz: https://127.0.0.1:$port/healthz"

step "Creating three LoadBalancer Services in namespace demo"
k apply -f - <<YAML
apiVersion: v1
kind: Namespace
metadata:
  name: demo
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: demo
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata:
  name: echo
  namespace: demo
  annotations:
    k8s.co/keepalived-forward-method: DR
spec:
  type: LoadBalancer
  selector: {app: echo}
  ports: [{name: echo, port: 7, targetPort: 7}]
---
apiVersion: v1
kind: Service
metadata:
  name: fixed
  namespace: demo
  annotations:
    k8s.co/keepalived-load-balancer-ip: $requested
spec:
  type: LoadBalancer
  selector: {app: fixed}
  ports: [{name: https, port: 443, targetPort: 8443}]
YAML
for svc in web echo fixed; do
  k -n demo wait --for=jsonpath='{.status.loadBalancer.ingress[0].ip}' "service/$svc" --timeout=60s >/dev/null \
    || fail "Service demo/$svc got no EXTERNAL-IP; see $out/provider.log"
done

step "kubectl get svc -n demo -o wide"
k get svc -n demo -o wide

step "kubectl -n kube-system get configmap vip-configmap -o yaml (what kube-keepalived-vip reads)"
k -n kube-system get configmap vip-configmap -o yaml

got=$(k -n demo get service fixed -o jsonpath='{.status.loadBalancer.ingress[0].ip}')
[ "$got" = "$requested" ] || fail "demo/fixed asked for $requested and got $got"

echo
echo "Control plane ready in $((SECONDS - started))s. To use this cluster from another shell:"
echo
echo "  export KUBECONFIG=$admin"
echo "  alias kubectl=$kubectl   # if you have no kubectl of your own"
echo "  kubectl -n demo get svc -w"
echo "  kubectl -n demo annotate svc echo k8s.co/keepalived-forward-method=PROXY --overwrite"
echo "  kubectl -n kube-system get configmap vip-configmap -o yaml"

if [ -n "$dp_skip" ]; then
  echo
  echo "demo: skipped the data plane (agents on network namespaces, curl to an EXTERNAL-IP, failover): $dp_skip."
else
  # It prints its own steps; it writes $out/dataplane/ready once it has shown the failover.
  dp_started=1
  dp_flags=(--kubeconfig "$admin" --kubectl "$kubectl" --agent bin/keepalived-vip-agent
    --dir "$out/dataplane" --subnet "$subnet" --service demo/web)
  if [ "$no_wait" = 1 ]; then dp_flags+=(--no-wait); fi
  bin/demo-dataplane "${dp_flags[@]}" &
  dp_pid=$!
  if [ "$no_wait" = 1 ]; then
    wait "$dp_pid" || fail "the data plane failed; see above and $out/dataplane/"
    dp_pid=''
  else
    wait_ready "$out/dataplane/ready" "$dp_pid" 180 "the data plane" "above and $out/dataplane/"
  fi
fi

echo
echo "Shown in $((SECONDS - started))s."
if [ "$no_wait" = 1 ]; then
  echo "--no-wait: cleaning up now."
  exit 0
fi
if [ -n "$dp_pid" ]; then
  echo "Press Ctrl-C to stop the agents, the provider and the control plane, delete the namespaces and remove their state."
  # Returns when either ends, or when a signal runs the trap.
  wait -n "$cp_pid" "$dp_pid" || true
  fail "the control plane or the data plane stopped unexpectedly; see $out/controlplane.log and $out/dataplane/"
fi
echo "Press Ctrl-C to stop the provider and the control plane and remove their state."
# Returns when the control plane ends, or when a signal runs the trap.
wait "$cp_pid" || true
fail "the control plane stopped unexpectedly; see $out/controlplane.log"
