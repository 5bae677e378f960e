#!/usr/bin/env bash
# Packs folders into an OCI image archive (an OCI image layout in a tar file), with no
# daemon, registry or other tool than GNU tar and sha256sum: one uncompressed layer per
# folder, in order, files owned as they are on disk (numeric ids), every mtime set to
# SOURCE_DATE_EPOCH (0 unless set), so that the same folders give the same digests.
# `ctr images import` (containerd), `nerdctl load` and `podman load` read it; containerd
# names the image after the io.containerd.image.name annotation.
#
#   mkoci.sh -o OUT.tar -r REF -e ENTRYPOINT_JSON [-u USER] [-E NAME=VALUE]... [-l KEY=VALUE]... FOLDER...
#
#   -r  the image reference, e.g. ghcr.io/munnerz/keepalived-vip-agent:v0.1.0
#   -e  the entrypoint as a JSON array, exactly as in the Dockerfile's ENTRYPOINT
#   -u  the user ("" is root, as a Dockerfile without USER)
#   -E  an environment variable (PATH is always set, as Docker's base images set it)
#   -l  a label (org.opencontainers.image.*, as the Dockerfile's LABEL)
set -euo pipefail

usage() { sed -n '/^#   mkoci.sh/p' "$0" >&2; exit 2; }
out="" ref="" entrypoint="" user="" env=("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin") labels=()
while getopts "o:r:e:u:E:l:" opt; do
	case $opt in
	o) out=$OPTARG ;;
	r) ref=$OPTARG ;;
	e) entrypoint=$OPTARG ;;
	u) user=$OPTARG ;;
	E) env+=("$OPTARG") ;;
	l) labels+=("$OPTARG") ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[[ -n $out && -n $ref && $entrypoint == \[*\] && $# -gt 0 ]] || usage
[[ $ref == *:* ]] || { echo "mkoci.sh: $ref has no tag" >&2; exit 2; }
for dir in "$@"; do [[ -d $dir ]] || { echo "mkoci.sh: $dir is not a folder" >&2; exit 2; }; done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/blobs/sha256"
epoch=${SOURCE_DATE_EPOCH:-0}
case $(uname -m) in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; *) arch=$(uname -m) ;; esac

json() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '"%s"' "$s"; }
# blob FILE: moves FILE into blobs/sha256 under its digest; prints "DIGEST SIZE".
blob() {
	local d
	d=$(sha256sum "$1" | cut -d' ' -f1)
	mv "$1" "$work/blobs/sha256/$d"
	echo "$d $(stat -c %s "$work/blobs/sha256/$d")"
}

layers="" diff_ids=""
for dir in "$@"; do
	tar --sort=name --numeric-owner --mtime="@$epoch" -C "$dir" -cf "$work/layer" .
	read -r digest size < <(blob "$work/layer")
	layers+="${layers:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"sha256:$digest\",\"size\":$size}"
	diff_ids+="${diff_ids:+,}\"sha256:$digest\""
done

env_json="" labels_json=""
for e in "${env[@]}"; do env_json+="${env_json:+,}$(json "$e")"; done
for l in "${labels[@]}"; do labels_json+="${labels_json:+,}$(json "${l%%=*}"):$(json "${l#*=}")"; done
printf '{"architecture":"%s","os":"linux","created":"%s","config":{"User":%s,"Env":[%s],"Entrypoint":%s,"Labels":{%s}},"rootfs":{"type":"layers","diff_ids":[%s]}}' \
	"$arch" "$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)" "$(json "$user")" "$env_json" "$entrypoint" "$labels_json" "$diff_ids" >"$work/config"
read -r config_digest config_size < <(blob "$work/config")

printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
	"$config_digest" "$config_size" "$layers" >"$work/manifest"
read -r manifest_digest manifest_size < <(blob "$work/manifest")

printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"%s","os":"linux"},"annotations":{"io.containerd.image.name":%s,"org.opencontainers.image.ref.name":%s}}]}' \
	"$manifest_digest" "$manifest_size" "$arch" "$(json "$ref")" "$(json "${ref##*:}")" >"$work/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' >"$work/oci-layout"
mkdir -p "$(dirname "$out")"
tar --sort=name --numeric-owner --owner=0 --group=0 --mtime="@$epoch" -C "$work" -cf "$out.tmp" oci-layout index.json blobs
mv "$out.tmp" "$out"
echo ">> $out: $ref, $# layer(s), $(($(stat -c %s "$out") / 1024 / 1024)) MiB" >&2
