#!/usr/bin/env bash
# Builds the two images as OCI archives without Docker (`make images`), with the contents
# the Dockerfiles give them:
#   _output/images/keepalived-cloud-provider.tar  (Dockerfile)
#     the CGO_ENABLED=0 binary of `make build` at /keepalived-cloud-provider, on an empty
#     base with CA certificates and the nonroot user 65532 (as distroless/static:nonroot)
#   _output/images/keepalived-vip-agent.tar       (Dockerfile.agent)
#     Debian (debootstrap --variant=minbase) with keepalived, iproute2 and tini, and the
#     binary at /usr/local/bin/keepalived-vip-agent, run by tini as root
# tagged as manifests/ and manifests/agent/ name them, so that after
#   ctr -n k8s.io images import _output/images/keepalived-cloud-provider.tar   (on each node)
# `kubectl apply -k` runs them with nothing pulled (imagePullPolicy IfNotPresent).
#
# Needs root, debootstrap and Debian's ca-certificates (hack/node-prereqs.sh installs them).
# The Debian rootfs is cached in bin/images/ (debootstrap takes about a minute, a rerun
# seconds); delete that folder to build it again. VERSION and GIT_COMMIT are the
# Makefile's (override them as with make); PROVIDER_IMAGE and AGENT_IMAGE the references.
set -euo pipefail
umask 022

# Kept in step with Dockerfile and Dockerfile.agent by test/node (images_test.go).
PROVIDER_ENTRYPOINT='["/keepalived-cloud-provider"]'
PROVIDER_USER=65532:65532
AGENT_ENTRYPOINT='["/usr/bin/tini", "--", "/usr/local/bin/keepalived-vip-agent"]'
AGENT_USER=
AGENT_PACKAGES="keepalived iproute2 tini"
DEBIAN_SUITE=bookworm
LABELS=(
	"org.opencontainers.image.title=keepalived-cloud-provider"
	"org.opencontainers.image.description=Kubernetes cloud-controller-manager that allocates IPv4 addresses for type LoadBalancer Services and publishes them to kube-keepalived-vip"
	"org.opencontainers.image.source=https://github.com/munnerz/keepalived-cloud-provider"
	"org.opencontainers.image.url=https://github.com/munnerz/keepalived-cloud-provider"
	"org.opencontainers.image.licenses=Apache-2.0"
)
# As manifests/kustomization.yaml and manifests/agent/kustomization.yaml pin them.
PROVIDER_IMAGE=${PROVIDER_IMAGE:-ghcr.io/munnerz/keepalived-cloud-provider:v0.1.0}
AGENT_IMAGE=${AGENT_IMAGE:-ghcr.io/munnerz/keepalived-vip-agent:v0.1.0}

root=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT_DIR:-$root/_output/images}
cache=$root/bin/images
[[ $(id -u) -eq 0 ]] || { echo "images.sh: run as root (debootstrap, and files owned by 0 and 65532)" >&2; exit 1; }
for need in debootstrap tar sha256sum make go; do
	command -v "$need" >/dev/null || { echo "images.sh: $need not found (hack/node-prereqs.sh installs what is missing)" >&2; exit 1; }
done
certs=/etc/ssl/certs/ca-certificates.crt
[[ -s $certs ]] || { echo "images.sh: $certs missing (apt-get install ca-certificates)" >&2; exit 1; }

# The Makefile's own LDFLAGS (VERSION, GIT_COMMIT), so that these are the binaries of `make build`.
makevar() { make -s --no-print-directory -C "$root" --eval "kcp-print-$1: ; @printf '%s\n' '\$($1)'" "kcp-print-$1"; }
ldflags=$(makevar LDFLAGS)
version=$(makevar VERSION) commit=$(makevar GIT_COMMIT)

work=$(mktemp -d)
cleanup() {
	# debootstrap mounts proc and sys in its target; never leave a mount behind.
	grep -o " $work/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

start=$SECONDS
mkdir -p "$work/bin"
for cmd in keepalived-cloud-provider keepalived-vip-agent; do
	(cd "$root" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$work/bin/$cmd" "./cmd/$cmd")
done
echo ">> built the binaries ($version) in $((SECONDS - start))s" >&2

# The provider: base (CA certificates, passwd/group with nonroot, /tmp, /home/nonroot), then the binary.
base=$work/provider-base bin=$work/provider-bin
mkdir -p "$base/etc/ssl/certs" "$base/tmp" "$base/home/nonroot" "$bin"
install -m 0644 "$certs" "$base/etc/ssl/certs/ca-certificates.crt"
printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
	'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$base/etc/passwd"
printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'nonroot:x:65532:' >"$base/etc/group"
chmod 0644 "$base/etc/passwd" "$base/etc/group"
chmod 1777 "$base/tmp"
chown 65532:65532 "$base/home/nonroot" && chmod 0700 "$base/home/nonroot"
install -m 0755 "$work/bin/keepalived-cloud-provider" "$bin/keepalived-cloud-provider"
labels=()
for l in "${LABELS[@]}" "org.opencontainers.image.version=$version" "org.opencontainers.image.revision=$commit"; do labels+=(-l "$l"); done
"$root/hack/mkoci.sh" -o "$out/keepalived-cloud-provider.tar" -r "$PROVIDER_IMAGE" -e "$PROVIDER_ENTRYPOINT" -u "$PROVIDER_USER" \
	-E SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt "${labels[@]}" "$base" "$bin"

# The agent: the cached Debian rootfs, then the binary.
mirror=${DEBIAN_MIRROR:-$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | grep -v -- -security | head -1)}
mirror=${mirror:-$(awk '$1 == "deb" && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)}
mirror=${mirror:-http://deb.debian.org/debian}
key=$(printf '%s %s %s' "$DEBIAN_SUITE" "$AGENT_PACKAGES" "$mirror" | sha256sum | cut -c1-12)
rootfs=$cache/debian-$DEBIAN_SUITE-$key
if [[ ! -d $rootfs ]]; then
	echo ">> debootstrap $DEBIAN_SUITE (minbase + ${AGENT_PACKAGES// /, }) from $mirror into $rootfs; about a minute" >&2
	start=$SECONDS
	target=$work/rootfs
	debootstrap --variant=minbase --include="${AGENT_PACKAGES// /,}" "$DEBIAN_SUITE" "$target" "$mirror" >"$work/debootstrap.log" 2>&1 ||
		{ tail -30 "$work/debootstrap.log" >&2; exit 1; }
	# As debian:bookworm-slim plus `apt-get install` and `rm -rf /var/lib/apt/lists/*`: no
	# package lists, caches, logs or documentation; the runtime provides /dev, hosts and DNS.
	rm -rf "${target:?}"/var/cache/apt/archives/*.deb "${target:?}"/var/cache/apt/*.bin "${target:?}"/var/lib/apt/lists/* \
		"${target:?}"/var/log/* "${target:?}"/usr/share/man/* "${target:?}"/usr/share/info/* "${target:?}"/usr/share/locale/* \
		"${target:?}"/dev/* "${target:?}"/etc/hostname "${target:?}"/etc/resolv.conf
	find "${target:?}/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
	find "${target:?}/usr/share/doc" -mindepth 1 -type d -empty -delete
	mkdir -p "$cache" && mv "$target" "$rootfs"
	echo ">> Debian rootfs ready in $((SECONDS - start))s" >&2
fi
bin=$work/agent-bin
mkdir -p "$bin/usr/local/bin"
install -m 0755 "$work/bin/keepalived-vip-agent" "$bin/usr/local/bin/keepalived-vip-agent"
"$root/hack/mkoci.sh" -o "$out/keepalived-vip-agent.tar" -r "$AGENT_IMAGE" -e "$AGENT_ENTRYPOINT" -u "$AGENT_USER" "$rootfs" "$bin"
