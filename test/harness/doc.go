// Package harness is the one rig every end-to-end suite, the soak, the bench and
// the demo share (docs/architecture.md, "Packages"): a control plane (the envtest
// kube-apiserver and etcd with the CRDs) and an admin kubeconfig file for child
// processes, the manager binary built and run as a child process with its logs
// kept, the VoIPBIN stand-in served on a loopback port, free ports, one leak
// scanner for passwords, tokens and accesskeys (with its positive control) and
// what it reads of a cluster, and for the programs a context that Ctrl-C ends
// and quiet library logs.
//
// It reports failures as errors and imports no test framework, so that programs
// (the soak, the bench, the demo) can use it as well as Ginkgo and std
// testing suites.
package harness
