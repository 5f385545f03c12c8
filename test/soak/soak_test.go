package main

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/voipbin/credential-operator/test/harness"
)

// TestShortSoak is the soak's short version, run by make test: 30 CRs for 60
// seconds of faults, in which every fault kind, both hand-over kinds and both
// restart kinds happen at least once. It fails when an invariant fails, or when
// a kind of fault was never carried out (the test would prove less than it says).
// SOAK_SEED picks another seed.
func TestShortSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the manager, starts a control plane and runs for about two minutes")
	}
	start := time.Now()
	// As make build builds it.
	t.Setenv("CGO_ENABLED", "0")
	bin, err := harness.BuildManager(t.TempDir(), "-trimpath")
	if err != nil {
		t.Fatal(err)
	}
	// Kept when the test fails: the managers' logs and the report.
	dir, err := os.MkdirTemp("", "soak-short-")
	if err != nil {
		t.Fatal(err)
	}

	o := ShortOptions()
	if seed, err := strconv.ParseInt(os.Getenv("SOAK_SEED"), 10, 64); err == nil {
		o.Seed = seed
	}
	o.Root, o.Dir, o.Manager = harness.RepoRoot(), dir, bin
	var out bytes.Buffer
	o.Out = &out
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	rep, err := Run(ctx, o)
	t.Logf("soak output (%s in all):\n%s", time.Since(start).Round(time.Second), out.String())
	if err != nil {
		t.Fatalf("the soak could not run: %v (logs in %s)", err, dir)
	}
	for _, group := range [][]weighted{apiKinds, clusterKinds, processKinds} {
		for _, k := range group {
			if rep.Done[k.kind] == 0 {
				t.Errorf("%s was never carried out", k.kind)
			}
		}
	}
	if rep.Failed() {
		t.Fatalf("an invariant failed; the managers' logs and report.txt are in %s", dir)
	}
	if !t.Failed() {
		_ = os.RemoveAll(dir)
	}
}
