// Package e2e runs the built manager binary against a real kube-apiserver
// (envtest) and the VoIPBIN stand-in, and checks the promises of design.md,
// "Behaviour", from the outside: what the managed Secret holds, the conditions a
// user and kstatus read, the events, and how many logins reach the API.
//
// Run it with KUBEBUILDER_ASSETS set (make test sets it):
//
//	go test ./test/e2e/ -ginkgo.v
//
// Each spec gets its own namespace, stand-in and manager process watching only
// that namespace; the control plane is started and the binary built once. After
// the last spec every manager's logs, every event and every status are scanned
// for the passwords, tokens and accesskeys used.
package e2e
