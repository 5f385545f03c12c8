package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/voipbin/credential-operator/test/harness"
)

// TestScalingBudgetsAt100 is the smallest size of the scaling run, in make
// test: 100 credentials sharing one login, created while the built manager
// runs, then a quiet window and a graceful restart. It fails when a
// credential costs more than its budget (ciBudgets): writes, logins, live
// heap, calls or writes while nothing changes, logins or writes after a
// restart. It checks counts and a generous memory bound, never a time.
func TestScalingBudgetsAt100(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the manager, starts a control plane and runs for about 40 seconds")
	}
	if _, err := harness.AssetsDir(); err != nil {
		// make test provides it; without it this budget would check nothing.
		t.Fatalf("no envtest control plane (run it with make test, or set KUBEBUILDER_ASSETS): %v", err)
	}
	start := time.Now()
	t.Setenv("CGO_ENABLED", "0") // as make build builds it
	bin, err := harness.BuildManager(t.TempDir(), "-trimpath")
	if err != nil {
		t.Fatal(err)
	}
	// Kept when the test fails: the manager's log and its heap profile.
	dir, err := os.MkdirTemp("", "scaling-100-")
	if err != nil {
		t.Fatal(err)
	}
	o := ciScalingOptions(harness.RepoRoot(), dir, bin)
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	r, err := measureSize(ctx, o, 100, console{w: &out}, &machine{})
	t.Logf("scaling run at 100 (%s in all):\n%s", time.Since(start).Round(time.Second), out.String())
	if err != nil {
		t.Fatalf("the scaling run could not run: %v (logs in %s)", err, dir)
	}
	t.Logf("%.2f writes per credential, %d logins, %.1f KiB of live heap per credential, quiet %d calls and %d writes, "+
		"restart %d logins and %d writes", r.WritesPerCR(), r.LoginsMade, r.HeapPerCR()/1024, r.QuietCalls, r.QuietWrites,
		r.RestartLogins, r.RestartWrites)
	for _, v := range ciBudgets.violations(r) {
		t.Error(v)
	}
	if t.Failed() {
		t.Logf("the manager's log and heap profile are in %s", filepath.Join(dir, "scaling-100"))
		return
	}
	_ = os.RemoveAll(dir)
}

// ciScalingOptions are the scaling run's options in make test: a quiet window
// of 10 s (the budget is on what happens in it, and nothing should), the
// benchmark's other defaults.
func ciScalingOptions(root, dir, manager string) options {
	return options{
		root: root, dir: dir, manager: manager,
		loginQPS: 9, loginBurst: 18, maxConcurrent: defaultMaxConcurrent, workers: 16,
		settle: 3 * time.Second, quiet: 10 * time.Second, readyTimeout: 2 * time.Minute,
		scaling: scalingOptions{perLogin: 100, memInterval: 2 * time.Second, restartTimeout: 2 * time.Minute},
	}
}

// withinBudget is a size that spends exactly its budgets' worth.
func withinBudget() sizeResult {
	return sizeResult{CRs: 100, Logins: 1, LoginsMade: 1, Writes: 200, IdleHeapAlloc: 20 << 20,
		HeapAlloc: 20<<20 + 100*(8<<10)}
}

// TestBudgetsCatchARegression is the control of TestScalingBudgetsAt100: each
// kind of regression it is there for, applied to a size within budget, is
// reported, and nothing else is.
func TestBudgetsCatchARegression(t *testing.T) {
	if v := ciBudgets.violations(withinBudget()); len(v) != 0 {
		t.Fatalf("a size within budget is reported: %v", v)
	}
	for _, tc := range []struct {
		name    string
		regress func(r *sizeResult)
		want    string
	}{
		{"a write more per credential (doubled)", func(r *sizeResult) { r.Writes *= 2 }, "writes per credential"},
		{"one write more for a single credential", func(r *sizeResult) { r.Writes++ }, "writes per credential"},
		{"a login per credential", func(r *sizeResult) { r.LoginsMade = r.CRs }, "logins for 1 distinct"},
		{"64 KiB more heap per credential", func(r *sizeResult) { r.HeapAlloc += float64(r.CRs * 64 << 10) }, "live heap"},
		{"a status write in the quiet window", func(r *sizeResult) { r.QuietWrites = 1 }, "quiet window"},
		{"a call in the quiet window", func(r *sizeResult) { r.QuietCalls = 1 }, "quiet window"},
		{"a login after the restart", func(r *sizeResult) { r.RestartLogins = 1 }, "after a graceful restart"},
		{"a write per credential after the restart", func(r *sizeResult) { r.RestartWrites = r.CRs }, "after a graceful restart"},
		{"a credential not Ready", func(r *sizeResult) { r.ReadyError = "not all Ready: 99 of 100" }, "not every credential"},
		{"no sweep after the restart", func(r *sizeResult) { r.RestartError = "did not settle" }, "after the restart"},
	} {
		r := withinBudget()
		tc.regress(&r)
		v := ciBudgets.violations(r)
		if len(v) != 1 || !strings.Contains(v[0], tc.want) {
			t.Errorf("%s: reported %q, want one violation about %q", tc.name, v, tc.want)
		}
	}
}

func TestSlopeIsBetweenTheTwoLargestSizes(t *testing.T) {
	sizes := []sizeResult{
		{CRs: 100, HeapInuse: 10 << 20},
		{CRs: 1000, HeapInuse: 20 << 20},
		{CRs: 10000, HeapInuse: 20<<20 + 9000*(6<<10)},
	}
	heap := scalingFigures[figureIndex(t, "heap in use")]
	slope, ok := heap.slope(sizes)
	if !ok || slope != 6<<10 {
		t.Errorf("slope = %v, %v; want 6 KiB", slope, ok)
	}
	if !heap.slopePasses(slope) || heap.slopePasses(9<<10) {
		t.Error("the heap target is not 8 KiB per credential")
	}
	if _, ok := heap.slope(sizes[:1]); ok {
		t.Error("a slope from one size")
	}
	ready := scalingFigures[figureIndex(t, "last create to all Ready")]
	sizes[2].ReadyError = "not all Ready"
	if slope, ok := ready.slope(sizes); !ok || slope != 0 {
		t.Errorf("a size not measured is not skipped: %v, %v", slope, ok)
	}
}

func TestScalingReportMarksMisses(t *testing.T) {
	a, b := withinBudget(), withinBudget()
	b.CRs, b.Logins, b.LoginsMade, b.Writes = 1000, 10, 10, 2000
	b.HeapInuse = a.HeapInuse + 900*(9<<10) // 9 KiB per credential
	rep := &scalingReport{Sizes: []sizeResult{a, b}}
	rep.evaluate()
	if rep.Passed || rep.missed() != 1 {
		t.Fatalf("passed %v, %d missed; want the heap slope missed alone", rep.Passed, rep.missed())
	}
	var buf bytes.Buffer
	rep.print(&buf)
	for _, want := range []string{"100 CRs", "1000 CRs", "per CR, 100 to 1000", "9.00 KiB", "MISSED"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("the table lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestSizeList(t *testing.T) {
	var l sizeList
	if err := l.Set("10000, 100,1000,100"); err != nil || l.String() != "100,1000,10000" {
		t.Errorf("Set = %v, %q", err, l.String())
	}
	for _, bad := range []string{"0", "-1", "ten"} {
		if err := l.Set(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParseCPUSecondsAndMemStats(t *testing.T) {
	stat := "4242 (manager (x) y) S 1 4242 4242 0 -1 4194560 9000 0 0 0 1234 567 0 0 20 0 12 0 100 0 0"
	if got, err := parseCPUSeconds(stat); err != nil || got != 18.01 {
		t.Errorf("parseCPUSeconds = %v, %v; want 18.01", got, err)
	}
	profile := "heap profile: 1: 2 [3: 4] @ heap/1048576\n#\t0x1234\tmain.f+0x1\t/x.go:1\n\n# runtime.MemStats\n" +
		"# Alloc = 100\n# HeapAlloc = 200\n# HeapInuse = 300\n# PauseNs = [1 2 3]\n# NumGC = 5\n"
	stats, err := parseMemStats(strings.NewReader(profile))
	if err != nil || stats["HeapAlloc"] != 200 || stats["HeapInuse"] != 300 || stats["NumGC"] != 5 {
		t.Errorf("parseMemStats = %v, %v", stats, err)
	}
}

func TestWritePlot(t *testing.T) {
	a, b := withinBudget(), withinBudget()
	b.CRs, b.ReadySeconds, b.HeapInuse, b.RSS = 1000, 10, 30<<20, 80<<20
	dir := t.TempDir()
	svg, png := filepath.Join(dir, "scaling.svg"), filepath.Join(dir, "scaling.png")
	for _, path := range []string{svg, png} {
		if err := writePlot(path, []sizeResult{a, b}); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(svg)
	if err != nil || !bytes.Contains(data, []byte("<svg")) || !bytes.Contains(data, []byte("heap in use")) {
		t.Errorf("not an SVG of the curve (%v): %.200s", err, data)
	}
	if data, err := os.ReadFile(png); err != nil || !bytes.HasPrefix(data, []byte("\x89PNG")) {
		t.Errorf("not a PNG (%v)", err)
	}
}

func figureIndex(t *testing.T, name string) int {
	t.Helper()
	for i, f := range scalingFigures {
		if strings.Contains(f.name, name) {
			return i
		}
	}
	t.Fatalf("no figure %q", name)
	return -1
}
