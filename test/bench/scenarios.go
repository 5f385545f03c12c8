package main

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// maxReadyRatio is scenario 1's target: all Ready within 1.15 times the
// rate-limit floor N / login-qps.
const maxReadyRatio = 1.15

// maxWritesPerCR is scenario 6's target.
const maxWritesPerCR = 3

// totalCRs is how many VoipbinCredentials exist after scenario 2.
func (b *bench) totalCRs() int { return b.o.crs + b.o.sharedCRs }

// sleep waits for d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// readyWindow is what a scenario saw from opening its window until all its
// credentials were Ready and the watch events of the last writes had arrived.
type readyWindow struct {
	// readyAt is when the last of them turned Ready; waitErr wraps errNotReady
	// when not all were in time, which the table reports (it ends no run).
	readyAt time.Time
	waitErr error
	writes  writeCounts
	calls   apiCalls
}

// waitReadyAndClose waits until n VoipbinCredentials of ns are Ready, lets the
// settle time pass and closes win.
func (b *bench) waitReadyAndClose(ctx context.Context, win window, ns string, n int, mgr *managerProcess) (readyWindow, error) {
	var r readyWindow
	r.readyAt, r.waitErr = b.tracker.waitReady(ctx, ns, n, b.o.readyTimeout, mgr)
	if r.waitErr != nil && !errors.Is(r.waitErr, errNotReady) {
		return r, r.waitErr
	}
	if err := sleep(ctx, b.o.settle); err != nil {
		return r, err
	}
	var err error
	r.writes, r.calls, err = b.closeWindow(ctx, win)
	return r, err
}

// windowCounts is what a window counted, and the manager's metrics at its end.
type windowCounts struct {
	writes writeCounts
	// secretWrites and crWrites are the writes of Secrets and of
	// VoipbinCredentials, subresources included.
	secretWrites, crWrites int
	calls                  apiCalls
	metrics                metricSet
}

// scrapeAndClose scrapes mgr's metrics, then closes win.
func (b *bench) scrapeAndClose(ctx context.Context, win window, mgr *managerProcess) (windowCounts, error) {
	m, err := mgr.scrape(ctx)
	if err != nil {
		return windowCounts{}, err
	}
	writes, calls, err := b.closeWindow(ctx, win)
	if err != nil {
		return windowCounts{}, err
	}
	return windowCounts{writes: writes, calls: calls, metrics: m,
		secretWrites: writes.count(resourceSecrets, anySubresource),
		crWrites:     writes.count(resourceCredentials, anySubresource)}, nil
}

// scenarioDistinct is scenario 1: N credentials with N distinct logins exist
// before the manager starts; how long until all are Ready, against the floor
// the login rate limit sets, and did VoIPBIN ever answer 429. The API server's
// writes of the same window are scenario 6.
func (b *bench) scenarioDistinct(ctx context.Context) error {
	n := b.o.crs
	s := b.rep.scenario("1", fmt.Sprintf("%d credentials with %d distinct logins, created before the manager starts", n, n))
	b.out.printf("scenario 1: creating %d login Secrets and %d VoipbinCredentials (manager not running)", n, n)
	created := time.Now()
	err := b.parallel(ctx, n, func(ctx context.Context, i int) error {
		user, password, secret := fmt.Sprintf("user-%04d@bench.example", i), fmt.Sprintf("password-%04d", i), fmt.Sprintf("login-%04d", i)
		b.api.AddAgent(user, password, "")
		if err := b.c.Create(ctx, loginSecret(nsDistinct, secret, user, password)); err != nil {
			return fmt.Errorf("creating Secret %s: %w", secret, err)
		}
		return b.c.Create(ctx, b.credential(nsDistinct, fmt.Sprintf("app-%04d", i), secret))
	})
	if err != nil {
		return err
	}
	b.out.printf("  created in %s; starting the manager", seconds(time.Since(created)))

	win, err := b.openWindow(ctx)
	if err != nil {
		return err
	}
	mgr, err := b.startManager(ctx)
	if err != nil {
		return err
	}
	r, err := b.waitReadyAndClose(ctx, win, nsDistinct, n, mgr)
	if err != nil {
		return err
	}
	readyAt, waitErr, calls := r.readyAt, r.waitErr, r.calls
	b.distinctWrites = r.writes

	floor := time.Duration(float64(n) / b.o.loginQPS * float64(time.Second))
	limit := time.Duration(float64(floor) * maxReadyRatio)
	if waitErr != nil {
		s.check("time until all Ready", 0, "s", waitErr.Error(), "<= "+seconds(limit), false)
		b.out.printf("  %v", waitErr)
	} else {
		elapsed := readyAt.Sub(mgr.startedAt)
		ratio := elapsed.Seconds() / floor.Seconds()
		s.check("time until all Ready (from the manager's start)", elapsed.Seconds(), "s", seconds(elapsed),
			"<= "+seconds(limit), elapsed <= limit)
		s.info("rate-limit floor N / login-qps", floor.Seconds(), "s", seconds(floor))
		s.check("ratio to the floor", ratio, "", fmt.Sprintf("%.3f", ratio), fmt.Sprintf("<= %.2f", maxReadyRatio),
			ratio <= maxReadyRatio)
		b.out.printf("  all %d Ready %s after the manager's start (floor %s, ratio %.3f)", n, seconds(elapsed), seconds(floor), ratio)
	}
	s.check("429 answers at the stand-in", float64(calls.tooMany), "", count(calls.tooMany), "0", calls.tooMany == 0)
	s.check("logins made", float64(calls.logins), "", count(calls.logins), "= "+count(n), calls.logins == n)
	if calls.logins > 0 {
		startup := calls.firstLogin.Sub(mgr.startedAt)
		s.info("manager start to first login", startup.Seconds(), "s", seconds(startup))
		pacing := calls.lastLogin.Sub(calls.firstLogin)
		ideal := time.Duration(float64(max(calls.logins-b.o.loginBurst, 0)) / b.o.loginQPS * float64(time.Second))
		s.info("first to last login (ideal (N - burst) / qps)", pacing.Seconds(), "s",
			fmt.Sprintf("%s (ideal %s)", seconds(pacing), seconds(ideal)))
		if waitErr == nil {
			tail := readyAt.Sub(calls.lastLogin)
			s.info("last login to all Ready", tail.Seconds(), "s", seconds(tail))
		}
	}
	return nil
}

// scenarioShared is scenario 2: credentials sharing a few logins, created while
// the manager runs, make exactly one login per distinct login.
func (b *bench) scenarioShared(ctx context.Context) error {
	n, logins := b.o.sharedCRs, b.o.sharedLogins
	s := b.rep.scenario("2", fmt.Sprintf("%d credentials sharing %d logins, created while the manager runs", n, logins))
	win, err := b.openWindow(ctx)
	if err != nil {
		return err
	}
	b.out.printf("scenario 2: creating %d login Secrets and %d VoipbinCredentials (manager running)", logins, n)
	start := time.Now()
	for i := range logins {
		user, password := fmt.Sprintf("shared-%02d@bench.example", i), fmt.Sprintf("shared-password-%02d", i)
		b.api.AddAgent(user, password, "")
		if err := b.c.Create(ctx, loginSecret(nsShared, fmt.Sprintf("login-%02d", i), user, password)); err != nil {
			return fmt.Errorf("creating a login Secret: %w", err)
		}
	}
	err = b.parallel(ctx, n, func(ctx context.Context, i int) error {
		return b.c.Create(ctx, b.credential(nsShared, fmt.Sprintf("app-%04d", i), fmt.Sprintf("login-%02d", i%logins)))
	})
	if err != nil {
		return err
	}
	created := time.Since(start)
	r, err := b.waitReadyAndClose(ctx, win, nsShared, n, b.mgr)
	if err != nil {
		return err
	}
	readyAt, waitErr, writes, calls := r.readyAt, r.waitErr, r.writes, r.calls

	s.check("logins made", float64(calls.logins), "", count(calls.logins), "= "+count(logins), calls.logins == logins)
	if waitErr != nil {
		s.info("time until all Ready", 0, "s", waitErr.Error())
		b.out.printf("  %v", waitErr)
	} else {
		elapsed := readyAt.Sub(start)
		s.info("time until all Ready (from the first create)", elapsed.Seconds(), "s", seconds(elapsed))
		b.out.printf("  all %d Ready %s after the first create, %d logins", n, seconds(elapsed), calls.logins)
	}
	s.info("time to create them", created.Seconds(), "s", seconds(created))
	s.info("429 answers at the stand-in", float64(calls.tooMany), "", count(calls.tooMany))
	// The benchmark's own writes in this window: the login Secrets (the
	// VoipbinCredentials' creates are not status writes).
	operator := writes.count(resourceSecrets, anySubresource) - logins + writes.count(resourceCredentials, subresourceStatus)
	perCR := float64(operator) / float64(n)
	s.info("API-server writes per credential (the operator's)", perCR, "",
		fmt.Sprintf("%.2f (all writes: Secrets %s; credentials %s; the POSTs are the benchmark's)",
			perCR, writes.describe(resourceSecrets), writes.describe(resourceCredentials)))
	return nil
}

// scenarioQuiet is scenario 3: once all are Ready, nothing happens: no VoIPBIN
// call, no Secret or VoipbinCredential write.
func (b *bench) scenarioQuiet(ctx context.Context) error {
	s := b.rep.scenario("3", fmt.Sprintf("a quiet %s after all %d credentials are Ready", b.o.quiet, b.totalCRs()))
	b.out.printf("scenario 3: quiet for %s", b.o.quiet)
	before, err := b.mgr.scrape(ctx)
	if err != nil {
		return err
	}
	win, err := b.openWindow(ctx)
	if err != nil {
		return err
	}
	if err := sleep(ctx, b.o.quiet); err != nil {
		return err
	}
	w, err := b.scrapeAndClose(ctx, win, b.mgr)
	if err != nil {
		return err
	}
	writes, calls, secretWrites, crWrites := w.writes, w.calls, w.secretWrites, w.crWrites
	recs := int(reconciles(w.metrics) - reconciles(before))

	s.check("VoIPBIN calls", float64(calls.total), "", count(calls.total), "0", calls.total == 0)
	s.check("Secret writes", float64(secretWrites), "", withDetail(secretWrites, writes.describe(resourceSecrets)), "0",
		secretWrites == 0)
	s.check("VoipbinCredential writes (status and other)", float64(crWrites), "",
		withDetail(crWrites, writes.describe(resourceCredentials)), "0", crWrites == 0)
	s.info("reconciles", float64(recs), "", count(recs))
	return nil
}

// withDetail shows a count with its breakdown, if any.
func withDetail(n int, detail string) string {
	if detail == "" {
		return count(n)
	}
	return fmt.Sprintf("%d (%s)", n, detail)
}

// scenarioRestart is scenario 4: a graceful restart with every credential
// Ready makes no login in the following window.
func (b *bench) scenarioRestart(ctx context.Context) error {
	total := b.totalCRs()
	s := b.rep.scenario("4", fmt.Sprintf("a graceful restart (SIGTERM, wait, start) with all %d credentials Ready", total))
	b.out.printf("scenario 4: restarting the manager, then counting for %s", b.o.restartWindow)
	win, err := b.openWindow(ctx)
	if err != nil {
		return err
	}
	stopped, stopErr := b.stopManager()
	mgr, err := b.startManager(ctx)
	if err != nil {
		return err
	}
	settledAt, settleErr := mgr.waitSettled(ctx, total, b.o.restartWindow)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := sleep(ctx, time.Until(mgr.startedAt.Add(b.o.restartWindow))); err != nil {
		return err
	}
	w, err := b.scrapeAndClose(ctx, win, mgr)
	if err != nil {
		return err
	}
	writes, calls, secretWrites, crWrites := w.writes, w.calls, w.secretWrites, w.crWrites
	recs := int(reconciles(w.metrics))

	s.check(fmt.Sprintf("logins in the %s after the start", b.o.restartWindow), float64(calls.logins), "",
		count(calls.logins), "0", calls.logins == 0)
	s.info("all VoIPBIN calls", float64(calls.total), "", count(calls.total))
	if stopErr != nil {
		s.info("SIGTERM to exit", stopped.Seconds(), "s", fmt.Sprintf("%s: %v", seconds(stopped), stopErr))
	} else {
		s.info("SIGTERM to exit", stopped.Seconds(), "s", seconds(stopped))
	}
	if settleErr != nil {
		s.info("start to every credential reconciled once", 0, "s", settleErr.Error())
	} else {
		d := settledAt.Sub(mgr.startedAt)
		s.info("start to every credential reconciled once", d.Seconds(), "s", seconds(d))
	}
	s.info("reconciles", float64(recs), "", count(recs))
	s.info("Secret writes", float64(secretWrites), "", withDetail(secretWrites, writes.describe(resourceSecrets)))
	s.info("VoipbinCredential writes", float64(crWrites), "", withDetail(crWrites, writes.describe(resourceCredentials)))
	b.out.printf("  %d logins, %d reconciles, %d Secret and %d VoipbinCredential writes", calls.logins, recs, secretWrites, crWrites)
	return nil
}

// stopManager stops the running manager gracefully and reports how long it
// took; a manager that had to be killed, or exited with an error, is an error.
func (b *bench) stopManager() (time.Duration, error) {
	if b.mgr == nil {
		return 0, nil
	}
	took, err := b.mgr.stop()
	b.mgr = nil
	return took, err
}

// scenarioWrites is scenario 6: the API server's writes per credential over
// scenario 1, from its own apiserver_request_total.
func (b *bench) scenarioWrites(_ context.Context) error {
	n := b.o.crs
	s := b.rep.scenario("6", fmt.Sprintf("API-server writes per credential to reach Ready (scenario 1, %d credentials)", n))
	w := b.distinctWrites
	creates := w.count(resourceSecrets, "", verbsCreate...)
	applies := w.count(resourceSecrets, "", verbsPatch...)
	updates := w.count(resourceSecrets, "", verbsUpdate...)
	deletes := w.count(resourceSecrets, "", verbsDelete...)
	status := w.count(resourceCredentials, subresourceStatus)
	other := w.count(resourceCredentials, anySubresource) - status
	total := w.count(resourceSecrets, anySubresource) + w.count(resourceCredentials, anySubresource)
	perCR := float64(total) / float64(n)

	s.info("Secret creates", float64(creates), "", count(creates))
	s.info("Secret applies and patches", float64(applies), "", withDetail(applies, w.describe(resourceSecrets)))
	s.info("Secret updates", float64(updates), "", count(updates))
	if deletes > 0 {
		s.info("Secret deletes", float64(deletes), "", count(deletes))
	}
	s.info("VoipbinCredential status writes (empty patches included)", float64(status), "",
		withDetail(status, w.describe(resourceCredentials)))
	if other > 0 {
		s.info("other VoipbinCredential writes", float64(other), "", count(other))
	}
	s.check("writes per credential", perCR, "", fmt.Sprintf("%.2f (%d / %d)", perCR, total, n),
		fmt.Sprintf("<= %d", maxWritesPerCR), perCR <= maxWritesPerCR)
	return nil
}
