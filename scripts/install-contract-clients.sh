#!/usr/bin/env bash
# Installs the public PowerFlex clients the contract tests drive `ferry pool` with, into a cache outside the work
# tree, keyed by client version and by the hash of what is built, so a second run costs nothing:
#   - goscaleio (Dell's Go client): test/contract/goscaleio built into one binary;
#   - PyPowerFlex (Dell's Python SDK): a venv from test/contract/pypowerflex/requirements.txt.
# Prints "goscaleio=<binary>" and "python=<the venv's python>".
set -euo pipefail
cd "$(dirname "$0")/.."

GOSCALEIO_VERSION=v1.23.0
PYPOWERFLEX_VERSION=2.0.1
tools_root="${FERRY_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ferry-tools}"
mkdir -p "$tools_root"

hash_of() { cat "$@" | sha256sum | cut -c1-12; }

go_src=test/contract/goscaleio
go_dir="$tools_root/goscaleio-contract-$GOSCALEIO_VERSION-$(hash_of "$go_src"/go.mod "$go_src"/go.sum "$go_src"/*.go)"
if [ ! -x "$go_dir/goscaleio-contract" ]; then
  echo "building the goscaleio $GOSCALEIO_VERSION contract client into $go_dir" >&2
  tmp="$(mktemp -d "$tools_root/.goscaleio-contract.XXXXXX")"
  (cd "$go_src" && go build -buildvcs=false -o "$tmp/goscaleio-contract" .) >&2
  rm -rf "$go_dir" && mv "$tmp" "$go_dir"
fi

py_req=test/contract/pypowerflex/requirements.txt
py_version="$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
py_dir="$tools_root/pypowerflex-$PYPOWERFLEX_VERSION-py$py_version-$(hash_of "$py_req")"
# A venv cannot move (it records its own path): build it in place, and mark it whole only once pip is done.
if [ ! -f "$py_dir/.complete" ]; then
  echo "installing PyPowerFlex $PYPOWERFLEX_VERSION into $py_dir" >&2
  rm -rf "$py_dir"
  python3 -m venv "$py_dir" >&2
  "$py_dir/bin/pip" install --quiet --no-input -r "$py_req" >&2
  "$py_dir/bin/python" -c 'import PyPowerFlex' >&2
  touch "$py_dir/.complete"
fi

echo "goscaleio=$go_dir/goscaleio-contract"
echo "python=$py_dir/bin/python"
