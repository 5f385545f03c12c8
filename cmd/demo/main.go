// Command demo runs the whole operator on one machine with no cluster and no
// internet (make demo): a local control plane from the envtest binaries, the
// VoIPBIN stand-in on loopback with short-lived tokens, the CRD, the operator
// binary as a separate process, and the samples of config/samples. It shows
// what `kubectl get vbc -o wide` shows and the managed Secrets' keys (never
// their values), then prints every token renewal until Ctrl-C, which stops
// every process it started.
//
//	make demo               # runs until Ctrl-C
//	make demo DEMO_ONCE=1   # exits 0 once every sample is Ready
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/voipbin/credential-operator/internal/voipbin/voipbintest"
	"github.com/voipbin/credential-operator/test/harness"
)

// demoNamespace is where the samples are created: they carry no namespace.
const demoNamespace = "default"

// options are the demo's flags.
type options struct {
	root          string
	dir           string
	manager       string
	once          bool
	tokenLifetime time.Duration
	readyTimeout  time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.root, "root", ".", "The repository root (config/crd/bases and config/samples are read from it).")
	flag.StringVar(&o.dir, "dir", "bin/demo", "Working folder for the kubeconfig and the operator's log.")
	flag.StringVar(&o.manager, "manager", "bin/manager", "The operator binary (make demo builds it as make build does).")
	flag.BoolVar(&o.once, "once", false, "Exit 0 as soon as every sample is Ready instead of watching renewals.")
	// Two minutes: with the default renewBefore of a third of the lifetime, a
	// renewal every ~80 s, so one happens while you watch.
	flag.DurationVar(&o.tokenLifetime, "token-lifetime", 2*time.Minute, "Lifetime of the tokens the VoIPBIN stand-in issues.")
	flag.DurationVar(&o.readyTimeout, "ready-timeout", 2*time.Minute, "How long to wait for every sample to be Ready.")
	flag.Parse()

	if err := run(o, console{w: os.Stdout}); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// run starts everything, shows the samples Ready and, unless o.once, prints
// renewals until SIGINT or SIGTERM. Everything it starts is stopped by the
// deferred calls, also on an error or a panic in this goroutine.
func run(o options, out console) (retErr error) {
	// The demo talks to the user on out; library logs would only clutter it.
	harness.QuietLibraryLogs()
	ctx, stopSignals := harness.InterruptContext()
	defer stopSignals()

	paths, err := resolvePaths(o)
	if err != nil {
		return err
	}
	scheme := harness.Scheme()
	samples, err := loadSamples(scheme, paths.samples)
	if err != nil {
		return fmt.Errorf("reading the samples: %w", err)
	}

	out.println("VoIPBIN credential operator demo: a local control plane, the VoIPBIN stand-in and the operator.")
	out.println()

	// The stand-in first: its URL goes into the operator's flags and the samples.
	standIn, err := startStandIn(samples, o.tokenLifetime)
	if err != nil {
		return err
	}
	defer func() { _ = standIn.Close() }()
	out.printf("%-14s %s (tokens live %s; agent %s, %d accesskey(s) from the sample Secrets)\n",
		"VoIPBIN", standIn.URL, o.tokenLifetime, strings.Join(samples.usernames(), ", "), len(samples.accessKeys()))

	started := time.Now()
	// The control plane and a cluster-admin kubeconfig, for the operator and
	// for the user's kubectl.
	cp, err := harness.StartControlPlane(harness.ControlPlaneOptions{Dir: paths.dir, Root: paths.root})
	if err != nil {
		return err
	}
	var pids []childProcess
	defer func() {
		if err := cp.Stop(); err != nil && retErr == nil {
			retErr = fmt.Errorf("stopping the control plane: %w", err)
		}
		reportLeftovers(out, pids)
	}()
	defer func() { _ = os.Remove(cp.Kubeconfig) }()
	out.printf("%-14s %s (kube-apiserver and etcd from %s, CRDs installed, up in %s)\n",
		"control plane", strings.TrimSuffix(cp.Config.Host, "/"), paths.assets, time.Since(started).Round(100*time.Millisecond))
	if ctx.Err() != nil {
		// Ctrl-C while the control plane started: nothing more to start.
		out.println("interrupted; stopping")
		return nil
	}

	op, err := startOperator(paths, cp.Kubeconfig, standIn.URL)
	if err != nil {
		return err
	}
	defer func() {
		if _, err := op.Stop(); err != nil && retErr == nil {
			retErr = fmt.Errorf("stopping the operator: %w", err)
		}
	}()
	out.printf("%-14s %s, logs in %s\n", "operator", paths.manager, paths.operatorLog)
	pids = childProcesses()
	out.printf("%-14s %s\n", "processes", describeProcesses(pids))

	c, err := client.NewWithWatch(cp.Config, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	applied, err := samples.apply(ctx, c, demoNamespace, standIn.URL)
	if err != nil && ctx.Err() != nil {
		out.println("interrupted; stopping")
		return nil
	}
	if err != nil {
		return fmt.Errorf("applying the samples: %w", err)
	}
	out.printf("%-14s %s in namespace %s (apiURL set to the stand-in)\n", "applied", strings.Join(applied, ", "), demoNamespace)
	for _, skipped := range samples.skipped {
		out.printf("%-14s %s (the demo has no kubelet or controllers besides the operator)\n", "skipped", skipped)
	}

	s := &session{out: out, cfg: cp.Config, c: c, op: op, kubeconfig: cp.Kubeconfig}
	return s.showAndWatch(ctx, o, samples.credentialNames())
}

// session is what run started, for showAndWatch.
type session struct {
	out        console
	cfg        *rest.Config
	c          client.WithWatch
	op         *harness.Manager
	kubeconfig string
}

// showAndWatch waits until the VoipbinCredentials names are Ready, shows them
// and their Secrets and, unless o.once, prints renewals until ctx is done.
func (s *session) showAndWatch(ctx context.Context, o options, names []string) error {
	out := s.out
	out.println()
	waitStart := time.Now()
	ready, err := waitReady(ctx, s.c, s.op, names, o.readyTimeout)
	if errors.Is(err, errInterrupted) {
		out.println("interrupted; stopping")
		return nil
	}
	if err != nil {
		// Show where it stands: the table and the Ready conditions have the reasons.
		out.println("$ kubectl get vbc -o wide")
		_ = printTable(ctx, out, s.cfg)
		printNotReady(out, ready)
		return err
	}
	out.printf("Every sample is Ready (%d VoipbinCredentials, %s after applying them).\n\n",
		len(ready), time.Since(waitStart).Round(100*time.Millisecond))

	out.printf("$ kubectl get vbc -o wide\n")
	if err := printTable(ctx, out, s.cfg); err != nil {
		return err
	}
	out.println()
	if err := printSecrets(ctx, out, s.c, ready); err != nil {
		return err
	}
	out.println()
	out.printf("kubeconfig: %s\n", s.kubeconfig)
	out.printf("  kubectl --kubeconfig %s get vbc -o wide\n", s.kubeconfig)
	out.printf("  kubectl --kubeconfig %s describe vbc %s\n", s.kubeconfig, ready[0].Name)

	if o.once {
		out.println()
		out.println("--once: stopping.")
		return nil
	}
	out.println()
	out.printf("Watching renewals (tokens live %s; renewal about a third before expiry). Ctrl-C stops everything.\n",
		o.tokenLifetime)
	err = watchRenewals(ctx, out, s.c, s.op, ready)
	if errors.Is(err, errInterrupted) {
		out.println("\nstopping the operator, the stand-in and the control plane...")
		return nil
	}
	return err
}

// console writes the demo's lines for the user. A failed write (a closed
// terminal) is no reason to stop the demo, let alone to skip its cleanup, so
// write errors are ignored.
type console struct{ w io.Writer }

func (c console) printf(format string, args ...any) { _, _ = fmt.Fprintf(c.w, format, args...) }

func (c console) println(args ...any) { _, _ = fmt.Fprintln(c.w, args...) }

// demoPaths are the absolute paths the demo uses.
type demoPaths struct {
	root, dir, samples, assets string
	manager, operatorLog       string
}

func resolvePaths(o options) (demoPaths, error) {
	root, err := filepath.Abs(o.root)
	if err != nil {
		return demoPaths{}, err
	}
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(root, p)
	}
	dir := abs(o.dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return demoPaths{}, err
	}
	// KUBEBUILDER_ASSETS (make demo sets it from hack/envtest.sh) or bin/k8s/.
	assets, err := harness.AssetsDir()
	if err != nil {
		return demoPaths{}, err
	}
	p := demoPaths{
		root:        root,
		dir:         dir,
		samples:     filepath.Join(root, "config", "samples"),
		assets:      assets,
		manager:     abs(o.manager),
		operatorLog: filepath.Join(dir, "operator.log"),
	}
	if _, err := os.Stat(p.manager); err != nil {
		return demoPaths{}, fmt.Errorf("no operator binary (run make demo, which builds it): %w", err)
	}
	return p, nil
}

// startStandIn serves the VoIPBIN stand-in on a free loopback port, with the
// agents and accesskeys of the sample Secrets.
func startStandIn(samples *sampleSet, lifetime time.Duration) (*harness.StandIn, error) {
	s := voipbintest.New(voipbintest.WithTokenLifetime(lifetime))
	for _, a := range samples.agents {
		s.AddAgent(a.username, a.password, "")
	}
	for _, k := range samples.accessKeys() {
		s.AddAccessKey(voipbintest.AccessKey{Key: k, Name: "demo"})
	}
	return harness.ServeStandIn(s.Handler())
}
