#!/usr/bin/env bash
# Prints the folder that holds the envtest control plane (kube-apiserver and etcd),
# building both from the Go module proxy the first time: setup-envtest downloads from
# the internet, which our machines cannot reach (see README, "Offline control plane").
#
# KUBEBUILDER_ASSETS wins if set. Otherwise the binaries go to
# bin/k8s/<k8s version>-<os>-<arch>/ and are built only when missing.
# Cold build: about 10 minutes on 2 cores; later runs print the path at once.
set -euo pipefail

KUBE_VERSION=1.37.2
ETCD_VERSION=3.6.16

if [[ -n "${KUBEBUILDER_ASSETS:-}" ]]; then
  echo "${KUBEBUILDER_ASSETS}"
  exit 0
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir="${root}/bin/k8s/${KUBE_VERSION}-$(go env GOOS)-$(go env GOARCH)"
mkdir -p "${dir}"

log() { echo "envtest: $*" >&2; }

if [[ ! -x "${dir}/kube-apiserver" ]]; then
  log "building kube-apiserver v${KUBE_VERSION} from source (one time, about 10 minutes)..."
  (
    cd "${root}/hack/controlplane/kube-apiserver"
    pkg=k8s.io/component-base/version
    CGO_ENABLED=0 go build -trimpath -o "${dir}/kube-apiserver.tmp" \
      -ldflags "-s -w -X ${pkg}.gitVersion=v${KUBE_VERSION} -X ${pkg}.gitMajor=${KUBE_VERSION%%.*} -X ${pkg}.gitMinor=$(echo "${KUBE_VERSION}" | cut -d. -f2)" \
      k8s.io/kubernetes/cmd/kube-apiserver
  )
  mv "${dir}/kube-apiserver.tmp" "${dir}/kube-apiserver"
fi

if [[ ! -x "${dir}/etcd" ]]; then
  log "building etcd v${ETCD_VERSION} from source (one time, about 1 minute)..."
  (
    cd "${root}/hack/controlplane/etcd"
    CGO_ENABLED=0 go build -trimpath -o "${dir}/etcd.tmp" -ldflags "-s -w" go.etcd.io/etcd/server/v3
  )
  mv "${dir}/etcd.tmp" "${dir}/etcd"
fi

echo "${dir}"
