// Package e2e tests the operator as it ships, from the outside.
//
// The built manager binary runs against a real kube-apiserver (envtest) and
// the VoIPBIN stand-in, and the specs check the invariants of
// docs/architecture.md ("Invariants"): what the managed Secret holds, the
// conditions a user and kstatus read, the events, and how many logins reach
// the API. Each of those specs gets its own namespace, stand-in and manager
// process watching only that namespace.
//
// The binary itself: the release build (static, stamped with its version, as
// the Dockerfile and make build make it), the flags, the probes, leader
// election outside a cluster, the metrics endpoint (authorized scrapers only,
// no secret), the CRD's documentation, the installer (its contents, the
// restricted Pod Security Standard and its RBAC, asked of a bare API server of
// its own, as the installer brings its own CRD) and the Prometheus manifests.
//
// Run it with KUBEBUILDER_ASSETS set and kustomize in bin/ (make test does both):
//
//	go test ./test/e2e/ -ginkgo.v
//
// The control plane is started and the binary built once. After the last spec
// every manager's logs, every event and every status are scanned for the
// passwords, tokens and accesskeys used.
package e2e
