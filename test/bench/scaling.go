package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/voipbin/credential-operator/test/harness"
)

// nsScale holds the scaling run's credentials and their login Secrets.
const nsScale = "bench-scale"

// scalingOptions configure the scaling run (--scaling): the cost curve of the
// manager as the number of credentials grows.
type scalingOptions struct {
	// sizes are the numbers of credentials, each measured on its own control
	// plane and manager, smallest first.
	sizes sizeList
	// perLogin is how many credentials share one login.
	perLogin int
	// memInterval is how often the manager's memory is read during the quiet
	// window (each reading forces a garbage collection).
	memInterval time.Duration
	// restartTimeout bounds the wait for every credential to be reconciled
	// once after the restart.
	restartTimeout time.Duration
	jsonPath       string
	plotPath       string
	// from, if set, is the JSON of an earlier run to print and draw again
	// instead of running.
	from string
}

// sizeList is a comma-separated list of positive sizes, as a flag.
type sizeList []int

func (l *sizeList) String() string {
	parts := make([]string, len(*l))
	for i, n := range *l {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ",")
}

func (l *sizeList) Set(s string) error {
	var sizes []int
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		n, err := strconv.Atoi(part)
		if err != nil || n < 1 {
			return fmt.Errorf("%q is not a positive number of credentials", part)
		}
		sizes = append(sizes, n)
	}
	slices.Sort(sizes)
	*l = slices.Compact(sizes)
	return nil
}

func (s scalingOptions) validate() error {
	switch {
	case s.perLogin < 1:
		return errors.New("--scaling-crs-per-login must be at least 1")
	case s.memInterval <= 0 || s.restartTimeout <= 0:
		return errors.New("--scaling-mem-interval and --scaling-restart-timeout must be positive")
	}
	return nil
}

// logins is how many distinct logins n credentials share, perLogin each.
func (s scalingOptions) logins(n int) int { return (n + s.perLogin - 1) / s.perLogin }

// runScaling measures each size in turn, on a fresh control plane, stand-in
// and manager, and records it in rep. It stops at the first size that could
// not be measured to the end; rep keeps the sizes measured before it.
func runScaling(ctx context.Context, o options, rep *scalingReport, out console) error {
	for _, n := range o.scaling.sizes {
		out.printf("scaling: %d credentials sharing %d logins", n, o.scaling.logins(n))
		r, err := measureSize(ctx, o, n, out, &rep.Machine)
		rep.Sizes = append(rep.Sizes, r)
		if err != nil {
			return interrupted(ctx, fmt.Errorf("%d credentials: %w", n, err))
		}
	}
	return nil
}

// measureSize runs one size: n credentials created while the manager runs,
// the quiet window (memory read along the way), and a graceful restart.
// The API server's version goes into m.
func measureSize(ctx context.Context, o options, n int, out console, m *machine) (r sizeResult, retErr error) {
	so := o
	so.dir = filepath.Join(o.dir, fmt.Sprintf("scaling-%d", n))
	so.unrelatedNamespaces = 0
	b, err := newBench(so, nil, out)
	if err != nil {
		return sizeResult{CRs: n}, err
	}
	b.credentialNamespaces = []string{nsScale}
	defer func() {
		if err := b.close(); err != nil && retErr == nil {
			retErr = err
		}
	}()
	run := sizeRun{b: b, n: n, logins: o.scaling.logins(n), s: o.scaling}
	run.r.CRs, run.r.Logins = n, run.logins
	for _, step := range []func(context.Context) error{run.start, run.create, run.quiet, run.restart} {
		if err := step(ctx); err != nil {
			return run.r, err
		}
		m.KubeAPIServer = b.apiServerVersion
	}
	return run.r, nil
}

// mainScaling runs the scaling run, prints its table, writes its JSON and
// plot, and returns the exit status: 0 when every target is met, 1 when one is
// missed, 2 when it could not run to the end.
func mainScaling(o options) int {
	ctx, stop := harness.InterruptContext()
	defer stop()
	rep := newScalingReport(o, strings.Join(os.Args, " "), resolve(o.root, "."))
	var err error
	if o.scaling.from != "" {
		rep, err = readScalingReport(resolve(o.root, o.scaling.from))
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 2
		}
		o.scaling.jsonPath = ""
	} else if err = runScaling(ctx, o, rep, console{w: os.Stdout}); err != nil {
		rep.Error = err.Error()
	}
	rep.evaluate()
	fmt.Println()
	rep.print(os.Stdout)
	if o.scaling.jsonPath != "" {
		if werr := rep.writeJSON(resolve(o.root, o.scaling.jsonPath)); werr != nil {
			fmt.Fprintln(os.Stderr, "bench: writing the JSON:", werr)
		}
	}
	if o.scaling.plotPath != "" && len(rep.Sizes) >= 2 {
		if perr := writePlot(resolve(o.root, o.scaling.plotPath), rep.Sizes); perr != nil {
			fmt.Fprintln(os.Stderr, "bench: drawing the plot:", perr)
		}
	}
	switch {
	case err != nil:
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	case rep.missed() > 0:
		fmt.Fprintf(os.Stderr, "bench: %d target(s) missed\n", rep.missed())
		return 1
	}
	return 0
}
