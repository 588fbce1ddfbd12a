#!/usr/bin/env bash
# Installs the Go tools the tests use into a cache outside the work tree, one directory per version,
# so a second run costs nothing. Prints the directory holding the binaries.
set -euo pipefail

CSI_SANITY_VERSION=v5.4.0
tools_root="${FERRY_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ferry-tools}"
bin="$tools_root/csi-sanity-$CSI_SANITY_VERSION"

if [ ! -x "$bin/csi-sanity" ]; then
  mkdir -p "$bin"
  echo "installing csi-sanity $CSI_SANITY_VERSION into $bin" >&2
  GOBIN="$bin" GOFLAGS=-mod=mod go install "github.com/kubernetes-csi/csi-test/v5/cmd/csi-sanity@$CSI_SANITY_VERSION" >&2
fi
echo "$bin"
