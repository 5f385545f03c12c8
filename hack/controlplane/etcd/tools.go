//go:build tools

// Package tools pins etcd for the offline envtest build (hack/envtest.sh).
package tools

import _ "go.etcd.io/etcd/server/v3"
