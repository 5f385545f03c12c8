// Package binary tests the operator as it ships, from the outside: the release
// build (static, stamped with its version, as the Dockerfile and make build make
// it), the manager binary's flags, probes, leader election outside a cluster and
// metrics endpoint, the CRD's documentation, the installer (its contents, the
// restricted Pod Security Standard and its RBAC, asked of a real API server),
// and the Prometheus manifests. The operator's behaviour is test/e2e's.
//
// Run it with KUBEBUILDER_ASSETS set and kustomize in bin/ (make test does both):
//
//	go test ./test/binary/ -ginkgo.v
//
// The manager is built and a control plane with the CRDs started once; the
// installer gets a bare control plane of its own, as it brings its own CRD.
package binary
