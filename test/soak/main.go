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
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	o := DefaultOptions()
	flag.Int64Var(&o.Seed, "seed", o.Seed, "Seed of the fault plan: the same seed and sizes replay the same plan.")
	flag.DurationVar(&o.Duration, "duration", o.Duration, "How long faults are injected.")
	flag.IntVar(&o.CRs, "crs", o.CRs, "VoipbinCredentials created at the start (each with its own VoIPBIN agent).")
	flag.IntVar(&o.AccessKeyEvery, "accesskey-every", o.AccessKeyEvery, "Every n-th CR also validates an accesskey (0: none).")
	flag.DurationVar(&o.TokenLifetime, "token-lifetime", o.TokenLifetime, "Lifetime of the tokens the stand-in issues.")
	flag.DurationVar(&o.APITimeout, "api-timeout", o.APITimeout, "The managers' --api-timeout; injected hangs last a second longer.")
	flag.DurationVar(&o.FaultInterval, "fault-interval", o.FaultInterval, "Mean time between two API faults.")
	flag.DurationVar(&o.ClusterInterval, "cluster-interval", o.ClusterInterval,
		"Mean time between two cluster changes (passwords, hand edits, CRs created and deleted).")
	flag.DurationVar(&o.ProcessInterval, "process-interval", o.ProcessInterval,
		"Mean time between two manager actions (hand-overs, restarts).")
	flag.DurationVar(&o.ReadyBound, "ready-bound", o.ReadyBound, "Every CR must be Ready this long after the faults stop.")
	flag.DurationVar(&o.Tail, "tail", o.Tail, "How long to keep watching, with no faults, once every CR is Ready again.")
	flag.Float64Var(&o.LoginQPS, "login-qps", o.LoginQPS, "The managers' --login-qps.")
	flag.IntVar(&o.LoginBurst, "login-burst", o.LoginBurst, "The managers' --login-burst.")
	flag.StringVar(&o.Root, "root", o.Root, "The repository root (config/crd/bases is read from it).")
	flag.StringVar(&o.Dir, "dir", o.Dir, "Folder for the kubeconfig, the managers' logs and report.txt.")
	flag.StringVar(&o.Manager, "manager", o.Manager, "The manager binary (make soak builds it as make build does).")
	show := flag.String("show", "", "Comma-separated CRs whose whole time line the report prints, failing or not.")
	flag.Parse()
	for _, name := range strings.Split(*show, ",") {
		if name = strings.TrimSpace(name); name != "" {
			o.Show = append(o.Show, name)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
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
