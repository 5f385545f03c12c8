package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/voipbin/credential-operator/test/harness"
)

// managerProcess is the manager binary running as a child process
// (test/harness), its output appended to the benchmark's manager log.
type managerProcess struct {
	m          *harness.Manager
	metricsURL string
	// pprofURL is the manager's /debug/pprof/ (--pprof-bind-address).
	pprofURL string
	// startedAt is when the process was started: the benchmark's times count
	// the manager's own start-up.
	startedAt time.Time
	http      *http.Client
}

const (
	// managerStopTimeout is how long the manager gets to exit after SIGTERM
	// before it is killed: without leader election it stops within a second.
	managerStopTimeout = 30 * time.Second
	// managerStartTimeout bounds the wait for the manager's readiness probe, and
	// then the one for its metrics endpoint.
	managerStartTimeout = 30 * time.Second
	// scrapeTimeout bounds one scrape of the manager's metrics.
	scrapeTimeout = 10 * time.Second
)

// startManager starts the manager against the control plane and the stand-in
// and waits until its metrics endpoint answers.
func (b *bench) startManager(ctx context.Context) (*managerProcess, error) {
	metricsAddr, err := harness.FreeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	pprofAddr, err := harness.FreeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	b.starts++
	_, _ = fmt.Fprintf(b.log, "\n=== bench: manager start #%d at %s ===\n", b.starts, time.Now().Format(time.RFC3339Nano))
	mgr, err := harness.StartManager(harness.ManagerOptions{
		Binary: b.managerBin, Kubeconfig: b.kubeconfig,
		AllowedAPIURLs: []string{b.apiURL},
		Args: []string{
			"--login-qps=" + strconv.FormatFloat(b.o.loginQPS, 'f', -1, 64),
			"--login-burst=" + strconv.Itoa(b.o.loginBurst),
			"--max-concurrent-reconciles=" + strconv.Itoa(b.o.maxConcurrent),
			"--metrics-bind-address=" + metricsAddr,
			"--metrics-secure=false",
			"--pprof-bind-address=" + pprofAddr,
			// The manager as it runs in production, at its default verbosity, not
			// the harness's highest: logging every step would be measured too.
			"--zap-log-level=info",
		},
		LogPath:      b.logPath,
		StartTimeout: managerStartTimeout,
		StopTimeout:  managerStopTimeout,
	})
	if err != nil {
		return nil, err
	}
	p := &managerProcess{m: mgr, startedAt: mgr.Started(), http: &http.Client{Timeout: scrapeTimeout},
		metricsURL: "http://" + metricsAddr + "/metrics", pprofURL: "http://" + pprofAddr + "/debug/pprof/"}
	b.mgr = p
	if err := p.waitMetrics(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// waitMetrics waits until the metrics endpoint answers.
func (p *managerProcess) waitMetrics(ctx context.Context) error {
	deadline := time.Now().Add(managerStartTimeout)
	for {
		if _, err := p.scrape(ctx); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the manager's metrics endpoint did not answer within %s", managerStartTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.m.Exited():
			return p.exitError()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// exitError describes an unexpected exit of the manager.
func (p *managerProcess) exitError() error {
	return fmt.Errorf("the manager exited unexpectedly (%v); see its log %s", p.m.Err(), p.m.LogPath())
}

// stop stops the manager gracefully (SIGTERM; killed after
// managerStopTimeout) and returns how long it took, and an error when it had to
// be killed or exited with an error.
func (p *managerProcess) stop() (time.Duration, error) { return p.m.Stop() }

// scrape fetches the manager's metrics.
func (p *managerProcess) scrape(ctx context.Context) (metricSet, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.metricsURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := p.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics endpoint answered %s", resp.Status)
	}
	return parseMetrics(resp.Body, nil)
}

// managerName is the controller's name in controller-runtime's metrics.
const managerName = "voipbincredential"

// reconciles returns controller_runtime_reconcile_total of the controller, all
// results together.
func reconciles(m metricSet) float64 {
	return m.sum("controller_runtime_reconcile_total", map[string]string{"controller": managerName})
}

// queueDepth returns the controller's workqueue depth.
func queueDepth(m metricSet) float64 {
	return m.sum("workqueue_depth", map[string]string{"name": managerName})
}

// waitSettled waits until the manager has reconciled at least crs times since
// it started (each credential once after a start) and its queue is empty, and
// returns when it saw that.
func (p *managerProcess) waitSettled(ctx context.Context, crs int, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		m, err := p.scrape(ctx)
		if err == nil && reconciles(m) >= float64(crs) && queueDepth(m) == 0 {
			return time.Now(), nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("the manager did not settle (%d reconciles, empty queue) within %s", crs, timeout)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-p.m.Exited():
			return time.Time{}, p.exitError()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// rssBytes returns the manager's resident set size from /proc/<pid>/status.
func (p *managerProcess) rssBytes() (float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.m.Pid()))
	if err != nil {
		return 0, err
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			fields := strings.Fields(rest) // "123456 kB"
			if len(fields) == 2 && fields[1] == "kB" {
				kb, err := strconv.ParseFloat(fields[0], 64)
				return kb * 1024, err
			}
		}
	}
	return 0, errors.New("no VmRSS in /proc/<pid>/status")
}
