#!/usr/bin/env bash
# Builds the local control plane (kube-apiserver, kubectl, etcd) into bin/ from the
# pinned wrapper module in hack/tools, only when a binary is missing or reports another version.
# Honours KUBEBUILDER_ASSETS: if it already holds all three binaries, nothing is built.
set -euo pipefail

KUBE_VERSION=v1.37.2
ETCD_VERSION=3.6.16
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/bin/controlplane}

if [ -n "${KUBEBUILDER_ASSETS:-}" ] && [ "$KUBEBUILDER_ASSETS" != "$out" ]; then
  for b in kube-apiserver kubectl etcd; do
    [ -x "$KUBEBUILDER_ASSETS/$b" ] || { echo "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS has no $b; unset it to build one into $out" >&2; exit 1; }
  done
  exit 0
fi

mkdir -p "$out"
tools=$root/hack/tools
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37"

current() { "$out/$1" "${@:2}" 2>/dev/null || true; }

build() { # dir name package wanted-version-substring version-args...
  local dir=$1 name=$2 pkg=$3 want=$4; shift 4
  if current "$name" "$@" | grep -q -- "$want"; then return; fi
  echo ">> building $name ($want) into $out; the first build takes a few minutes" >&2
  local start=$SECONDS
  (cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/$name" "$pkg")
  echo ">> built $name in $((SECONDS - start))s" >&2
}

build "$tools" kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$KUBE_VERSION" --version
build "$tools" kubectl k8s.io/kubernetes/cmd/kubectl "$KUBE_VERSION" version --client
build "$tools/etcd" etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION" --version
