package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/voipbin/credential-operator/test/harness"
)

// managerOptions is how the manager processes run.
type managerOptions struct {
	binary, kubeconfig, apiURL, dir string
	apiTimeout                      time.Duration
	leaseDuration, renewDeadline    time.Duration
	retryPeriod                     time.Duration
	loginQPS                        float64
	loginBurst                      int
}

// stopTimeout is how long a manager gets to exit after SIGTERM (it waits for
// running reconciles, then releases the lease) before it is killed.
const stopTimeout = 40 * time.Second

// proc is one run of the manager binary.
type proc struct {
	slot *slot
	n    int
	m    *harness.Manager
	// planned is set before the soak stops the process on purpose.
	planned atomic.Bool
	// leader is whether its last metrics scrape said it leads.
	leader atomic.Bool
}

func (p *proc) String() string { return fmt.Sprintf("manager %s#%d", p.slot.name, p.n) }

func (p *proc) running() bool {
	select {
	case <-p.m.Exited():
		return false
	default:
		return true
	}
}

// slot is one of the two manager "replicas": it keeps its ports across restarts.
type slot struct {
	name                   string
	metricsAddr, probeAddr string

	mu   sync.Mutex
	cur  *proc
	runs int
}

func (s *slot) current() *proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// managers runs the two manager processes with leader election, restarts
// those that die unexpectedly, follows the Lease, and scrapes their metrics.
type managers struct {
	opts  managerOptions
	j     *journal
	cs    kubernetes.Interface
	slots []*slot
	// scanMetrics is given every metrics scrape, for the leak scans.
	scanMetrics func(text []byte)
	// restartUnplanned makes a manager that exits on its own start again.
	restartUnplanned atomic.Bool

	mu        sync.Mutex
	logPaths  []string
	holder    string  // the Lease's holderIdentity, as last seen
	gone      *window // the open leaderless window
	goneOf    string  // the identity that held the lease when it opened
	changes   int     // holder changes seen
	unplanned int     // manager exits the soak did not cause
	scrapes   int     // metrics scrapes
	procs     []*proc // every process started
	wg        sync.WaitGroup
	stopLoops context.CancelFunc
}

func newManagers(opts managerOptions, j *journal, cs kubernetes.Interface, scan func([]byte)) (*managers, error) {
	m := &managers{opts: opts, j: j, cs: cs, scanMetrics: scan}
	for _, name := range []string{"A", "B"} {
		metrics, err := harness.FreeLoopbackAddr()
		if err != nil {
			return nil, err
		}
		probe, err := harness.FreeLoopbackAddr()
		if err != nil {
			return nil, err
		}
		m.slots = append(m.slots, &slot{name: name, metricsAddr: metrics, probeAddr: probe})
	}
	return m, nil
}

// run starts the Lease and metrics loops.
func (m *managers) run(ctx context.Context) {
	ctx, m.stopLoops = context.WithCancel(ctx)
	m.wg.Add(2)
	go func() { defer m.wg.Done(); m.followLease(ctx) }()
	go func() { defer m.wg.Done(); m.scrapeLoop(ctx) }()
}

// args are the manager's flags besides the harness's (the kubeconfig, the
// allowed URL, the probe address, the highest log verbosity): leader election
// with short timing, a short API timeout, plain-HTTP metrics to scrape.
func (m *managers) args(s *slot) []string {
	o := m.opts
	return []string{
		"--leader-elect",
		"--leader-election-namespace=" + leaseNamespace,
		"--leader-elect-lease-duration=" + o.leaseDuration.String(),
		"--leader-elect-renew-deadline=" + o.renewDeadline.String(),
		"--leader-elect-retry-period=" + o.retryPeriod.String(),
		"--api-timeout=" + o.apiTimeout.String(),
		"--metrics-bind-address=" + s.metricsAddr,
		"--metrics-secure=false",
		"--login-qps=" + strconv.FormatFloat(o.loginQPS, 'f', -1, 64),
		"--login-burst=" + strconv.Itoa(o.loginBurst),
	}
}

// start starts a new run of slot s, logging to its own file, and waits until
// its readiness probe answers.
func (m *managers) start(s *slot) (*proc, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil && s.cur.running() {
		return s.cur, nil
	}
	s.runs++
	path := filepath.Join(m.opts.dir, fmt.Sprintf("manager-%s-%d.log", s.name, s.runs))
	// Scanned for leaks also if the run does not come up.
	m.mu.Lock()
	m.logPaths = append(m.logPaths, path)
	m.mu.Unlock()
	mgr, err := harness.StartManager(harness.ManagerOptions{
		Binary: m.opts.binary, Kubeconfig: m.opts.kubeconfig,
		AllowedAPIURLs: []string{m.opts.apiURL},
		ProbeAddr:      s.probeAddr,
		Args:           m.args(s),
		LogPath:        path,
		StopTimeout:    stopTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("starting manager %s: %w", s.name, err)
	}
	p := &proc{slot: s, n: s.runs, m: mgr}
	s.cur = p
	m.mu.Lock()
	m.procs = append(m.procs, p)
	m.mu.Unlock()
	go m.wait(p)
	return p, nil
}

// wait handles an exit of p the soak did not cause.
func (m *managers) wait(p *proc) {
	<-p.m.Exited()
	exitedAt := time.Now()
	if p.planned.Load() {
		return
	}
	m.mu.Lock()
	m.unplanned++
	m.mu.Unlock()
	m.j.note("%s exited on its own (%v); see %s", p, p.m.Err(), p.m.LogPath())
	if p.leader.Load() {
		m.leaderGone(exitedAt)
	}
	if m.restartUnplanned.Load() {
		time.Sleep(time.Second)
		if _, err := m.start(p.slot); err != nil {
			m.j.note("restarting %s: %v", p, err)
		}
	}
}

// stop stops p with sig (SIGTERM: graceful, the lease is released; SIGKILL: a
// crash) and waits until it has exited; one that does not within stopTimeout
// is killed.
func (m *managers) stop(p *proc, sig syscall.Signal) {
	if p == nil {
		return
	}
	p.planned.Store(true)
	if !p.running() {
		return
	}
	if _, err := p.m.StopWith(sig); err != nil {
		m.j.note("stopping %s with %s: %v", p, sig, err)
	}
}

// stopAll stops every manager gracefully and the loops.
func (m *managers) stopAll() {
	m.restartUnplanned.Store(false)
	var wg sync.WaitGroup
	for _, s := range m.slots {
		wg.Add(1)
		go func(p *proc) { defer wg.Done(); m.stop(p, syscall.SIGTERM) }(s.current())
	}
	wg.Wait()
	if m.stopLoops != nil {
		m.stopLoops()
	}
	m.wg.Wait()
}

// leaderGone opens a leaderless window at t, unless one is open.
func (m *managers) leaderGone(t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gone == nil {
		m.gone = &window{Kind: winLeaderless, Start: t}
		m.goneOf = m.holder
	}
}

// leaderless reports whether a leaderless window is open.
func (m *managers) leaderless() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.gone != nil
}

// followLease polls the Lease: each new holder closes the leaderless window.
func (m *managers) followLease(ctx context.Context) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		lease, err := m.cs.CoordinationV1().Leases(leaseNamespace).Get(ctx, harness.LeaderElectionID, metav1.GetOptions{})
		if err == nil {
			holder := ""
			if lease.Spec.HolderIdentity != nil {
				holder = *lease.Spec.HolderIdentity
			}
			now := time.Now()
			m.mu.Lock()
			if holder != m.holder {
				m.holder = holder
				if holder != "" {
					m.changes++
				}
			}
			if m.gone != nil && holder != "" && holder != m.goneOf {
				m.gone.End = now
				m.j.addWindow(*m.gone)
				m.gone = nil
			}
			m.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// closeLeaderless closes an open leaderless window at the end of the soak.
func (m *managers) closeLeaderless(t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gone != nil {
		m.gone.End = t
		m.j.addWindow(*m.gone)
		m.gone = nil
	}
}

// waitLeader waits until a new holder of the lease exists (no leaderless
// window open) and a running manager says it leads; it returns that manager.
func (m *managers) waitLeader(ctx context.Context, timeout time.Duration) (*proc, error) {
	deadline := time.Now().Add(timeout)
	for {
		if !m.leaderless() {
			if p := m.leader(); p != nil {
				return p, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no leader within %s", timeout)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// leader scrapes the running managers and returns the one that leads, or nil.
func (m *managers) leader() *proc {
	var found *proc
	for _, s := range m.slots {
		p := s.current()
		if p == nil || !p.running() {
			continue
		}
		if lead, ok := m.scrape(p); ok && lead {
			found = p
		}
	}
	return found
}

// standby returns a running manager that does not lead, or nil.
func (m *managers) standby() *proc {
	for _, s := range m.slots {
		if p := s.current(); p != nil && p.running() && !p.leader.Load() {
			return p
		}
	}
	return nil
}

// scrapeLoop scrapes every running manager's metrics every second and a half.
func (m *managers) scrapeLoop(ctx context.Context) {
	tick := time.NewTicker(1500 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, s := range m.slots {
			if p := s.current(); p != nil && p.running() {
				m.scrape(p)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// leaderMetric is the controller-runtime gauge that is 1 on the leader.
var leaderMetric = `leader_election_master_status{name="` + harness.LeaderElectionID + `"}`

// scrape fetches p's metrics, hands them to the leak scan, and reports whether
// p leads (ok false when the endpoint did not answer).
func (m *managers) scrape(p *proc) (leader, ok bool) {
	httpClient := &http.Client{Timeout: 2 * time.Second}
	resp, err := httpClient.Get("http://" + p.slot.metricsAddr + "/metrics")
	if err != nil {
		return false, false
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return false, false
	}
	m.mu.Lock()
	m.scrapes++
	m.mu.Unlock()
	if m.scanMetrics != nil {
		m.scanMetrics(body)
	}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if v, found := strings.CutPrefix(sc.Text(), leaderMetric+" "); found {
			leader = strings.TrimSpace(v) == "1"
		}
	}
	p.leader.Store(leader)
	return leader, true
}

// allLogs returns the log file of every manager run.
func (m *managers) allLogs() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.logPaths...)
}

// stats returns counters for the report.
func (m *managers) stats() (runs, unplanned, holderChanges, scrapes int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.procs), m.unplanned, m.changes, m.scrapes
}

// waitMetrics waits until p's metrics endpoint answers (it is up and its
// flags were accepted).
func (m *managers) waitMetrics(ctx context.Context, p *proc, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if _, ok := m.scrape(p); ok {
			return nil
		}
		if !p.running() {
			return fmt.Errorf("%s exited at start (%v); see %s", p, p.m.Err(), p.m.LogPath())
		}
		if time.Now().After(deadline) {
			return errors.New(p.String() + " did not serve metrics within " + timeout.String())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
