package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"
)

// sizeResult is what the scaling run measured at one size.
type sizeResult struct {
	CRs    int `json:"crs"`
	Logins int `json:"logins"`

	// The manager with no credential yet, after a forced garbage collection.
	IdleHeapInuse float64 `json:"idleHeapInuseBytes"`
	IdleHeapAlloc float64 `json:"idleHeapAllocBytes"`

	// Creating the credentials while the manager runs, until all are Ready.
	CreateSeconds float64 `json:"createSeconds"`
	// ReadySeconds runs from the last create to the last credential's Ready.
	ReadySeconds float64 `json:"readySeconds"`
	// CPUSeconds is the manager's CPU time from the first create to all Ready.
	CPUSeconds float64 `json:"cpuSeconds"`
	LoginsMade int     `json:"loginsMade"`
	TooMany    int     `json:"tooManyRequests"`
	// Reconciles is how many reconciles the manager ran to get there.
	Reconciles int `json:"reconciles"`
	Writes     int `json:"writes"`
	// Events are the events the operator recorded (API-server writes too, of
	// another resource: not in Writes).
	Events       int    `json:"events"`
	WritesDetail string `json:"writesDetail"`
	ReadyError   string `json:"readyError,omitempty"`

	// Settled: read during the quiet window, each after a forced collection.
	HeapInuse     float64 `json:"heapInuseBytes"`
	HeapAlloc     float64 `json:"heapAllocBytes"`
	RSS           float64 `json:"rssBytes"`
	MemoryReads   int     `json:"memoryReadings"`
	QuietSeconds  float64 `json:"quietSeconds"`
	QuietCalls    int     `json:"quietCalls"`
	QuietWrites   int     `json:"quietWrites"`
	QuietReconcls int     `json:"quietReconciles"`

	// A graceful restart: SIGTERM, wait for the exit, start again.
	StopSeconds    float64 `json:"stopSeconds"`
	RestartSeconds float64 `json:"restartSeconds"`
	RestartRecs    int     `json:"restartReconciles"`
	RestartLogins  int     `json:"restartLogins"`
	RestartCalls   int     `json:"restartCalls"`
	RestartWrites  int     `json:"restartWrites"`
	RestartError   string  `json:"restartError,omitempty"`
	// After the restart, every credential reconciled once: the caches filled by
	// their first list, no event or work of the creation left.
	RestartHeapInuse float64 `json:"restartHeapInuseBytes"`
	RestartHeapAlloc float64 `json:"restartHeapAllocBytes"`
	RestartRSS       float64 `json:"restartRssBytes"`
}

// WritesPerCR is the operator's API-server writes per credential to reach Ready.
func (r sizeResult) WritesPerCR() float64 { return float64(r.Writes) / float64(r.CRs) }

// HeapPerCR is the live heap each credential adds to the idle manager.
func (r sizeResult) HeapPerCR() float64 { return (r.HeapAlloc - r.IdleHeapAlloc) / float64(r.CRs) }

// sizeRun is one size of the scaling run in progress.
type sizeRun struct {
	b         *bench
	n, logins int
	s         scalingOptions
	r         sizeResult
}

// fewReadings is how many readings of the manager's memory are taken, a
// second apart, when it is idle and after the restart.
const fewReadings = 3

// start starts the stand-in, the control plane and the manager, and reads the
// idle manager's memory.
func (m *sizeRun) start(ctx context.Context) error {
	if err := m.b.start(ctx); err != nil {
		return err
	}
	mgr, err := m.b.startManager(ctx)
	if err != nil {
		return err
	}
	idle, err := mgr.fewMemoryReadings(ctx)
	m.r.IdleHeapInuse, m.r.IdleHeapAlloc = idle.heapInuse, idle.heapAlloc
	return err
}

// fewMemoryReadings reads the manager's memory a few times, a second apart,
// and returns the smallest heap figures and the median RSS.
func (p *managerProcess) fewMemoryReadings(ctx context.Context) (memoryReading, error) {
	var readings []memoryReading
	for range fewReadings {
		if err := sleep(ctx, time.Second); err != nil {
			return memoryReading{}, err
		}
		mem, err := p.memoryAfterGC(ctx)
		if err != nil {
			return memoryReading{}, err
		}
		readings = append(readings, mem)
	}
	return summarize(readings), nil
}

// summarize returns the smallest heap figures of readings (each taken right
// after a collection: the smallest is the least disturbed by work in flight)
// and their median RSS.
func summarize(readings []memoryReading) memoryReading {
	return memoryReading{
		heapInuse: minOf(pick(readings, func(r memoryReading) float64 { return r.heapInuse })),
		heapAlloc: minOf(pick(readings, func(r memoryReading) float64 { return r.heapAlloc })),
		rss:       median(pick(readings, func(r memoryReading) float64 { return r.rss })),
	}
}

// create creates the login Secrets and the credentials while the manager runs
// and waits until all are Ready: the time from the last create, the manager's
// CPU, the logins and the API-server writes.
func (m *sizeRun) create(ctx context.Context) error {
	b, mgr := m.b, m.b.mgr
	win, err := b.openWindow(ctx)
	if err != nil {
		return err
	}
	cpuBefore, err := mgr.cpuSeconds()
	if err != nil {
		return err
	}
	before, err := mgr.scrape(ctx)
	if err != nil {
		return err
	}
	first := time.Now()
	for i := range m.logins {
		user, password := fmt.Sprintf("scale-%04d@bench.example", i), fmt.Sprintf("scale-password-%04d", i)
		b.api.AddAgent(user, password, "")
		if err := b.c.Create(ctx, loginSecret(nsScale, loginName(i), user, password)); err != nil {
			return fmt.Errorf("creating a login Secret: %w", err)
		}
	}
	err = b.parallel(ctx, m.n, func(ctx context.Context, i int) error {
		return b.c.Create(ctx, b.credential(nsScale, fmt.Sprintf("app-%05d", i), loginName(i/m.s.perLogin)))
	})
	if err != nil {
		return err
	}
	last := time.Now()
	m.r.CreateSeconds = last.Sub(first).Seconds()
	b.out.printf("  created %d credentials in %s", m.n, seconds(last.Sub(first)))

	readyAt, waitErr := b.tracker.waitReady(ctx, nsScale, m.n, b.o.readyTimeout, mgr)
	cpuReady, err := mgr.cpuSeconds()
	if err != nil {
		return err
	}
	if waitErr != nil && !errors.Is(waitErr, errNotReady) {
		return waitErr
	}
	if waitErr != nil {
		m.r.ReadyError = waitErr.Error()
	} else {
		m.r.ReadySeconds = readyAt.Sub(last).Seconds()
		m.r.CPUSeconds = cpuReady - cpuBefore
		b.out.printf("  all Ready %s after the last create; %.1f CPU seconds", seconds(readyAt.Sub(last)), m.r.CPUSeconds)
	}
	if err := sleep(ctx, b.o.settle); err != nil {
		return err
	}
	w, err := b.scrapeAndClose(ctx, win, mgr)
	if err != nil {
		return err
	}
	writes, calls := w.writes, w.calls
	m.r.Reconciles = int(reconciles(w.metrics) - reconciles(before))
	m.r.Events = writes.count(resourceEvents, anySubresource)
	m.r.LoginsMade, m.r.TooMany = calls.logins, calls.tooMany
	// The benchmark's own writes in the window are the POSTs of the login
	// Secrets and of the credentials; the rest are the operator's.
	m.r.Writes = writes.count(resourceSecrets, anySubresource) - m.logins +
		writes.count(resourceCredentials, anySubresource) - m.n
	m.r.WritesDetail = fmt.Sprintf("Secrets %s; credentials %s", writes.describe(resourceSecrets),
		writes.describe(resourceCredentials))
	b.out.printf("  %d logins, %.2f writes and %.2f reconciles per credential", calls.logins, m.r.WritesPerCR(),
		float64(m.r.Reconciles)/float64(m.n))
	return nil
}

// loginName is the name of the i-th login Secret.
func loginName(i int) string { return fmt.Sprintf("login-%04d", i) }

// quiet waits the quiet window with every credential Ready, reading the
// manager's memory along the way, and counts VoIPBIN calls and API-server
// writes; it saves a heap profile at its end.
func (m *sizeRun) quiet(ctx context.Context) error {
	b, mgr := m.b, m.b.mgr
	before, err := mgr.scrape(ctx)
	if err != nil {
		return err
	}
	win, err := b.openWindow(ctx)
	if err != nil {
		return err
	}
	start := time.Now()
	var readings []memoryReading
	for end := start.Add(b.o.quiet); ; {
		mem, err := mgr.memoryAfterGC(ctx)
		if err != nil {
			return err
		}
		readings = append(readings, mem)
		wait := min(m.s.memInterval, time.Until(end))
		if wait <= 0 {
			break
		}
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
	w, err := b.scrapeAndClose(ctx, win, mgr)
	if err != nil {
		return err
	}
	m.r.QuietSeconds = time.Since(start).Seconds()
	m.r.QuietCalls, m.r.QuietWrites = w.calls.total, w.secretWrites+w.crWrites
	m.r.QuietReconcls = int(reconciles(w.metrics) - reconciles(before))
	settled := summarize(readings)
	m.r.HeapInuse, m.r.HeapAlloc, m.r.RSS, m.r.MemoryReads = settled.heapInuse, settled.heapAlloc, settled.rss, len(readings)
	b.out.printf("  quiet %s: %d calls, %d writes; heap in use %s, live %s, RSS %s", seconds(time.Since(start)),
		m.r.QuietCalls, m.r.QuietWrites, mib(m.r.HeapInuse), mib(m.r.HeapAlloc), mib(m.r.RSS))
	return mgr.saveHeapProfile(ctx, filepath.Join(b.dir, "heap.pprof"))
}

// restart stops the manager gracefully, starts it again and measures the time
// from the new process's start until every credential was reconciled once:
// its controller_runtime_reconcile_total reached the number of credentials
// with its work queue empty (waitSettled). Logins, calls and writes are
// counted from before the SIGTERM until the settle time after that.
func (m *sizeRun) restart(ctx context.Context) error {
	b := m.b
	win, err := b.openWindow(ctx)
	if err != nil {
		return err
	}
	stopped, err := b.stopManager()
	if err != nil {
		return err
	}
	m.r.StopSeconds = stopped.Seconds()
	mgr, err := b.startManager(ctx)
	if err != nil {
		return err
	}
	settledAt, settleErr := mgr.waitSettled(ctx, m.n, m.s.restartTimeout)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if settleErr != nil {
		m.r.RestartError = settleErr.Error()
	} else {
		m.r.RestartSeconds = settledAt.Sub(mgr.startedAt).Seconds()
	}
	if err := sleep(ctx, b.o.settle); err != nil {
		return err
	}
	w, err := b.scrapeAndClose(ctx, win, mgr)
	if err != nil {
		return err
	}
	m.r.RestartRecs = int(reconciles(w.metrics))
	m.r.RestartLogins, m.r.RestartCalls = w.calls.logins, w.calls.total
	m.r.RestartWrites = w.secretWrites + w.crWrites
	after, err := mgr.fewMemoryReadings(ctx)
	if err != nil {
		return err
	}
	m.r.RestartHeapInuse, m.r.RestartHeapAlloc, m.r.RestartRSS = after.heapInuse, after.heapAlloc, after.rss
	b.out.printf("  restart: every credential reconciled once %s after the start; %d logins, %d writes; "+
		"heap in use %s, live %s, RSS %s", seconds(time.Duration(m.r.RestartSeconds*float64(time.Second))),
		m.r.RestartLogins, m.r.RestartWrites, mib(after.heapInuse), mib(after.heapAlloc), mib(after.rss))
	return nil
}

// pick returns f of each reading.
func pick(readings []memoryReading, f func(memoryReading) float64) []float64 {
	values := make([]float64, len(readings))
	for i, r := range readings {
		values[i] = f(r)
	}
	return values
}
