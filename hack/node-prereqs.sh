#!/usr/bin/env bash
# The real-node test (test/node) and the image script (hack/images.sh) need root and
# Debian's containerd (with ctr), runc, the CNI plugins (bridge, host-local), debootstrap
# (the agent image's Debian rootfs), CA certificates (the provider image's) and iproute2.
# Without arguments this installs what is missing from Debian's packages when it can
# (root, or sudo, and apt-get); nothing is started (containerd is started by the test,
# with a configuration and state of its own). With --check it only prints one loud line
# when the test cannot run, for after the test run.
set -euo pipefail

missing=()
for pair in containerd:containerd ctr:containerd runc:runc /usr/lib/cni/bridge:containernetworking-plugins \
	/usr/lib/cni/host-local:containernetworking-plugins debootstrap:debootstrap \
	/etc/ssl/certs/ca-certificates.crt:ca-certificates ip:iproute2; do
	what=${pair%%:*} pkg=${pair#*:}
	if [[ $what == /* ]]; then [[ -e $what ]] && continue; else command -v "$what" >/dev/null 2>&1 && continue; fi
	[[ " ${missing[*]} " == *" $pkg "* ]] || missing+=("$pkg")
done

if [[ ${1:-} == --check ]]; then
	why=()
	[[ $(id -u) -eq 0 ]] || why+=("root")
	((${#missing[@]})) && why+=("${missing[@]}")
	if ((${#why[@]})); then
		echo "!!! REAL-NODE TEST DID NOT RUN (test/node skipped): missing ${why[*]}." >&2
		echo "!!! Run 'make test' as root on a Debian-like machine (it installs containerd runc containernetworking-plugins debootstrap ca-certificates), as CI does." >&2
	fi
	exit 0
fi

((${#missing[@]})) || exit 0
sudo=()
if [[ $(id -u) -ne 0 ]]; then
	if ! command -v sudo >/dev/null 2>&1 || ! sudo -n true 2>/dev/null; then
		echo ">> cannot install ${missing[*]} (not root, no sudo); the real-node test will not run" >&2
		exit 0
	fi
	sudo=(sudo -n)
fi
command -v apt-get >/dev/null 2>&1 || { echo ">> cannot install ${missing[*]} (no apt-get); the real-node test will not run" >&2; exit 0; }
echo ">> installing ${missing[*]} for the real-node test" >&2
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
