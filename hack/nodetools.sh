#!/usr/bin/env bash
# Builds what the real-node test (test/node) runs besides the control plane, each only
# when it is missing or reports another version: kubelet, kube-controller-manager and
# kube-scheduler into bin/node, from the pinned wrapper module in hack/nodetools (same
# Kubernetes version and flags as hack/controlplane.sh); the sandbox image
# bin/node/pause.tar (hack/nodetools/pause, packed by hack/mkoci.sh as
# kcpnode.local/pause:1), so that containerd needs no registry; and the Makefile's helm.
set -euo pipefail

KUBE_VERSION=v1.37.2
PAUSE_IMAGE=kcpnode.local/pause:1
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/bin/node}
mkdir -p "$out"
tools=$root/hack/nodetools
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37"

build() { # name package
	local name=$1 pkg=$2
	if "$out/$name" --version 2>/dev/null | grep -q -- "$KUBE_VERSION"; then return; fi
	echo ">> building $name ($KUBE_VERSION) into $out; the first build takes a few minutes" >&2
	local start=$SECONDS
	(cd "$tools" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/$name" "$pkg")
	echo ">> built $name in $((SECONDS - start))s" >&2
}

build kubelet k8s.io/kubernetes/cmd/kubelet
build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager
build kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler

# helm, for the chart's variant of the test: the Makefile's HELM_VERSION, where test/chart
# keeps it too (bin/tools/helm-<version>/helm), so that it is built once.
helm_version=$(sed -n 's/^HELM_VERSION *:= *//p' "$root/Makefile")
helm_dir=$root/bin/tools/helm-${helm_version:?the Makefile sets no HELM_VERSION}
if ! go version -m "$helm_dir/helm" 2>/dev/null | grep -qP "^\tmod\thelm.sh/helm/v3\t$helm_version\t"; then
	echo ">> building helm ($helm_version) into $helm_dir; about two minutes the first time" >&2
	start=$SECONDS
	GOBIN=$helm_dir CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" "helm.sh/helm/v3/cmd/helm@$helm_version"
	echo ">> built helm in $((SECONDS - start))s" >&2
fi

# The pause image: rebuilt when its source is newer than the archive (about a second).
if [[ ! -s $out/pause.tar || $tools/pause/main.go -nt $out/pause.tar || $root/hack/mkoci.sh -nt $out/pause.tar ]]; then
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	(cd "$tools" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$work/rootfs/pause" ./pause)
	"$root/hack/mkoci.sh" -o "$out/pause.tar" -r "$PAUSE_IMAGE" -e '["/pause"]' -u 65535:65535 "$work/rootfs"
fi
