#!/usr/bin/env bash
# Usage: images.sh [NAME...]   (NAME: pause busybox ferry suite or a sidecar binary name; default all but suite)
# Builds the container images the end-to-end cluster runs, without a registry or a Docker engine, as docker-save
# tarballs in ${FERRY_TOOLS_DIR:-~/.cache/ferry-tools}/e2e-images (outside the work tree), and prints that directory.
# Its images.txt lists them: "<file> <image reference>" a line. Load one with
#   ctr -a SOCKET -n k8s.io images import FILE
#
# - pause and busybox:1.36 from Debian's busybox-static;
# - the CSI sidecars and snapshot-controller (test/e2e/build-tools.sh builds them): each static binary alone on an
#   otherwise empty root, entrypoint the binary, named exactly as charts/ferry/values.yaml references them;
# - ferry:<package.json version> from the repository's Dockerfile with buildah, on local stand-ins for the node:20
#   base images (debootstrap minbase + the host's Node.js and npm), as docs/packaging.md describes;
# - suite (only when named; Kubernetes' external storage suite, npm run e2e:suite): agnhost (build-tools.sh suite builds
#   it from k8s.io/kubernetes/test/images/agnhost) on a busybox root, and busybox under the e2e-test-images names the
#   suite's pods ask for (its busybox, and its nginx and glibc-dns-testing, which the storage specs run only with a
#   shell command of their own).
# Every tarball is keyed by a hash of what it is made of, so a second run rebuilds only what changed (the Ferry image
# whenever the sources, Dockerfile or lock file change: about 30 s to a minute warm; the base image once, a few minutes).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
tools_root="${FERRY_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ferry-tools}"
out="$tools_root/e2e-images"
mkdir -p "$out"
log() { echo "[e2e-images $(date +%T)] $*" >&2; }

# One build at a time: two test runs starting together would otherwise write the same tarballs.
exec 9>"$out/.lock"
flock 9

# With arguments, only the images named (the others keep their cached tarballs).
only=" $* "
wanted() { [ "$only" = "  " ] || [[ "$only" == *" $1 "* ]]; }

# Bump when the way an image is assembled changes, so every cached tarball is rebuilt.
RECIPE=2
PAUSE_REF=registry.k8s.io/pause:3.10
BUSYBOX_REF=busybox:1.36
SIDECARS=(
  "csi-provisioner registry.k8s.io/sig-storage/csi-provisioner:v6.3.0"
  "csi-attacher registry.k8s.io/sig-storage/csi-attacher:v4.12.0"
  "csi-resizer registry.k8s.io/sig-storage/csi-resizer:v2.2.0"
  "csi-snapshotter registry.k8s.io/sig-storage/csi-snapshotter:v8.6.0"
  "csi-node-driver-registrar localhost/ferry-e2e/csi-node-driver-registrar:stand-in"
  "livenessprobe localhost/ferry-e2e/livenessprobe:stand-in"
  "snapshot-controller registry.k8s.io/sig-storage/snapshot-controller:v8.6.0"
)
# The names Kubernetes v1.36.3's e2e framework asks for (test/utils/image/manifest.go).
SUITE_BUSYBOX=(
  "e2e-test-busybox registry.k8s.io/e2e-test-images/busybox:1.37.0-1"
  "e2e-test-nginx registry.k8s.io/e2e-test-images/nginx:1.15-4"
  "e2e-test-glibc-dns-testing registry.k8s.io/e2e-test-images/glibc-dns-testing:2.0.0"
)
AGNHOST_REF=registry.k8s.io/e2e-test-images/agnhost:2.63.0
# Built from lib-volume-populator v1.2.0 (build-tools.sh), under the name the suite's manifest has.
POPULATOR_REF=registry.k8s.io/sig-storage/hello-populator:v1.0.1

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

sha() { sha256sum "$@" | cut -d' ' -f1; }

# True when $out/$1.tar exists and was made from key $2.
cached() { [ -f "$out/$1.tar" ] && [ "$(cat "$out/$1.key" 2>/dev/null)" = "$2" ]; }

# docker_archive NAME REF ROOTFS CONFIG_JSON KEY: one-layer docker-save tarball $out/NAME.tar of directory ROOTFS.
# CONFIG_JSON is the image's runtime config ({"Entrypoint": [...], ...}). The layer is reproducible (sorted, owned by
# root, mtime 0), so equal inputs give an equal image id.
docker_archive() {
  local name="$1" ref="$2" rootfs="$3" runtime="$4" key="$5" dir diff config_sha
  dir="$scratch/archive-$name"
  mkdir -p "$dir/layer"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$rootfs" -cf "$dir/layer/layer.tar" .
  diff="$(sha "$dir/layer/layer.tar")"
  jq -n --argjson c "$runtime" --arg diff "sha256:$diff" \
    '{architecture: "amd64", os: "linux", created: "1970-01-01T00:00:00Z", config: $c,
      rootfs: {type: "layers", diff_ids: [$diff]}, history: [{created: "1970-01-01T00:00:00Z", created_by: "test/e2e/images.sh"}]}' \
    > "$dir/config.json"
  config_sha="$(sha "$dir/config.json")"
  mv "$dir/config.json" "$dir/$config_sha.json"
  mv "$dir/layer" "$dir/$diff"
  jq -n --arg c "$config_sha.json" --arg r "$ref" --arg l "$diff/layer.tar" '[{Config: $c, RepoTags: [$r], Layers: [$l]}]' \
    > "$dir/manifest.json"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$dir" -cf "$out/$name.tar.tmp" .
  mv "$out/$name.tar.tmp" "$out/$name.tar"
  echo "$key" > "$out/$name.key"
  rm -rf "$dir"
  log "built $ref"
}

# A root with the directories and files programs expect to exist even in a minimal image.
minimal_root() {
  mkdir -p "$1/tmp" "$1/etc" "$1/proc" "$1/sys" "$1/dev"
  chmod 1777 "$1/tmp"
  printf 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\nnonroot:x:65532:65532:nonroot:/:/bin/false\n' > "$1/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' > "$1/etc/group"
}

env_path='["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]'
busybox_bin=/bin/busybox
busybox_key="$RECIPE $(sha "$busybox_bin")"

# The sandbox ("pause") image: a process that sleeps until killed. containerd kills sandboxes with SIGKILL, so
# busybox's sleep (which ignores SIGTERM as PID 1) does the job of the real pause binary.
if wanted pause && ! cached pause "$busybox_key $PAUSE_REF"; then
  r="$scratch/pause"; minimal_root "$r"; mkdir -p "$r/bin"; cp "$busybox_bin" "$r/bin/busybox"
  docker_archive pause "$PAUSE_REF" "$r" "{\"Entrypoint\": [\"/bin/busybox\", \"sleep\", \"infinity\"], \"Env\": $env_path}" \
    "$busybox_key $PAUSE_REF"
fi

# busybox:1.36 (the chart's test pod and our smoke pods): busybox with a link per applet. Debian ships 1.35; the tag is
# what the chart asks for.
# busybox with a link per applet, in directory $1.
busybox_root() {
  minimal_root "$1"; mkdir -p "$1/bin" "$1/usr/bin" "$1/sbin" "$1/usr/sbin" "$1/root"
  cp "$busybox_bin" "$1/bin/busybox"
  for applet in $("$busybox_bin" --list-full); do
    [ -e "$1/$applet" ] || ln -s /bin/busybox "$1/$applet"
  done
}

# busybox:1.36 (the chart's test pod and our smoke pods). Debian ships 1.35; the tag is what the chart asks for.
if wanted busybox && ! cached busybox "$busybox_key $BUSYBOX_REF"; then
  r="$scratch/busybox"; busybox_root "$r"
  docker_archive busybox "$BUSYBOX_REF" "$r" "{\"Cmd\": [\"sh\"], \"Env\": $env_path}" "$busybox_key $BUSYBOX_REF"
fi

# Kubernetes' storage suite: only when named (it needs build-tools.sh suite, a long build of its own).
if [[ "$only" == *" suite "* ]]; then
  # glibc-dns-testing is the suite's image with GNU tools (its specs run `dd oflag=nocache`, which busybox's dd lacks):
  # the host's GNU dd with its libraries goes in first on PATH, and the host's dash is /bin/sh (Debian's busybox sh
  # runs its own applets before anything on PATH).
  gnu_dd_key="$(sha /bin/dd /bin/dash "$(readlink -f /lib/x86_64-linux-gnu/libc.so.6)")"
  for entry in "${SUITE_BUSYBOX[@]}"; do
    set -- $entry
    key="$busybox_key $2"; [[ "$1" == *glibc* ]] && key+=" gnu-dd=$gnu_dd_key"
    cached "$1" "$key" && continue
    r="$scratch/$1"; busybox_root "$r"
    if [[ "$1" == *glibc* ]]; then
      mkdir -p "$r/usr/local/bin" "$r/lib/x86_64-linux-gnu" "$r/lib64"
      cp /bin/dd "$r/usr/local/bin/dd"
      rm -f "$r/bin/sh"; cp /bin/dash "$r/bin/sh"
      for lib in $(ldd /bin/dd /bin/dash | grep -oE '/[^ ]+\.so[^ ]*' | sort -u); do cp -L "$lib" "$r/lib/x86_64-linux-gnu/"; done
      ln -sf /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$r/lib64/ld-linux-x86-64.so.2"
    fi
    docker_archive "$1" "$2" "$r" "{\"Cmd\": [\"sh\"], \"Env\": $env_path}" "$key"
  done
  agnhost="$(bash "$here/build-tools.sh" --print-dir)/agnhost"
  [ -x "$agnhost" ] || { echo "missing $agnhost (run test/e2e/build-tools.sh suite)" >&2; exit 1; }
  key="$busybox_key $(sha "$agnhost") $AGNHOST_REF"
  if ! cached agnhost "$key"; then
    r="$scratch/agnhost"; busybox_root "$r"; cp "$agnhost" "$r/agnhost"; chmod 0755 "$r/agnhost"
    docker_archive agnhost "$AGNHOST_REF" "$r" "{\"Entrypoint\": [\"/agnhost\"], \"Env\": $env_path}" "$key"
  fi
  populator="$(bash "$here/build-tools.sh" --print-dir)/hello-populator"
  [ -x "$populator" ] || { echo "missing $populator (run test/e2e/build-tools.sh suite)" >&2; exit 1; }
  key="$RECIPE $(sha "$populator") $POPULATOR_REF"
  if ! cached hello-populator "$key"; then
    r="$scratch/hello-populator"; minimal_root "$r"; cp "$populator" "$r/hello-populator"; chmod 0755 "$r/hello-populator"
    docker_archive hello-populator "$POPULATOR_REF" "$r" "{\"Entrypoint\": [\"/hello-populator\"], \"Env\": $env_path}" "$key"
  fi
fi

for entry in "${SIDECARS[@]}"; do
  set -- $entry
  name="$1" ref="$2"
  wanted "$name" || continue
  # build-tools.sh prints its bin directory, building whatever is missing (nothing when cached).
  bin="${bin:-${FERRY_E2E_BIN:-$(bash "$here/build-tools.sh")}}"
  [ -x "$bin/$name" ] || { echo "missing $bin/$name (run test/e2e/build-tools.sh)" >&2; exit 1; }
  key="$RECIPE $(sha "$bin/$name") $ref"
  cached "$name" "$key" && continue
  r="$scratch/$name"; minimal_root "$r"; cp "$bin/$name" "$r/$name"; chmod 0755 "$r/$name"
  docker_archive "$name" "$ref" "$r" "{\"Entrypoint\": [\"/$name\"], \"Env\": $env_path}" "$key"
done

# --- Ferry, from the Dockerfile ----------------------------------------------------------------------------------
if wanted ferry; then
  export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot
  # Our own buildah storage under the cache: images and containers of other buildah users are none of our business.
  bah() { buildah --root "$out/buildah/root" --runroot "$out/buildah/runroot" "$@"; }

  node_bin="$(command -v node)"
  npm_dir="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"
  base_key="$RECIPE bookworm-minbase-libstdc++6 node=$(sha "$node_bin") npm=$(jq -r .version "$npm_dir/package.json")"
  base_ref=localhost/node:20-bookworm

  # The base image: Debian bookworm minbase (with libstdc++6 for Node.js) plus the host's node and npm. It stands in for
  # both node:20-bookworm and node:20-bookworm-slim; the Dockerfile takes its base images as build arguments.
  if ! cached node-base "$base_key" || ! bah inspect --type image "$base_ref" >/dev/null 2>&1; then
    if ! cached node-base "$base_key"; then
      log "debootstrap bookworm (minbase): a few minutes"
      r="$scratch/base"
      debootstrap --variant=minbase --include=libstdc++6 bookworm "$r" http://deb.debian.org/debian > "$scratch/debootstrap.log" 2>&1 \
        || { tail -20 "$scratch/debootstrap.log" >&2; exit 1; }
      mkdir -p "$r/usr/local/bin" "$r/usr/local/lib/node_modules" "$r/etc/ssl/certs"
      cp "$node_bin" "$r/usr/local/bin/node"
      cp -a "$npm_dir" "$r/usr/local/lib/node_modules/npm"
      ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$r/usr/local/bin/npm"
      ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$r/usr/local/bin/npx"
      # Our network may inspect TLS with its own CA: the host's bundle lets npm in the build stage reach the registry.
      cp /etc/ssl/certs/ca-certificates.crt "$r/etc/ssl/certs/ca-certificates.crt"
      rm -rf "$r/var/cache/apt/archives/"*.deb "$r/var/lib/apt/lists/"*
      tar --numeric-owner -C "$r" -cf "$out/node-base.tar.tmp" .
      mv "$out/node-base.tar.tmp" "$out/node-base.tar"
      echo "$base_key" > "$out/node-base.key"
      rm -rf "$r"
    fi
    log "committing $base_ref"
    c="$(bah from scratch)"
    bah add "$c" "$out/node-base.tar" / >/dev/null
    bah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      --env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt --cmd node "$c"
    bah commit --quiet --rm "$c" "$base_ref" >/dev/null
    bah tag "$base_ref" localhost/node:20-bookworm-slim
  fi

  version="$(jq -r .version "$repo/package.json")"
  ferry_ref="ferry:$version"
  # What the Dockerfile's build context holds (see .dockerignore), plus the Dockerfile and the base image.
  ferry_key="$RECIPE $base_key $(
    cd "$repo"
    { printf '%s\n' Dockerfile .dockerignore package.json package-lock.json tsconfig.json tsconfig.build.json scripts/gen-proto-types.mjs
      find proto src -type f -not -path 'src/gen/*'; } | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1
  ) $ferry_ref"
  if ! cached ferry "$ferry_key"; then
    log "building $ferry_ref from the Dockerfile (buildah)"
    # No --layers: with the vfs driver every cached layer is a full copy of the root filesystem.
    (cd "$repo" && bah bud --build-arg BUILD_IMAGE="$base_ref" --build-arg RUNTIME_IMAGE=localhost/node:20-bookworm-slim \
      -t "localhost/$ferry_ref" . > "$scratch/bud.log" 2>&1) || { tail -40 "$scratch/bud.log" >&2; exit 1; }
    rm -f "$out/ferry.tar.tmp"
    bah push "localhost/$ferry_ref" "docker-archive:$out/ferry.tar.tmp:$ferry_ref" > "$scratch/push.log" 2>&1 \
      || { tail -20 "$scratch/push.log" >&2; exit 1; }
    mv "$out/ferry.tar.tmp" "$out/ferry.tar"
    echo "$ferry_key" > "$out/ferry.key"
    # Keep the base images; drop the previous Ferry builds and the build stage.
    bah rm --all >/dev/null 2>&1 || true
    bah rmi --prune >/dev/null 2>&1 || true
    log "built $ferry_ref"
  fi
fi

version="$(jq -r .version "$repo/package.json")"
{
  echo "pause.tar $PAUSE_REF"
  echo "busybox.tar $BUSYBOX_REF"
  for entry in "${SIDECARS[@]}"; do set -- $entry; echo "$1.tar $2"; done
  echo "ferry.tar ferry:$version"
  for entry in "${SUITE_BUSYBOX[@]}" "agnhost $AGNHOST_REF" "hello-populator $POPULATOR_REF"; do set -- $entry; if [ -f "$out/$1.tar" ]; then echo "$1.tar $2"; fi; done
} > "$out/images.txt"
echo "$out"
