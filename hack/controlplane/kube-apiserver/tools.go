//go:build tools

// Package tools pins kube-apiserver for the offline envtest build (hack/envtest.sh).
package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
