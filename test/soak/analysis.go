package main

import (
	"sort"
	"time"
)

// Slack of the timing checks: how much later than the operator's own schedule
// an API call may arrive (the workqueue, the shared rate limiter, an API server
// on two busy cores) before it counts as late.
const (
	// renewalSlack: a renewal after its renewal time.
	renewalSlack = 5 * time.Second
	// retrySlack: a retry after its backoff.
	retrySlack = 3 * time.Second
	// eventSlack: a login after a change that calls for one (a new password in
	// the login Secret, the managed Secret edited or deleted, a new CR).
	eventSlack = 5 * time.Second
	// leaderStartup: how long a new leader may take, after it holds the lease,
	// to start its workers and catch up.
	leaderStartup = 8 * time.Second
	// gateSlack: how long after a 429's Retry-After the deferred calls may come
	// (plus the herd's share of the rate limit, see extend).
	gateSlack = 2 * time.Second
	// herdWindow: the calls started this long after a wait ends are the herd
	// the wait released.
	herdWindow = 10 * time.Second
	// restoreBound: a managed Secret edited or deleted by hand holds a good
	// token again within this (invariant 2).
	restoreBound = 10 * time.Second
	// deletedSlack: a login this long after its CR was deleted is one too many.
	deletedSlack = 3 * time.Second
	// hammerGap: consecutive failed attempts of one CR closer than this (the
	// backoff starts at 5 s minus 20% jitter) are hammering.
	hammerGap = 3500 * time.Millisecond
	// keyCheckGap: the shortest time between two scheduled accesskey checks
	// (accessKeyCheckInterval is 1 minute; the time is kept in whole seconds).
	keyCheckGap = 58 * time.Second
	// The operator's retry backoff (docs/architecture.md, "Timing"): 5 s
	// doubling to 5 min, +-20% jitter, a floor of 5 s, permanent failures
	// every 10 min.
	backoffBase    = 5 * time.Second
	backoffCap     = 5 * time.Minute
	backoffFloor   = 5 * time.Second
	permanentRetry = 10 * time.Minute
)

// analysis evaluates invariants 2, 3 and 6 at the end, from the stand-in's
// record of every call, the Secret writes, the CR events and the windows.
type analysis struct {
	s     *soak
	calls []call
	byCR  map[string][]call
	// waits are the windows that delay calls: no leader, a 429's Retry-After.
	waits      []window
	leaderless []window
	reverse    []window
	passwords  []window
	L          time.Duration
	margin     time.Duration
	// minGap is the shortest time between two logins of one CR without a
	// reason: a renewal comes at least L - L/3 - 5% L (jitter) after the
	// login, less the rounding.
	minGap time.Duration
	end    time.Time
	// loginStarts are the start times of every login, sorted.
	loginStarts []time.Time

	inv map[int]*invCount
	// keys are the figures of issued keys (invariants 7 to 9).
	keys keyFigures
	// reverse-order password changes, reported apart (invariant 2).
	reverseExpired []time.Duration
	// excusedEpisodes expired tokens were excused by faults on every renewal
	// attempt (excusedFaults counts those attempts by outcome; excusedLong the
	// episodes in a long outage); excusedLeaderless by a hand-over.
	excusedEpisodes, excusedLong, excusedLeaderless int
	excusedFaults                                   map[string]int
	restore                                         []time.Duration
}

// invCount counts one invariant's checks.
type invCount struct {
	checks int
}

func newAnalysis(s *soak) *analysis {
	a := &analysis{s: s, calls: s.si.rec.snapshot(), byCR: map[string][]call{}, L: s.o.TokenLifetime,
		end: s.end, inv: map[int]*invCount{}, excusedFaults: map[string]int{}, keys: keyFigures{episodes: map[string]int{}}}
	for i := 1; i <= 9; i++ {
		a.inv[i] = &invCount{}
	}
	a.margin = a.L / 3
	// The expiry is kept in whole seconds and the renewal time is rounded down
	// to one: two seconds of rounding, and a little scheduling.
	a.minGap = a.L*2/3 - a.L/20 - 2300*time.Millisecond
	sort.Slice(a.calls, func(i, j int) bool { return a.calls[i].Start.Before(a.calls[j].Start) })
	for _, c := range a.calls {
		a.byCR[c.CR] = append(a.byCR[c.CR], c)
		if c.Path == loginPath {
			a.loginStarts = append(a.loginStarts, c.Start)
		}
		if c.Outcome == outcomeLimited {
			a.waits = append(a.waits, window{Kind: "429 Retry-After", Path: c.Path, Start: c.End, End: c.End.Add(c.RetryAfter)})
		}
	}
	for _, w := range s.j.allWindows() {
		switch w.Kind {
		case winLeaderless:
			a.leaderless = append(a.leaderless, w)
			a.waits = append(a.waits, w)
		case winReverse:
			a.reverse = append(a.reverse, w)
			a.passwords = append(a.passwords, w)
		case winCareful:
			a.passwords = append(a.passwords, w)
		}
	}
	return a
}

// extend moves deadline past every wait window that overlaps [from, deadline]:
// calls due in a window with no leader come once a new leader has started,
// calls deferred by a 429 once its Retry-After has passed; and then at the
// client's login rate (--login-qps), so a call may wait for the whole herd the
// window released (the logins of every CR in herdWindow after it).
func (a *analysis) extend(deadline, from time.Time) time.Time {
	for changed := true; changed; {
		changed = false
		for _, w := range a.waits {
			if w.Start.After(deadline) || w.End.Before(from) {
				continue
			}
			ext := gateSlack
			if w.Kind == winLeaderless {
				ext = leaderStartup
			}
			ext += time.Duration(float64(a.herd(w.End)) / a.s.o.LoginQPS * float64(time.Second))
			if d := w.End.Add(ext); d.After(deadline) {
				deadline, changed = d, true
			}
		}
	}
	return deadline
}

// herd counts the logins of every CR that started in herdWindow after t.
func (a *analysis) herd(t time.Time) int {
	from := sort.Search(len(a.loginStarts), func(i int) bool { return !a.loginStarts[i].Before(t) })
	to := sort.Search(len(a.loginStarts), func(i int) bool { return a.loginStarts[i].After(t.Add(herdWindow)) })
	return to - from
}

// crView is everything known of one CR, for the checks.
type crView struct {
	cr               *crInfo
	created, deleted time.Time
	spanEnd          time.Time
	events           []crEvent // the events that call for a login
	allEvents        []crEvent
	logins, checks   []call
	keyOps           []call // calls on issued keys (create, list, delete)
	// gone is when the CR stopped existing: its deletion, or for a CR with
	// issued keys its release by the finalizer (the end if never).
	gone   time.Time
	writes []secretWrite
	stored map[string]bool // tokens the operator wrote into the Secret
}

func (a *analysis) view(cr *crInfo) *crView {
	v := &crView{cr: cr, stored: map[string]bool{}}
	var events []crEvent
	v.created, v.deleted, events = a.s.j.crState(cr)
	v.allEvents = events
	v.spanEnd = a.end
	if !v.deleted.IsZero() {
		v.spanEnd = v.deleted
	}
	v.gone = v.spanEnd
	if cr.Issue && !v.deleted.IsZero() {
		v.gone = a.s.j.goneAt(cr)
		if v.gone.IsZero() {
			v.gone = a.end
		}
	}
	for _, e := range events {
		if e.Explains && e.Kind != evCreated {
			v.events = append(v.events, e)
		}
	}
	for _, c := range a.byCR[cr.Name] {
		switch {
		case c.Op != "":
			v.keyOps = append(v.keyOps, c)
		case c.Path == loginPath:
			v.logins = append(v.logins, c)
		default:
			v.checks = append(v.checks, c)
		}
	}
	v.writes = a.s.mon.secretHistory(cr)
	for _, w := range v.writes {
		if !w.BySoak && w.HasToken {
			v.stored[w.token] = true
		}
	}
	return v
}

// eventIn reports whether a login-calling event of v happened in (from, to].
func (v *crView) eventIn(from, to time.Time) bool {
	for _, e := range v.events {
		if e.Time.After(from) && !e.Time.After(to) {
			return true
		}
	}
	return false
}

// leaderChangeIn reports whether a leaderless window started in (from, to].
func (a *analysis) leaderChangeIn(from, to time.Time) bool {
	for _, w := range a.leaderless {
		if w.Start.After(from) && !w.Start.After(to) {
			return true
		}
	}
	return false
}

// inPasswordWindow reports whether t is inside a password change of cr.
func (a *analysis) inPasswordWindow(cr string, t time.Time) bool {
	for _, w := range a.passwords {
		if w.CR == cr && !t.Before(w.Start) && !t.After(w.End.Add(2*time.Second)) {
			return true
		}
	}
	return false
}

// validAt returns the expiry of the token v's Secret held at t, if it held an
// unexpired one written by the operator.
func (v *crView) validAt(t time.Time) (time.Time, bool) {
	var last *secretWrite
	for i := range v.writes {
		if v.writes[i].Time.After(t) {
			break
		}
		last = &v.writes[i]
	}
	if last == nil || last.Deleted || last.BySoak || !last.HasToken || !last.Expire.After(t) {
		return time.Time{}, false
	}
	return last.Expire, true
}
