#!/usr/bin/env bash
# Usage: hack/release.sh VERSION IMAGE_REPOSITORY DIR
#
# Writes the files of release VERSION (v<semver>) into DIR, replacing what was there:
#   install.yaml   the installer (hack/build-installer.sh), image IMAGE_REPOSITORY:VERSION
#   crds.yaml      the CRD alone, for those who manage CRDs apart
#   voipbin-credential-operator-<semver>.tgz
#                  the Helm chart, version <semver> and appVersion VERSION, so that its
#                  default image is the same IMAGE_REPOSITORY:VERSION
#   SHA256SUMS     the SHA-256 of each, as sha256sum -c checks them
# The work tree is left as it is: the chart is packaged from a copy. KUSTOMIZE and
# HELM name the tools (default bin/kustomize, bin/helm).
set -euo pipefail

version=${1:?usage: hack/release.sh VERSION IMAGE_REPOSITORY DIR}
repository=${2:?usage: hack/release.sh VERSION IMAGE_REPOSITORY DIR}
out=${3:?usage: hack/release.sh VERSION IMAGE_REPOSITORY DIR}
if [[ ! ${version} =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]]; then
	echo "hack/release.sh: VERSION ${version} is not v<semver> (make release VERSION=v1.2.3)" >&2
	exit 1
fi
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
kustomize=${KUSTOMIZE:-${root}/bin/kustomize}
helm=${HELM:-${root}/bin/helm}
chart=voipbin-credential-operator

tmp=$(mktemp -d)
trap 'rm -rf "${tmp}"' EXIT

KUSTOMIZE="${kustomize}" "${root}/hack/build-installer.sh" "${repository}:${version}" "${tmp}/install.yaml"
"${kustomize}" build "${root}/config/crd" >"${tmp}/crds.yaml"
cp -R "${root}/charts/${chart}" "${tmp}/chart"
"${helm}" lint --strict "${tmp}/chart" >/dev/null
"${helm}" package "${tmp}/chart" --version "${version#v}" --app-version "${version}" --destination "${tmp}" >/dev/null
rm -rf "${tmp}/chart"
(cd "${tmp}" && sha256sum install.yaml crds.yaml "${chart}-${version#v}.tgz" >SHA256SUMS)

rm -rf "${out}"
mkdir -p "$(dirname "${out}")"
mv "${tmp}" "${out}"
chmod 755 "${out}"
trap - EXIT
echo "release ${version} written to ${out}:"
ls -1 "${out}"
