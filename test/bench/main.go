// Command bench is the operator's scale benchmark (make bench). It starts a
// local control plane (the envtest kube-apiserver and etcd, with the CRDs), the
// VoIPBIN stand-in on a loopback listener with VoIPBIN's real rate limits on,
// and the manager binary as a separate process; it runs the scenarios of
// docs/benchmarks.md and prints each figure next to its target, also as JSON.
// Everything it starts is stopped at the end, also on Ctrl-C and on errors.
//
//	make bench
//	make bench BENCH_ARGS="--crs 100 --shared-crs 100 --unrelated-secrets 1000 --quiet 10s --restart-window 10s --mem-window 10s"
//	make bench SCALING=100,1000,10000   # the scaling run (--scaling) instead
//
// Exit status: 0 when every target is met, 1 when one is missed, 2 when the
// benchmark could not run to the end (the table then shows what it measured).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/voipbin/credential-operator/test/harness"
)

// options are the benchmark's flags.
type options struct {
	root, dir, jsonPath, manager string

	crs, sharedLogins, sharedCRs int
	unrelatedSecrets             int
	unrelatedNamespaces          int
	unrelatedSize                int

	loginQPS      float64
	loginBurst    int
	maxConcurrent int
	workers       int

	settle, quiet, restartWindow time.Duration
	memWindow, memInterval       time.Duration
	readyTimeout                 time.Duration

	scaling scalingOptions
}

// defaultMaxConcurrent is the manager's --max-concurrent-reconciles in the
// benchmark. The login limiter stays busy as long as a worker is ready when a
// slot comes: by Little's law that takes login-qps x the time a login reconcile
// spends on Kubernetes calls (two reads, the Secret apply, the status patch),
// about 20 ms here, so at 9/s even one worker keeps up (measured: at the floor
// with 1 and 4 workers for 300 CRs, with 16 for 1000). More workers pay off where Kubernetes
// round trips are the limit, not VoIPBIN: credentials sharing a login (one call,
// then only Kubernetes work) and the sweep over every credential after a
// restart; they also keep login slots from going idle when the API server
// stalls for a second on a loaded machine. They cost nothing at VoIPBIN (the
// limiter is shared) and a goroutine each. 16 it is.
const defaultMaxConcurrent = 16

func parseFlags() options {
	var o options
	flag.StringVar(&o.root, "root", ".", "The repository root (config/crd/bases is read from it; relative paths are below it).")
	flag.StringVar(&o.dir, "dir", "out/bench", "Working folder for the kubeconfig and the manager's log.")
	flag.StringVar(&o.jsonPath, "json", "out/bench.json", "Where the results are written as JSON (empty: not written).")
	flag.StringVar(&o.manager, "manager", "bin/manager", "The manager binary (make bench builds it as make build does).")
	flag.IntVar(&o.crs, "crs", 1000, "Scenario 1: VoipbinCredentials, each with its own login.")
	flag.IntVar(&o.sharedLogins, "shared-logins", 10, "Scenario 2: distinct logins the credentials share.")
	flag.IntVar(&o.sharedCRs, "shared-crs", 1000, "Scenario 2: VoipbinCredentials sharing those logins.")
	flag.IntVar(&o.unrelatedSecrets, "unrelated-secrets", 10000,
		"Scenario 5: unrelated Secrets (half with kubectl's last-applied annotation).")
	flag.IntVar(&o.unrelatedNamespaces, "unrelated-namespaces", 10, "Scenario 5: namespaces the unrelated Secrets are spread over.")
	flag.IntVar(&o.unrelatedSize, "unrelated-size", 4096, "Scenario 5: bytes of data in each unrelated Secret.")
	flag.Float64Var(&o.loginQPS, "login-qps", 9, "The manager's --login-qps (VoIPBIN allows 10/s).")
	flag.IntVar(&o.loginBurst, "login-burst", 18, "The manager's --login-burst (VoIPBIN allows 20).")
	flag.IntVar(&o.maxConcurrent, "max-concurrent-reconciles", defaultMaxConcurrent, "The manager's --max-concurrent-reconciles.")
	flag.IntVar(&o.workers, "workers", 16, "Goroutines creating the benchmark's objects.")
	flag.DurationVar(&o.settle, "settle", 5*time.Second,
		"Wait after all are Ready before a quiet window starts (the watch events of the last writes arrive).")
	flag.DurationVar(&o.quiet, "quiet", time.Minute, "Scenario 3: the quiet window after all are Ready.")
	flag.DurationVar(&o.restartWindow, "restart-window", time.Minute, "Scenario 4: how long logins are counted after the restart.")
	flag.DurationVar(&o.memWindow, "mem-window", 30*time.Second, "Scenario 5: how long the manager's memory is sampled.")
	flag.DurationVar(&o.memInterval, "mem-interval", time.Second, "Scenario 5: how often the manager's memory is sampled.")
	flag.DurationVar(&o.readyTimeout, "ready-timeout", 10*time.Minute, "How long any wait for Ready (or a settled manager) may take.")
	flag.Var(&o.scaling.sizes, "scaling",
		"Run the scaling run instead of the scenarios: comma-separated numbers of credentials (e.g. 100,1000,10000), "+
			"each on a fresh control plane and manager. --quiet, --settle, --login-qps, --login-burst, "+
			"--max-concurrent-reconciles and --workers apply to it too.")
	flag.IntVar(&o.scaling.perLogin, "scaling-crs-per-login", 100, "Scaling run: credentials sharing one login.")
	flag.DurationVar(&o.scaling.memInterval, "scaling-mem-interval", 5*time.Second,
		"Scaling run: how often the manager's memory is read in the quiet window (each reading forces a GC).")
	flag.DurationVar(&o.scaling.restartTimeout, "scaling-restart-timeout", 5*time.Minute,
		"Scaling run: how long the wait for every credential to be reconciled once after the restart may take.")
	flag.StringVar(&o.scaling.jsonPath, "scaling-json", "out/scaling.json",
		"Scaling run: where the results are written as JSON (empty: not written).")
	flag.StringVar(&o.scaling.from, "scaling-from", "",
		"Scaling run: print and draw the results of an earlier run from its JSON instead of running.")
	flag.StringVar(&o.scaling.plotPath, "scaling-plot", "out/scaling.svg",
		"Scaling run: where the cost curve is drawn as SVG, with two sizes or more (empty: not drawn).")
	flag.Parse()
	return o
}

func (o options) validate() error {
	switch {
	case o.crs < 1 || o.sharedCRs < 1 || o.sharedLogins < 1:
		return errors.New("--crs, --shared-crs and --shared-logins must be at least 1")
	case o.unrelatedSecrets < 0 || o.unrelatedNamespaces < 1 || o.unrelatedSize < 0:
		return errors.New("--unrelated-secrets and --unrelated-size must not be negative, --unrelated-namespaces at least 1")
	case o.loginQPS <= 0 || o.loginBurst < 1 || o.maxConcurrent < 1 || o.workers < 1:
		return errors.New("--login-qps, --login-burst, --max-concurrent-reconciles and --workers must be positive")
	case o.memInterval <= 0 || o.memWindow < o.memInterval:
		return errors.New("--mem-interval must be positive and --mem-window at least one interval")
	}
	return o.scaling.validate()
}

func main() {
	o := parseFlags()
	if err := o.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	// The benchmark talks on stdout; library logs would only clutter it.
	harness.QuietLibraryLogs()
	if len(o.scaling.sizes) > 0 || o.scaling.from != "" {
		os.Exit(mainScaling(o))
	}
	ctx, stop := harness.InterruptContext()
	rep := newReport(o, strings.Join(os.Args, " "))
	err := run(ctx, o, rep, console{w: os.Stdout})
	stop()
	if err != nil {
		rep.Error = err.Error()
	}

	fmt.Println()
	rep.print(os.Stdout)
	if o.jsonPath != "" {
		if werr := rep.writeJSON(resolve(o.root, o.jsonPath)); werr != nil {
			fmt.Fprintln(os.Stderr, "bench: writing the JSON:", werr)
		}
	}
	switch {
	case err != nil:
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	case rep.missed() > 0:
		fmt.Fprintf(os.Stderr, "bench: %d target(s) missed\n", rep.missed())
		os.Exit(1)
	}
}

// run starts everything, runs the scenarios in order and records their rows in
// rep. Everything it starts is stopped by its deferred calls, also on an
// error, on Ctrl-C (ctx done) or on a panic in this goroutine.
func run(ctx context.Context, o options, rep *report, out console) (retErr error) {
	b, err := newBench(o, rep, out)
	if err != nil {
		return err
	}
	defer func() {
		if err := b.close(); err != nil && retErr == nil {
			retErr = err
		}
	}()
	if err := b.start(ctx); err != nil {
		return interrupted(ctx, err)
	}
	rep.Machine.KubeAPIServer = b.apiServerVersion

	scenarios := []func(context.Context) error{
		b.scenarioDistinct,
		b.scenarioShared,
		b.scenarioQuiet,
		b.scenarioRestart,
		b.scenarioMemory,
		b.scenarioWrites,
	}
	for _, s := range scenarios {
		if err := s(ctx); err != nil {
			return interrupted(ctx, err)
		}
	}
	return nil
}

// interrupted turns an error caused by Ctrl-C into a plain "interrupted".
func interrupted(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return errors.New("interrupted")
	}
	return err
}

// console writes progress lines for the user. A failed write (a closed
// terminal) is no reason to stop, let alone to skip the cleanup.
type console struct{ w io.Writer }

func (c console) printf(format string, args ...any) {
	_, _ = fmt.Fprintf(c.w, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}
