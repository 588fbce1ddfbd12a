#!/usr/bin/env bash
# Installs helm (built from its Go module) into the same cache as scripts/install-tools.sh, one directory per version,
# and prints that directory. The chart test also needs kubectl (client-side dry runs): Debian has no kubectl package,
# so when the machine has none (or FERRY_BUILD_KUBECTL=1) kubectl is built from the k8s.io/kubectl module into the
# same directory.
set -euo pipefail

HELM_VERSION=v3.22.0
HELM_K8S_MINOR=37                # helm v3.22 is built on the Kubernetes 1.37 modules
KUBECTL_MODULE_VERSION=v0.37.0   # kubectl 1.37.0
tools_root="${FERRY_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ferry-tools}"
bin="$tools_root/helm-$HELM_VERSION"

if [ ! -x "$bin/helm" ]; then
  mkdir -p "$bin"
  echo "installing helm $HELM_VERSION into $bin" >&2
  # The stamps helm's Makefile sets: without them `helm version` says nothing and `helm template` assumes Kubernetes 1.20.
  ldflags="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  for pkg in pkg/lint/rules pkg/chartutil; do
    ldflags+=" -X helm.sh/helm/v3/$pkg.k8sVersionMajor=1 -X helm.sh/helm/v3/$pkg.k8sVersionMinor=$HELM_K8S_MINOR"
  done
  GOBIN="$bin" GOFLAGS=-mod=mod CGO_ENABLED=0 go install -trimpath -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2
fi

if [ ! -x "$bin/kubectl" ] && { [ "${FERRY_BUILD_KUBECTL:-0}" = 1 ] || ! command -v kubectl >/dev/null 2>&1; }; then
  # kubectl's main package lives in k8s.io/kubernetes, whose staging replaces defeat `go install`; its body is three
  # lines around k8s.io/kubectl, so build that from a scratch module instead.
  echo "installing kubectl ($KUBECTL_MODULE_VERSION) into $bin" >&2
  scratch="$(mktemp -d)"
  trap 'rm -rf "$scratch"' EXIT
  cat >"$scratch/main.go" <<'GO'
package main

import (
	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	if err := cli.RunNoErrOutput(cmd.NewDefaultKubectlCommand()); err != nil {
		util.CheckErr(err)
	}
}
GO
  (
    cd "$scratch"
    export GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0
    go mod init ferry.local/kubectl >/dev/null 2>&1
    go get "k8s.io/kubectl@$KUBECTL_MODULE_VERSION" "k8s.io/component-base@$KUBECTL_MODULE_VERSION" >&2
    version="v1.${KUBECTL_MODULE_VERSION#v0.}"
    go build -trimpath -ldflags "-X k8s.io/component-base/version.gitVersion=$version -X k8s.io/client-go/pkg/version.gitVersion=$version" \
      -o "$bin/kubectl" . >&2
  )
fi
echo "$bin"
