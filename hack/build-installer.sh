#!/usr/bin/env bash
# Usage: hack/build-installer.sh IMAGE OUTPUT
#
# Writes the installer for IMAGE to OUTPUT: one YAML with everything of config/default
# (namespace, CRD, RBAC, the manager Deployment, its PodDisruptionBudget and
# NetworkPolicy, the metrics Service).
#
# `kustomize edit set image` rewrites config/manager/kustomization.yaml, so it runs on
# a temporary copy of config/: building an installer never dirties the work tree.
# KUSTOMIZE names the kustomize binary (default bin/kustomize).
set -euo pipefail

img=${1:?usage: hack/build-installer.sh IMAGE OUTPUT}
out=${2:?usage: hack/build-installer.sh IMAGE OUTPUT}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
kustomize=${KUSTOMIZE:-${root}/bin/kustomize}

tmp=$(mktemp -d)
trap 'rm -rf "${tmp}"' EXIT
cp -R "${root}/config" "${tmp}/config"
(cd "${tmp}/config/manager" && "${kustomize}" edit set image "controller=${img}")

# Written next to OUTPUT first, so that a failed build leaves no half installer.
mkdir -p "$(dirname "${out}")"
"${kustomize}" build "${tmp}/config/default" >"${out}.tmp"
mv "${out}.tmp" "${out}"
