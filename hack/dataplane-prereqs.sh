#!/usr/bin/env bash
# The data-plane tests (test/dataplane) need root (network namespaces) and keepalived,
# iproute2, ping, arping, bwrap (bubblewrap: one agent runs under the DaemonSet's
# security context) and curl (the IPv6 VIPs are asked through a page on each node).
# Without arguments this installs what is missing from Debian's packages when it can
# (root, or sudo, and apt-get); with --check it only
# prints one loud line when the tests cannot run, for after the test run.
set -euo pipefail

missing=()
for pair in keepalived:keepalived ip:iproute2 ping:iputils-ping arping:arping bwrap:bubblewrap setpriv:util-linux curl:curl; do
	command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done

if [[ ${1:-} == --check ]]; then
	why=()
	[[ $(id -u) -eq 0 ]] || why+=("root")
	((${#missing[@]})) && why+=("${missing[@]}")
	if ((${#why[@]})); then
		echo "!!! DATA-PLANE TESTS DID NOT RUN (test/dataplane skipped): missing ${why[*]}." >&2
		echo "!!! Run 'make test' as root on a Debian-like machine (it installs keepalived iproute2 iputils-ping arping bubblewrap curl), as CI does." >&2
	fi
	exit 0
fi

((${#missing[@]})) || exit 0
sudo=()
if [[ $(id -u) -ne 0 ]]; then
	command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null || { echo ">> cannot install ${missing[*]} (not root, no sudo); the data-plane tests will not run" >&2; exit 0; }
	sudo=(sudo -n)
fi
command -v apt-get >/dev/null 2>&1 || { echo ">> cannot install ${missing[*]} (no apt-get); the data-plane tests will not run" >&2; exit 0; }
echo ">> installing ${missing[*]} for the data-plane tests" >&2
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
