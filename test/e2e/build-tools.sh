#!/usr/bin/env bash
# Builds what the end-to-end cluster runs, from the Go module proxy, once per version, into
# ${FERRY_TOOLS_DIR:-~/.cache/ferry-tools}/e2e-<versions>/bin (outside the work tree), and prints that bin directory.
# Versions: ../shared/reference/local-kubernetes.md ("Versions known to fit together").
# Cold: tens of minutes on 2 cores (Kubernetes dominates); cached: nothing is rebuilt.
#
#   build-tools.sh                 everything the end-to-end cluster needs
#   build-tools.sh control-plane   etcd and kube-apiserver only (the API-server tests in npm test)
#   build-tools.sh suite           Kubernetes' external storage suite (e2e-storage.test), the ginkgo runner, agnhost and
#                                  hello-populator
#   build-tools.sh --print-dir     print the bin directory, build nothing
set -euo pipefail
what="${1:-all}"
case "$what" in all|control-plane|suite|--print-dir) ;; *) echo "usage: $0 [all|control-plane|suite|--print-dir]" >&2; exit 2 ;; esac

K8S_VERSION=v1.36.3
K8S_STAGING_VERSION=v0.36.3
ETCD_VERSION=v3.6.14
PROVISIONER=github.com/kubernetes-csi/external-provisioner/v6@v6.3.0
ATTACHER=github.com/kubernetes-csi/external-attacher/v4@v4.12.0
SNAPSHOTTER=github.com/kubernetes-csi/external-snapshotter/v8@v8.6.0
SNAPSHOT_CLIENT=github.com/kubernetes-csi/external-snapshotter/client/v8@v8.6.0
# The chart asks for csi-resizer v2.2.1, which the Go module proxy does not have (only v2.2.0 and v2.3.0): build the
# v2.2 release it has; images.sh tags it v2.2.0 and the end-to-end values point the chart at that tag.
RESIZER_VERSION=v2.2.0
# The storage suite's any-volume-data-source spec deploys registry.k8s.io/sig-storage/hello-populator:v1.0.1; the proxy
# has lib-volume-populator (where hello-populator is an example) only from v1.1.0: the newest it has is built
# and images.sh tags it as the name the spec asks for. Same flags (--mode, --image-name, --namespace, --http-endpoint).
POPULATOR=github.com/kubernetes-csi/lib-volume-populator@v1.2.0

tools_root="${FERRY_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ferry-tools}"
out="$tools_root/e2e-k8s-$K8S_VERSION-etcd-$ETCD_VERSION"
bin="$out/bin"
if [ "$what" = --print-dir ]; then echo "$bin"; exit 0; fi
mkdir -p "$bin" "$out/crd"
# One build at a time (a test run and a hand-started build would otherwise race on the same files).
# The suite has its own lock: its long build must not hold up the cluster's.
lock="$out/.lock"; [ "$what" = suite ] && lock="$out/.suite.lock"
exec 9>"$lock"
flock 9
export GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0
log() { echo "[e2e-tools $(date +%T)] $*" >&2; }

scratch="$(mktemp -d)"
trap 'chmod -R u+w "$scratch" 2>/dev/null; rm -rf "$scratch"' EXIT

# Downloads MOD@VER and copies it to a writable directory under $scratch; prints that directory.
module_copy() {
  local dir dest
  dir="$(cd / && go mod download -json "$1" | jq -r .Dir)"
  dest="$scratch/$(echo "$1" | tr '/@' '__')"
  cp -r "$dir" "$dest"
  chmod -R u+w "$dest"
  echo "$dest"
}

if [ ! -x "$bin/etcd" ] || [ ! -x "$bin/etcdctl" ]; then
  log "building etcd $ETCD_VERSION"
  mkdir -p "$scratch/etcd" && (
    cd "$scratch/etcd"
    go mod init ferry.local/etcd >/dev/null 2>&1
    go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" "go.etcd.io/etcd/etcdctl/v3@$ETCD_VERSION" >&2
    go build -trimpath -o "$bin/etcd" go.etcd.io/etcd/server/v3 >&2
    go build -trimpath -o "$bin/etcdctl" go.etcd.io/etcd/etcdctl/v3 >&2
  )
fi

# A scratch module in $1 that requires k8s.io/kubernetes $K8S_VERSION: k8s.io/kubernetes replaces its staging modules
# with ./staging paths its module zip lacks, so each is pointed at its release.
k8s_module() {
  mkdir -p "$1"
  (
    cd "$1"
    go mod init ferry.local/k8s >/dev/null 2>&1
    gomod="$(cd / && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | jq -r .GoMod)"
    edits=(-require="k8s.io/kubernetes@$K8S_VERSION")
    for m in $(grep -E '=> \./staging/' "$gomod" | awk '{print $1}'); do
      edits+=(-replace="$m=$m@$K8S_STAGING_VERSION")
    done
    go mod edit "${edits[@]}"
  )
}
k8s_version_ldflags() {
  local v="${K8S_VERSION#v}" ldflags="-s -w" p
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=${v%%.*} -X $p.gitMinor=$(echo "$v" | cut -d. -f2) -X $p.gitTreeState=clean"
  done
  echo "$ldflags"
}

if [ "$what" = suite ]; then
  # The external storage suite: test/e2e/suite/storage_suite_test.go compiled against k8s.io/kubernetes (the specs
  # are upstream's), the ginkgo CLI of the version Kubernetes requires (parallel runs), and agnhost, the image the
  # suite's pods run beside busybox.
  if [ ! -x "$bin/hello-populator" ]; then
    log "building hello-populator ($POPULATOR)"
    src="$(module_copy "$POPULATOR")"
    (cd "$src" && rm -rf vendor && go build -trimpath -o "$bin/hello-populator" ./example/hello-populator >&2)
  fi
  if [ ! -x "$bin/e2e-storage.test" ] || [ ! -x "$bin/ginkgo" ] || [ ! -x "$bin/agnhost" ]; then
    log "building the external storage suite (Kubernetes $K8S_VERSION)"
    k8s_module "$scratch/suite"
    cp "$(dirname "$0")/suite/storage_suite_test.go" "$scratch/suite/"
    (
      cd "$scratch/suite"
      go mod tidy -e >&2 || true
      [ -x "$bin/e2e-storage.test" ] || go test -c -trimpath -ldflags "$(k8s_version_ldflags)" -o "$bin/e2e-storage.test" . >&2
      # the CLI from the module graph the suite was built in: the same ginkgo version as the library inside it
      [ -x "$bin/ginkgo" ] || go build -trimpath -o "$bin/ginkgo" github.com/onsi/ginkgo/v2/ginkgo >&2
      [ -x "$bin/agnhost" ] || go build -trimpath -o "$bin/agnhost" k8s.io/kubernetes/test/images/agnhost >&2
    )
  fi
  log "done (suite)"; echo "$bin"; exit 0
fi

k8s_bins=(kube-apiserver kube-controller-manager kube-scheduler kubelet)
[ "$what" = control-plane ] && k8s_bins=(kube-apiserver)
missing=0; for b in "${k8s_bins[@]}"; do [ -x "$bin/$b" ] || missing=1; done
if [ "$missing" = 1 ]; then
  log "building Kubernetes $K8S_VERSION"
  k8s_module "$scratch/k8s"
  (
    cd "$scratch/k8s"
    cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
GO
    go mod tidy -e >&2 || true
    ldflags="$(k8s_version_ldflags)"
    for b in "${k8s_bins[@]}"; do
      [ -x "$bin/$b" ] && continue
      log "  $b"
      go build -trimpath -tags tools -ldflags "$ldflags" -o "$bin/$b" "k8s.io/kubernetes/cmd/$b" >&2
    done
  )
fi

if [ "$what" = control-plane ]; then log "done (control plane)"; echo "$bin"; exit 0; fi

if [ ! -x "$bin/csi-provisioner" ]; then
  log "building csi-provisioner"; d="$(module_copy "$PROVISIONER")"
  (cd "$d" && go build -trimpath -o "$bin/csi-provisioner" ./cmd/csi-provisioner >&2)
fi
if [ ! -x "$bin/csi-attacher" ]; then
  log "building csi-attacher"; d="$(module_copy "$ATTACHER")"
  (cd "$d" && go build -trimpath -o "$bin/csi-attacher" ./cmd/csi-attacher >&2)
fi
if [ ! -x "$bin/csi-snapshotter" ] || [ ! -x "$bin/snapshot-controller" ] || [ -z "$(ls "$out/crd" 2>/dev/null)" ]; then
  log "building csi-snapshotter and snapshot-controller"; d="$(module_copy "$SNAPSHOTTER")"
  (
    cd "$d"
    go mod edit -dropreplace=github.com/kubernetes-csi/external-snapshotter/client/v8 -require="$SNAPSHOT_CLIENT"
    go build -trimpath -o "$bin/csi-snapshotter" ./cmd/csi-snapshotter >&2
    go build -trimpath -o "$bin/snapshot-controller" ./cmd/snapshot-controller >&2
  )
  # The CRDs live in the client module (a nested module: not in the main module's zip).
  cp "$(cd / && go mod download -json "$SNAPSHOT_CLIENT" | jq -r .Dir)"/config/crd/*.yaml "$out/crd/"
  chmod u+w "$out/crd/"*.yaml
fi
if [ ! -x "$bin/csi-resizer" ]; then
  log "building csi-resizer"
  GOBIN="$bin" go install -trimpath "github.com/kubernetes-csi/external-resizer/v2/cmd/csi-resizer@$RESIZER_VERSION" >&2
fi
# node-driver-registrar and livenessprobe: the Go module proxy reachable here does not serve their modules (403), so
# the end-to-end cluster runs the stand-ins under test/e2e/stand-ins (same flags, same job). Built from a copy: the
# build resolves go.sum, which stays out of the work tree.
# Rebuilt whenever their sources change (the sum of every file under stand-ins/).
stand_ins_sum="$(cd "$(dirname "$0")/stand-ins" && find . -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1)"
if [ ! -x "$bin/csi-node-driver-registrar" ] || [ ! -x "$bin/livenessprobe" ] || [ "$(cat "$bin/.stand-ins.sum" 2>/dev/null)" != "$stand_ins_sum" ]; then
  log "building the node-driver-registrar and livenessprobe stand-ins"
  cp -r "$(dirname "$0")/stand-ins" "$scratch/stand-ins"
  (cd "$scratch/stand-ins" && go mod tidy >&2 && go build -trimpath -o "$bin/" ./csi-node-driver-registrar ./livenessprobe >&2)
  echo "$stand_ins_sum" > "$bin/.stand-ins.sum"
fi
log "done"
echo "$bin"
