package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/internal/voipbin/voipbintest"
	"github.com/voipbin/credential-operator/test/harness"
)

// Options are the soak's settings (its flags).
type Options struct {
	// Seed draws the chaos: the same seed and sizes give the same plan.
	Seed int64
	// Duration is how long faults are injected.
	Duration time.Duration
	// CRs is the number of VoipbinCredentials created at the start (plus one
	// canary, the leak scans' positive control).
	CRs int
	// AccessKeyEvery gives every n-th CR an accesskey too (0: none).
	AccessKeyEvery int
	// IssueEvery gives every n-th CR (index n·k+1, unless it has an accesskey
	// already) accesskeys the operator issues itself (0: none).
	IssueEvery int
	// KeyDay is how long one day of an issued key's lifetime lasts at the
	// stand-in: the soak's CRs ask for 24h keys, which then live KeyDay.
	KeyDay time.Duration
	// RevokeAfter is the issued CRs' accessKey.issue.revokeAfter.
	RevokeAfter time.Duration
	// OrphanBound is invariant 9's bound: no orphaned key this long after the
	// faults stop.
	OrphanBound time.Duration
	// TokenLifetime is the lifetime of the stand-in's tokens.
	TokenLifetime time.Duration
	// APITimeout is the managers' --api-timeout; hangs last a second longer.
	APITimeout time.Duration
	// FaultInterval, ClusterInterval and ProcessInterval are the mean times
	// between two steps of the API, cluster and process lanes.
	FaultInterval, ClusterInterval, ProcessInterval time.Duration
	// ReadyBound is invariant 5's bound: every CR Ready this long after the
	// faults stop.
	ReadyBound time.Duration
	// Tail is how long the soak keeps watching after every CR is Ready again.
	Tail time.Duration
	// Spread is the time over which the first CRs are created, so that their
	// renewals spread too.
	Spread time.Duration
	// LoginQPS and LoginBurst are the managers' --login-qps and --login-burst.
	LoginQPS   float64
	LoginBurst int
	// Root is the repository root; Dir the folder for the logs and the report;
	// Manager the manager binary.
	Root, Dir, Manager string
	// Show lists CRs whose whole time line the report prints, failing or not.
	Show []string
	// Out receives the live lines and the report.
	Out io.Writer
}

// DefaultOptions are make soak's defaults.
func DefaultOptions() Options {
	return Options{
		Seed: 1, Duration: 10 * time.Minute, CRs: 200, AccessKeyEvery: 5,
		// Every 6th CR, less those with an accesskey: 28 of 200 (14%), whose
		// keys live 90 s and are replaced every minute.
		IssueEvery: 6, KeyDay: 90 * time.Second, RevokeAfter: 10 * time.Second, OrphanBound: 2 * time.Minute,
		TokenLifetime: 30 * time.Second, APITimeout: 2 * time.Second,
		FaultInterval: 3 * time.Second, ClusterInterval: 4 * time.Second, ProcessInterval: 30 * time.Second,
		ReadyBound: 60 * time.Second, Tail: 30 * time.Second, Spread: 10 * time.Second,
		// 200 CRs renewing 30-second tokens log in about 10 times a second;
		// VoIPBIN's own 7-day tokens would need one login every 50 minutes.
		LoginQPS: 50, LoginBurst: 100,
		Root: ".", Dir: "bin/soak", Manager: "bin/manager", Out: os.Stdout,
	}
}

// ShortOptions are the short version's sizes (TestShortSoak, in make test):
// 30 CRs, 60 seconds of faults, a manager action every 13 seconds so that both
// hand-over kinds and both restart kinds happen, every fault kind at least once.
func ShortOptions() Options {
	o := DefaultOptions()
	o.Duration, o.CRs = 60*time.Second, 30
	o.FaultInterval, o.ClusterInterval, o.ProcessInterval = 3*time.Second, 3*time.Second, 13*time.Second
	o.Tail, o.Spread = 3*time.Second, 4*time.Second
	return o
}

// addFlags binds o's settings to flags of fs, o's values their defaults.
func (o *Options) addFlags(fs *flag.FlagSet) {
	fs.Int64Var(&o.Seed, "seed", o.Seed, "Seed of the fault plan: the same seed and sizes replay the same plan.")
	fs.IntVar(&o.CRs, "crs", o.CRs, "VoipbinCredentials created at the start (each with its own VoIPBIN agent).")
	fs.IntVar(&o.AccessKeyEvery, "accesskey-every", o.AccessKeyEvery, "Every n-th CR also validates an accesskey (0: none).")
	fs.IntVar(&o.IssueEvery, "issue-every", o.IssueEvery,
		"Every n-th CR (index n*k+1, unless it validates an accesskey) has its accesskeys issued by the operator (0: none).")
	for _, d := range []struct {
		value       *time.Duration
		name, usage string
	}{
		{&o.Duration, "duration", "How long faults are injected."},
		{&o.TokenLifetime, "token-lifetime", "Lifetime of the tokens the stand-in issues."},
		{&o.APITimeout, "api-timeout", "The managers' --api-timeout; injected hangs last a second longer."},
		{&o.FaultInterval, "fault-interval", "Mean time between two API faults."},
		{&o.ClusterInterval, "cluster-interval", "Mean time between two cluster changes (passwords, hand edits, CRs created and deleted)."},
		{&o.ProcessInterval, "process-interval", "Mean time between two manager actions (hand-overs, restarts)."},
		{&o.ReadyBound, "ready-bound", "Every CR must be Ready this long after the faults stop."},
		{&o.Tail, "tail", "How long to keep watching, with no faults, once every CR is Ready again."},
		{&o.KeyDay, "key-day", "How long a day of an issued key's lifetime lasts at the stand-in (the CRs ask for 24h keys)."},
		{&o.RevokeAfter, "revoke-after", "accessKey.issue.revokeAfter of the CRs with issued keys."},
		{&o.OrphanBound, "orphan-bound", "No orphaned issued key may be left this long after the faults stop."},
	} {
		fs.DurationVar(d.value, d.name, *d.value, d.usage)
	}
	fs.Float64Var(&o.LoginQPS, "login-qps", o.LoginQPS, "The managers' --login-qps.")
	fs.IntVar(&o.LoginBurst, "login-burst", o.LoginBurst, "The managers' --login-burst.")
	fs.StringVar(&o.Root, "root", o.Root, "The repository root (config/crd/bases is read from it).")
	fs.StringVar(&o.Dir, "dir", o.Dir, "Folder for the kubeconfig, the managers' logs and report.txt.")
	fs.StringVar(&o.Manager, "manager", o.Manager, "The manager binary (make soak builds it as make build does).")
	fs.Func("show", "Comma-separated `names` of CRs whose whole time line the report prints, failing or not.", func(v string) error {
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				o.Show = append(o.Show, name)
			}
		}
		return nil
	})
}

// staticKey reports whether CR i validates an accesskey of its own.
func (o Options) staticKey(i int) bool { return o.AccessKeyEvery > 0 && i%o.AccessKeyEvery == 0 }

// issues reports whether CR i has its accesskeys issued by the operator.
func (o Options) issues(i int) bool {
	return o.IssueEvery > 0 && i%o.IssueEvery == 1%o.IssueEvery && !o.staticKey(i)
}

// Timing of the soak itself.
const (
	// expiryGrace is how long past its expiry a stored token is tolerated
	// before invariant 2 looks at it: the check runs every half second.
	expiryGrace = 2 * time.Second
	// warmupBound bounds the first Ready of every CR at the start.
	warmupBound = 2 * time.Minute
	// Manager timing: short, so that hand-overs happen within seconds.
	leaseDuration = 4 * time.Second
	renewDeadline = 3 * time.Second
	retryPeriod   = time.Second
)

// soak is one run.
type soak struct {
	o     Options
	j     *journal
	k     *cluster
	si    *standIn
	m     *managers
	mon   *monitor
	leaks *leakLedger
	edits int // hand edits so far (cluster lane only)

	canary string
	// The phases: the chaos started, the faults stopped, every CR was Ready
	// again, the soak ended.
	chaosStart, faultsStopped, allReady, end time.Time
	readyMissing                             []string
	// lastDeadline is the latest invariant-5 deadline a backoff set.
	lastDeadline time.Time
	// bg tracks the deletions waiting for a finalizer, on bgCtx.
	bg    sync.WaitGroup
	bgCtx context.Context
	// orphanSnap is invariant 9's snapshot; finalKeys the stand-in's keys at
	// the end (invariant 8).
	orphanSnap *keySnapshot
	finalKeys  []voipbintest.AccessKey

	// Figures of the evaluation.
	ratios                  map[string]*ratio
	eventCount              int
	syntheticOK, debugLines bool
}

// Run runs the soak and returns its report. An error means the soak could
// not run (not that an invariant failed: see Report.Failed).
func Run(ctx context.Context, o Options) (_ *Report, retErr error) {
	// The soak talks on o.Out; library logs would only clutter it.
	harness.QuietLibraryLogs()
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	old, _ := filepath.Glob(filepath.Join(o.Dir, "manager-*.log"))
	for _, f := range old {
		_ = os.Remove(f)
	}
	s := &soak{o: o, j: newJournal(o.Out), leaks: newLeakLedger()}
	s.j.logf("soak: seed %d, %s of faults, %d CRs (every %dth with an accesskey, every %dth issuing its own), tokens live %s,"+
		" issued keys %s; logs in %s", o.Seed, o.Duration, o.CRs, o.AccessKeyEvery, o.IssueEvery, o.TokenLifetime, o.KeyDay, o.Dir)

	var err error
	if s.si, err = startStandIn(o.TokenLifetime, o.KeyDay, func(t string) { s.leaks.add("token", t) }); err != nil {
		return nil, err
	}
	// Every key the stand-in ever created (issued ones included) is looked for.
	s.leaks.addIssuer("accesskey", s.si.keyValues)
	defer s.si.stop()
	s.k, err = startCluster(o.Root, o.Dir)
	defer func() {
		if err := s.k.stop(); err != nil && retErr == nil {
			retErr = fmt.Errorf("stopping the control plane: %w", err)
		}
	}()
	if err != nil {
		return nil, err
	}
	s.m, err = newManagers(managerOptions{
		binary: o.Manager, kubeconfig: s.k.kubeconfig, apiURL: s.si.url, dir: o.Dir,
		apiTimeout: o.APITimeout, leaseDuration: leaseDuration, renewDeadline: renewDeadline, retryPeriod: retryPeriod,
		loginQPS: o.LoginQPS, loginBurst: o.LoginBurst,
	}, s.j, s.k.cs, func(b []byte) { s.leaks.scan(srcMetrics, string(b)) })
	if err != nil {
		return nil, err
	}
	s.mon = newMonitor(s.j, s.k.cs, s.k.c, expiryGrace, func(b []byte) { s.leaks.scan(srcStatus, string(b)) })
	if o.IssueEvery > 0 {
		s.mon.watchKeys(s.si.api.AccessKeys)
	}

	watchCtx, stopWatching := context.WithCancel(ctx)
	defer stopWatching()
	s.bgCtx = watchCtx
	s.mon.start(watchCtx)
	s.m.run(watchCtx)
	defer s.m.stopAll()

	if err := s.setUp(ctx); err != nil {
		return nil, err
	}
	s.chaos(ctx)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	s.recover(ctx)
	tailEnd := time.Now().Add(o.Tail)
	if o.IssueEvery > 0 {
		at := s.faultsStopped.Add(o.OrphanBound)
		s.j.logf("tail: watching until the orphan check at %s, and at least %s more", s.j.rel(at), o.Tail)
		sleep(ctx, time.Until(at))
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if s.orphanSnap, err = s.snapshotKeys(ctx); err != nil {
			return nil, fmt.Errorf("the orphan check: %w", err)
		}
	} else {
		s.j.logf("tail: watching %s more with no faults", o.Tail)
	}
	sleep(ctx, time.Until(tailEnd))
	s.end = time.Now()
	s.m.closeLeaderless(s.end)
	s.finalKeys = s.si.api.AccessKeys()

	// Stop the managers (their logs are then complete) and the watches, then
	// scan and evaluate.
	s.m.stopAll()
	stopWatching()
	s.mon.wait()
	s.bg.Wait()
	if err := s.scanForLeaks(context.Background()); err != nil {
		return nil, err
	}
	rep := s.evaluate()
	rep.print(o.Out)
	if f, err := os.Create(filepath.Join(o.Dir, "report.txt")); err == nil {
		rep.print(f)
		_ = f.Close()
	}
	return rep, nil
}

// setUp starts both managers, waits for a leader, creates the CRs (spread over
// a few seconds) and waits until every one is Ready.
func (s *soak) setUp(ctx context.Context) error {
	for _, sl := range s.m.slots {
		p, err := s.m.start(sl)
		if err != nil {
			return err
		}
		if err := s.m.waitMetrics(ctx, p, time.Minute); err != nil {
			return err
		}
	}
	if _, err := s.m.waitLeader(ctx, time.Minute); err != nil {
		return err
	}
	s.canary = "canary-" + harness.RandomString(16)
	s.leaks.addControl("canary CR name", s.canary)
	crs := []*crInfo{s.newCR(-1, true)}
	for i := range s.o.CRs {
		crs = append(crs, s.newCR(i, false))
	}
	spread := min(s.o.TokenLifetime/3, s.o.Spread)
	for _, cr := range crs {
		if err := s.createCR(ctx, cr); err != nil {
			return err
		}
		sleep(ctx, spread/time.Duration(len(crs)))
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	start := time.Now()
	if missing := s.waitAllReady(ctx, func(*crInfo, map[string][]call) time.Time { return start.Add(warmupBound) }); len(missing) > 0 {
		return fmt.Errorf("not every CR was Ready within %s of its creation (before any fault): %v", warmupBound, missing)
	}
	s.j.logf("setup: %d CRs Ready %.1fs after the last was created", len(crs), time.Since(start).Seconds())
	return nil
}

// newCR describes CR i (the canary when canary is set): its own agent at the
// stand-in, its password and, for every AccessKeyEvery-th, its own accesskey.
func (s *soak) newCR(i int, canary bool) *crInfo {
	name := crName(i)
	if canary {
		name = s.canary
	}
	cr := &crInfo{Name: name, Username: name + "@example.com", LoginSecret: name + "-login",
		ManagedSecret: name + "-token", Canary: canary}
	cr.passwords = []string{s.newPassword()}
	cr.Issue = !canary && s.o.issues(i)
	if !canary && s.o.staticKey(i) {
		key := s.si.api.AddAccessKey(voipbintest.AccessKey{Name: name})
		cr.AccessKey, cr.KeySecret = key.Key, name+"-key"
		s.leaks.add("accesskey", key.Key)
	}
	return cr
}

// newPassword returns a fresh random password, known to the leak scans.
func (s *soak) newPassword() string {
	pw := "pw-" + harness.RandomString(24)
	s.leaks.add("password", pw)
	return pw
}

// createCR creates cr's agent at the stand-in and its objects in the cluster.
func (s *soak) createCR(ctx context.Context, cr *crInfo) error {
	s.si.api.AddAgent(cr.Username, cr.password(), "")
	s.si.rec.attribute(cr.Name, cr.Username, cr.AccessKey)
	s.j.addCR(cr)
	s.j.event(cr, time.Now(), evCreated, true)
	return s.k.createCredential(ctx, cr, s.si.url, s.o.RevokeAfter)
}

// chaos runs the three lanes of the plan for the duration.
func (s *soak) chaos(ctx context.Context) {
	p := makePlan(s.o)
	s.j.logf("chaos: %d API faults, %d cluster changes, %d manager actions planned over %s",
		len(p.api), len(p.cluster), len(p.process), s.o.Duration)
	s.m.restartUnplanned.Store(true)
	s.chaosStart = time.Now()
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); s.runLane(ctx, laneAPI, p.api, s.chaosStart, s.doAPI) }()
	go func() { defer wg.Done(); s.runLane(ctx, laneCluster, p.cluster, s.chaosStart, s.doCluster) }()
	go func() { defer wg.Done(); s.runLane(ctx, laneProcess, p.process, s.chaosStart, s.doProcess) }()
	wg.Wait()
	sleep(ctx, time.Until(s.chaosStart.Add(s.o.Duration)))
}

// recover stops every fault, makes sure both managers run, and waits for
// every CR to be Ready (invariant 5).
func (s *soak) recover(ctx context.Context) {
	s.si.api.ClearFaults()
	s.m.restartUnplanned.Store(false)
	s.faultsStopped = time.Now()
	for _, sl := range s.m.slots {
		if p := sl.current(); p == nil || !p.running() {
			if _, err := s.m.start(sl); err != nil {
				s.j.note("starting manager %s after the chaos: %v", sl.name, err)
			}
		}
	}
	s.j.logf("faults stopped; waiting for every CR to be Ready within %s (or its scheduled retry)", s.o.ReadyBound)
	s.readyMissing = s.waitAllReady(ctx, s.readyDeadline)
	if len(s.readyMissing) == 0 {
		s.allReady = time.Now()
		s.j.logf("every CR Ready %.1fs after the faults stopped", s.allReady.Sub(s.faultsStopped).Seconds())
	}
}

// waitAllReady waits until every live CR is Ready (reason Ready) and its
// Secret holds an unexpired token (and its accesskey), and returns the CRs
// that are not, with why, once each one's deadline has passed.
func (s *soak) waitAllReady(ctx context.Context, deadline func(*crInfo, map[string][]call) time.Time) []string {
	for {
		byCR := map[string][]call{}
		for _, c := range s.si.rec.snapshot() {
			byCR[c.CR] = append(byCR[c.CR], c)
		}
		var missing []string
		waiting := false
		items := s.mon.poll(ctx)
		why := map[string]string{}
		for i := range items {
			if w := s.notReady(&items[i]); w != "" {
				why[items[i].Name] = w
			}
		}
		for _, name := range s.j.crNames() {
			cr := s.j.cr(name)
			if _, deleted, _ := s.j.crState(cr); !deleted.IsZero() {
				continue
			}
			w, notReady := why[name]
			if !slices.ContainsFunc(items, func(v v1alpha1.VoipbinCredential) bool { return v.Name == name }) {
				w, notReady = "not listed", true
			}
			if !notReady {
				continue
			}
			if time.Now().Before(deadline(cr, byCR)) {
				waiting = true
			}
			missing = append(missing, name+": "+w)
		}
		if len(missing) == 0 || !waiting || ctx.Err() != nil {
			return missing
		}
		sleep(ctx, 500*time.Millisecond)
	}
}

// readyDeadline is invariant 5's bound for cr: ReadyBound after the faults
// stopped or, for a CR whose backoff had already put its next attempt later,
// that attempt plus retrySlack (the operator's backoff reaches 80 s after five
// failures in a row: an outage that ends does not cut a wait short).
func (s *soak) readyDeadline(cr *crInfo, byCR map[string][]call) time.Time {
	d := s.faultsStopped.Add(s.o.ReadyBound)
	v := &crView{cr: cr, writes: s.mon.secretHistory(cr)}
	for _, c := range byCR[cr.Name] {
		switch {
		case c.Op == opDelete:
		case c.Op != "":
			v.keyOps = append(v.keyOps, c)
		case c.Path == loginPath:
			v.logins = append(v.logins, c)
		default:
			v.checks = append(v.checks, c)
		}
	}
	for _, calls := range [][]call{v.logins, v.checks, v.keyOps} {
		if due := retryDue(v, calls); !due.IsZero() && due.Add(retrySlack).After(d) {
			d = due.Add(retrySlack)
			if d.After(s.lastDeadline) {
				s.lastDeadline = d
			}
		}
	}
	return d
}

// notReady says why vbc is not Ready with a good Secret, or "".
func (s *soak) notReady(vbc *v1alpha1.VoipbinCredential) string {
	c := meta.FindStatusCondition(vbc.Status.Conditions, v1alpha1.ConditionReady)
	if c == nil {
		return "no Ready condition"
	}
	if c.Status != metav1.ConditionTrue || c.Reason != v1alpha1.ReasonReady {
		return fmt.Sprintf("Ready=%s %s: %s", c.Status, c.Reason, c.Message)
	}
	cr := s.j.cr(vbc.Name)
	if cr == nil {
		return ""
	}
	h := s.mon.secretHistory(cr)
	if len(h) == 0 || h[len(h)-1].Deleted {
		return "no managed Secret"
	}
	cur := h[len(h)-1]
	if !cur.Expire.After(time.Now()) {
		return "the managed Secret holds no unexpired token"
	}
	if (cr.AccessKey != "" || cr.Issue) && !cur.HasKey {
		return "the managed Secret holds no accesskey"
	}
	return ""
}

// scanForLeaks scans what is only complete at the end: every manager log, the
// events, and the status once more (metrics and status were scanned live).
func (s *soak) scanForLeaks(ctx context.Context) error {
	for _, path := range s.m.allLogs() {
		if err := s.leaks.scanFile(srcLogs, path); err != nil {
			return fmt.Errorf("scanning %s: %w", path, err)
		}
	}
	cluster, err := harness.ReadClusterText(ctx, s.k.c, crNamespace)
	if err != nil {
		return err
	}
	s.eventCount = cluster.EventCount
	s.leaks.scan(srcEvents, cluster.Events)
	s.leaks.scan(srcStatus, cluster.Credentials)
	return nil
}
