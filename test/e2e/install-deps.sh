#!/usr/bin/env bash
# The machine packages the end-to-end cluster needs, from Debian, installed when missing (root). Everything else is
# built from the Go module proxy (build-tools.sh) or from the repository (images.sh).
set -euo pipefail
missing=()
for tool in containerd:containerd runc:runc ctr:containerd buildah:buildah debootstrap:debootstrap jq:jq openssl:openssl \
            busybox:busybox-static nsenter:util-linux unshare:util-linux ip:iproute2 curl:curl perl:perl-base; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool##*:}")
done
[ -x /usr/lib/cni/loopback ] || missing+=(containernetworking-plugins)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing $(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${missing[@]}" | sort -u) >&2
fi
