// Command soak is the operator's reliability soak (make soak). It starts a
// local control plane (the envtest kube-apiserver and etcd, with the CRDs), the
// VoIPBIN stand-in on a loopback listener issuing short-lived tokens, and two
// manager processes with leader election; it creates a few hundred
// VoipbinCredentials and, for a set duration, injects a seeded random mix of
// API faults, password changes, hand edits, CR churn, restarts and leader
// hand-overs, while it checks the invariants of docs/reliability.md
// continuously. It prints a report, and the time line of every CR that broke
// an invariant with the seed to replay it.
//
//	make soak
//	make soak SOAK_ARGS="--seed 7 --duration 3m --crs 50"
//
// Exit status: 0 when every invariant held, 1 when one failed, 2 when the
// soak could not run.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/voipbin/credential-operator/test/harness"
)

func main() {
	o := DefaultOptions()
	o.addFlags(flag.CommandLine)
	flag.Parse()

	ctx, stop := harness.InterruptContext()
	defer stop()
	rep, err := Run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		stop()
		os.Exit(2)
	}
	if rep.Failed() {
		stop()
		os.Exit(1)
	}
}
