#!/usr/bin/env bash
# Usage: hack/sync-chart.sh
#
# Copies into the Helm chart the files config/ owns, so that the chart and the
# installer share one source: the CRD and the manager's ClusterRole (both generated
# by controller-gen), the alert rules and the Grafana dashboard. make manifests runs
# it; make test fails if the copies are stale (verify-generated), and test/chart
# compares what the chart renders from them with what kustomize builds.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
files=${root}/charts/voipbin-credential-operator/files

mkdir -p "${files}"
cp "${root}/config/crd/bases/credentials.voipbin.net_voipbincredentials.yaml" "${files}/crd.yaml"
cp "${root}/config/rbac/role.yaml" "${files}/manager-role.yaml"
cp "${root}/config/prometheus/prometheusrule.yaml" "${files}/prometheusrule.yaml"
if [[ -f "${root}/config/grafana/dashboard.json" ]]; then
	cp "${root}/config/grafana/dashboard.json" "${files}/dashboard.json"
fi
