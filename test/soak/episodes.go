package main

import (
	"time"
)

// checkEpisodes is invariant 2: each stretch in which a live CR's Secret held
// an expired token is excused only when every login attempt the CR made in
// the token's renewal window (from its earliest renewal time to its expiry)
// met an injected fault, or when no manager led for the end of that window;
// a reverse-order password change is reported apart. A Secret edited or
// deleted by hand holds a good token again within restoreBound (plus waits).
func (a *analysis) checkEpisodes() {
	j := a.s.j
	for _, ep := range a.s.mon.allEpisodes() {
		cr := j.cr(ep.CR)
		v := a.view(cr)
		if ep.Kind == "missing" {
			end := ep.End
			if end.IsZero() {
				end = v.spanEnd
			}
			a.restore = append(a.restore, end.Sub(ep.Since))
			deadline := a.extend(ep.Since.Add(restoreBound), ep.Since)
			// Late is excused when every attempt within the bound met a fault;
			// the retries after it are invariant 6's.
			if end.After(deadline) && !a.allFailed(v, ep.Since, deadline) {
				j.violate(2, ep.Since, ep.CR, "the Secret edited or deleted by hand at %s held no good token until %s (bound %s)",
					j.rel(ep.Since), j.rel(ep.End), restoreBound)
			}
			continue
		}
		if a.isReverse(ep) {
			end := ep.End
			if end.IsZero() {
				end = v.spanEnd
			}
			a.reverseExpired = append(a.reverseExpired, end.Sub(ep.Expire))
			continue
		}
		lo := ep.Expire.Add(-a.margin - a.L/20 - time.Second)
		switch {
		case a.allFailed(v, lo, ep.Expire):
			a.excusedEpisodes++
			long := false
			for _, l := range v.logins {
				if !l.Start.Before(lo) && !l.Start.After(ep.Expire) {
					a.excusedFaults[string(l.Outcome)]++
					long = long || a.inLongOutage(l.Start)
				}
			}
			if long {
				a.excusedLong++
			}
		case a.leaderlessUntil(lo, ep.Expire):
			a.excusedLeaderless++
		default:
			j.violate(2, ep.Since, ep.CR, "the Secret held a token expired at %s (seen %s, replaced %s) with no fault on every renewal attempt",
				j.rel(ep.Expire), j.rel(ep.Since), j.rel(ep.End))
		}
	}
}

// allFailed reports whether v made at least one login attempt in [from, to]
// and every one met an injected fault (or a password change in progress).
func (a *analysis) allFailed(v *crView, from, to time.Time) bool {
	n := 0
	for _, l := range v.logins {
		if l.Start.Before(from) || l.Start.After(to) {
			continue
		}
		if l.Outcome == outcomeOK || l.Outcome == outcomeOther ||
			(l.Outcome == outcomeRejected && !a.inPasswordWindow(v.cr.Name, l.Start)) {
			return false
		}
		n++
	}
	return n > 0
}

// leaderlessUntil reports whether a window with no leader overlapping
// [from, to] ended less than leaderStartup before to.
func (a *analysis) leaderlessUntil(from, to time.Time) bool {
	for _, w := range a.leaderless {
		if !w.Start.After(to) && !w.End.Before(from) && w.End.Add(leaderStartup).After(to) {
			return true
		}
	}
	return false
}

func (a *analysis) inLongOutage(t time.Time) bool {
	for _, w := range a.s.j.allWindows() {
		if w.Kind == winLongOutage && w.Path == loginPath && w.covers(t) {
			return true
		}
	}
	return false
}

// isReverse reports whether an expired episode follows a reverse-order
// password change of its CR (the token valid when the Secret changed).
func (a *analysis) isReverse(ep episode) bool {
	for _, w := range a.reverse {
		if w.CR == ep.CR && !ep.Expire.Before(w.Start) && !ep.Expire.After(w.Start.Add(a.L+time.Second)) {
			return true
		}
	}
	return false
}

// reverseScenario is what one reverse-order password change (the login Secret
// first, VoIPBIN second) did: logins refused meanwhile, how long the stored
// token was expired before the first good login, whether Ready turned False.
type reverseScenario struct {
	cr         string
	refused    int
	recovered  time.Duration // from the Secret change to the first good login
	expiredFor time.Duration
	readyFalse []string // Ready=False reasons seen until the first good login
}

func (a *analysis) reverseScenarios() []reverseScenario {
	out := make([]reverseScenario, 0, len(a.reverse))
	for _, w := range a.reverse {
		v := a.view(a.s.j.cr(w.CR))
		r := reverseScenario{cr: w.CR}
		stored, _ := v.validAt(w.Start)
		var good *call
		for i, l := range v.logins {
			if l.Start.Before(w.Start) {
				continue
			}
			if l.Outcome == outcomeOK {
				good = &v.logins[i]
				break
			}
			if l.Outcome == outcomeRejected {
				r.refused++
			}
		}
		until := a.end
		if good != nil {
			until = good.End
			r.recovered = good.End.Sub(w.Start)
		}
		if !stored.IsZero() && until.After(stored) {
			r.expiredFor = until.Sub(stored)
		}
		for _, rc := range a.s.mon.readyHistory(w.CR) {
			if rc.Status != "True" && !rc.Time.Before(w.Start) && !rc.Time.After(until.Add(2*time.Second)) {
				r.readyFalse = append(r.readyFalse, rc.Reason)
			}
		}
		out = append(out, r)
	}
	return out
}
