package main

import (
	"time"

	"github.com/voipbin/credential-operator/test/harness"
)

// evaluate runs the end-of-run checks for every CR.
func (a *analysis) evaluate() {
	for _, name := range a.s.j.crNames() {
		v := a.view(a.s.j.cr(name))
		a.checkLoginCount(v)
		a.checkKeyCount(v)
		a.checkRenewals(v)
		a.checkRetries(v)
		a.checkEvents(v)
	}
	a.checkEpisodes()
	a.checkKeyEpisodes()
	a.checkLiveKeys(a.s.finalKeys)
	a.checkOrphans(a.s.orphanSnap)
	a.finalizerFigures()
}

// checkLoginCount is invariant 3 for logins: every refused or faulted login is
// explained, the count stays within the bound, no hammering, nothing after
// the CR is gone.
func (a *analysis) checkLoginCount(v *crView) {
	j, name := a.s.j, v.cr.Name
	n, failed := 0, 0
	for i, l := range v.logins {
		if l.Start.After(v.spanEnd.Add(deletedSlack)) {
			// A CR with issued keys held by its finalizer may log in to delete them.
			if !v.deleted.IsZero() && l.Start.After(v.gone.Add(deletedSlack)) {
				j.violate(3, l.Start, name, "logged in %.1fs after the CR was deleted", l.Start.Sub(v.deleted).Seconds())
			}
			continue
		}
		n++
		switch {
		case l.Outcome == outcomeOK:
		case l.Outcome == outcomeRejected && !a.inPasswordWindow(name, l.Start):
			failed++
			j.violate(3, l.Start, name, "a login was refused (HTTP 400) outside any password change")
		case l.Outcome == outcomeOther:
			failed++
			j.violate(3, l.Start, name, "a login got an answer no fault explains (HTTP %d)", l.Status)
		default:
			failed++
		}
		if i+1 < len(v.logins) && l.Outcome.faulted() {
			next := v.logins[i+1]
			// The backoff counts from the attempt's start (a hang takes the
			// whole client timeout). A change made just before the failed
			// attempt may reach the operator's cache only after it: it still
			// explains the retry.
			if gap := next.Start.Sub(l.Start); gap < hammerGap && !v.eventIn(l.Start.Add(-time.Second), next.Start) &&
				!a.leaderChangeIn(l.Start, next.Start) {
				j.violate(3, next.Start, name, "retried %.1fs after a failed login (%s); the backoff starts at 5s", gap.Seconds(), l.Outcome)
			}
		}
	}
	span := v.spanEnd.Sub(v.created)
	handovers := 0
	for _, w := range a.leaderless {
		if w.Start.After(v.created) && w.Start.Before(v.spanEnd) {
			handovers++
		}
	}
	bound := 1 + int(span/a.minGap) + failed + len(v.events) + handovers
	a.inv[3].checks++
	if n > bound {
		j.violate(3, v.spanEnd, name, "%d logins, more than the bound %d (1 + %d renewals in %.0fs + %d failed + %d changes + %d hand-overs)",
			n, bound, int(span/a.minGap), span.Seconds(), failed, len(v.events), handovers)
	}
	a.countRatio("logins", n, bound)
}

// checkKeyCount is invariant 3 for accesskey checks.
func (a *analysis) checkKeyCount(v *crView) {
	if v.cr.AccessKey == "" {
		return
	}
	n, failed := 0, 0
	for _, c := range v.checks {
		if c.Start.After(v.spanEnd.Add(deletedSlack)) {
			if !v.deleted.IsZero() {
				a.s.j.violate(3, c.Start, v.cr.Name, "checked the accesskey %.1fs after the CR was deleted", c.Start.Sub(v.deleted).Seconds())
			}
			continue
		}
		n++
		if c.Outcome != outcomeOK {
			failed++
		}
		if c.Outcome == outcomeRejected || c.Outcome == outcomeOther {
			a.s.j.violate(3, c.Start, v.cr.Name, "the accesskey check got HTTP %d, which no fault explains", c.Status)
		}
	}
	span := v.spanEnd.Sub(v.created)
	handovers := 0
	for _, w := range a.leaderless {
		if w.Start.After(v.created) && w.Start.Before(v.spanEnd) {
			handovers++
		}
	}
	bound := 1 + int(span/keyCheckGap) + failed + len(v.events) + handovers
	a.inv[3].checks++
	if n > bound {
		a.s.j.violate(3, v.spanEnd, v.cr.Name, "%d accesskey checks, more than the bound %d", n, bound)
	}
	a.countRatio("accesskey checks", n, bound)
}

// ratio tracks the totals of invariant 3.
type ratio struct{ n, bound int }

func (a *analysis) countRatio(what string, n, bound int) {
	if a.s.ratios == nil {
		a.s.ratios = map[string]*ratio{}
	}
	r := a.s.ratios[what]
	if r == nil {
		r = &ratio{}
		a.s.ratios[what] = r
	}
	r.n += n
	r.bound += bound
}

// processEventNear reports whether a manager was stopped, killed or lost
// around t (a login whose token died with its manager).
func (a *analysis) processEventNear(from, to time.Time) bool {
	for _, w := range a.leaderless {
		if !w.Start.Before(from) && !w.Start.After(to) {
			return true
		}
	}
	return false
}

// checkRenewals is invariant 6 for successful logins: none is done twice
// (two logins within one renewal window that no change explains), none is
// lost (its token never stored), none is missed (the next attempt comes by the
// renewal time of the token, plus slack and waits).
func (a *analysis) checkRenewals(v *crView) {
	j, name := a.s.j, v.cr.Name
	var ok []call
	for _, l := range v.logins {
		if l.Outcome == outcomeOK && !l.Start.After(v.spanEnd) {
			ok = append(ok, l)
		}
	}
	for i, s := range ok {
		a.inv[6].checks++
		lostWithManager := a.processEventNear(s.Start.Add(-time.Second), s.End.Add(3*time.Second))
		if !v.stored[s.Token] && !lostWithManager && s.End.Add(deletedSlack).Before(v.spanEnd) {
			j.violate(6, s.Start, name, "the token of the login at %s (%s) never reached the Secret", j.rel(s.Start), harness.Fingerprint(s.Token))
		}
		if i+1 < len(ok) {
			nx := ok[i+1]
			if gap := nx.Start.Sub(s.Start); gap < a.minGap && !v.eventIn(s.Start.Add(-time.Second), nx.Start) &&
				(v.stored[s.Token] || !lostWithManager) {
				j.violate(6, nx.Start, name, "renewed twice: logins at %s and %s, %.1fs apart (a renewal comes at least %.1fs after a login)",
					j.rel(s.Start), j.rel(nx.Start), gap.Seconds(), a.minGap.Seconds())
			}
		}
		if !v.stored[s.Token] {
			continue
		}
		deadline := a.extend(s.End.Add(a.L*2/3+renewalSlack), s.Start)
		next := firstAfter(v.logins, s.Start)
		switch {
		case next == nil && deadline.Before(v.spanEnd):
			j.violate(6, deadline, name, "no renewal attempt after the login at %s (due by %s)", j.rel(s.Start), j.rel(deadline))
		case next != nil && next.Start.After(deadline):
			j.violate(6, next.Start, name, "the renewal of the token from %s came at %s, due by %s",
				j.rel(s.Start), j.rel(next.Start), j.rel(deadline))
		}
	}
}

// firstAfter returns the first call that started after t.
func firstAfter(calls []call, t time.Time) *call {
	for i := range calls {
		if calls[i].Start.After(t) {
			return &calls[i]
		}
	}
	return nil
}

// checkRetries is invariant 6 for failed logins: the next attempt comes within
// the operator's backoff (5 s doubling, +-20%, never later than half the
// time the stored token has left, floor 5 s; a refused login at the stored
// token's expiry or after 10 minutes), or at once after a change.
func (a *analysis) checkRetries(v *crView) {
	j, name := a.s.j, v.cr.Name
	consecutive := 0
	for i, f := range v.logins {
		if f.Outcome == outcomeOK {
			consecutive = 0
			continue
		}
		consecutive++
		if f.Start.After(v.spanEnd) {
			continue
		}
		a.inv[6].checks++
		deadline := f.End.Add(retryBound(v, f, consecutive) + retrySlack)
		for _, e := range v.events {
			if e.Time.After(f.End) && e.Time.Before(deadline) {
				deadline = e.Time.Add(eventSlack)
				break
			}
		}
		deadline = a.extend(deadline, f.Start)
		var next *call
		if i+1 < len(v.logins) {
			next = &v.logins[i+1]
		}
		switch {
		case next == nil && deadline.Before(v.spanEnd):
			j.violate(6, deadline, name, "no retry after the failed login (%s) at %s, due by %s", f.Outcome, j.rel(f.Start), j.rel(deadline))
		case next != nil && next.Start.After(deadline):
			j.violate(6, next.Start, name, "the retry after the failed login (%s, failure %d in a row) at %s came at %s, due by %s",
				f.Outcome, consecutive, j.rel(f.Start), j.rel(next.Start), j.rel(deadline))
		}
	}
}

// retryBound is the longest the operator's backoff waits after f, the
// consecutive-th failure in a row of a call of v: a refused login is retried
// just after the stored token's expiry or after 10 minutes; a transient
// failure after 5 s doubling (+20% jitter, up to 5 min), never later than
// half the time the stored credential has left (floor 5 s), never sooner than
// Retry-After.
func retryBound(v *crView, f call, consecutive int) time.Duration {
	expire, valid := v.validAt(f.End)
	if f.Path == accessKeysPath {
		// The stored key's expiry is a year away: plain backoff.
		valid = false
	}
	if f.Outcome == outcomeRejected {
		if valid && expire.Add(time.Second).Sub(f.End) < permanentRetry {
			return expire.Add(time.Second).Sub(f.End)
		}
		return permanentRetry
	}
	d0 := min(backoffBase<<min(consecutive-1, 10), backoffCap)
	bound := d0 * 6 / 5
	if valid {
		bound = max(min(bound, expire.Sub(f.End)/2), backoffFloor)
	}
	return max(bound, f.RetryAfter)
}

// retryDue returns when, by the backoff, the next of calls is due at the
// latest if the last one failed; the zero time if it succeeded.
func retryDue(v *crView, calls []call) time.Time {
	if len(calls) == 0 || calls[len(calls)-1].Outcome == outcomeOK {
		return time.Time{}
	}
	consecutive := 0
	for i := len(calls) - 1; i >= 0 && calls[i].Outcome != outcomeOK; i-- {
		consecutive++
	}
	f := calls[len(calls)-1]
	return f.End.Add(retryBound(v, f, consecutive))
}

// checkEvents is invariant 6 for changes: a new CR, a new password in the
// login Secret, the managed Secret edited or deleted by hand each bring a
// login within eventSlack (plus waits).
func (a *analysis) checkEvents(v *crView) {
	j, name := a.s.j, v.cr.Name
	events := append([]crEvent{{Time: v.created, Kind: evCreated}}, v.events...)
	for _, e := range events {
		if !v.deleted.IsZero() && e.Time.After(v.deleted) {
			continue
		}
		a.inv[6].checks++
		deadline := a.extend(e.Time.Add(eventSlack), e.Time)
		next := firstAfter(v.logins, e.Time.Add(-500*time.Millisecond))
		switch {
		case next == nil && deadline.Before(v.spanEnd):
			j.violate(6, deadline, name, "no login after %q at %s", e.Kind, j.rel(e.Time))
		case next != nil && next.Start.After(deadline):
			j.violate(6, next.Start, name, "the login after %q at %s came at %s, due by %s",
				e.Kind, j.rel(e.Time), j.rel(next.Start), j.rel(deadline))
		}
	}
}
