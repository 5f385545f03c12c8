package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/internal/voipbin/voipbintest"
)

// Issued accesskeys (spec.accessKey.issue) in the soak: invariants 7, 8, 9,
// checked from the stand-in's record of every key (created, deleted,
// expiring) and from what the soak saw of the cluster (the managed Secrets,
// sampled every half second; the CRs, their status and events at the orphan
// check).

// Timing of the checks of issued keys.
const (
	// keyRestoreBound: a managed Secret deleted by hand holds a key that
	// authenticates again within this (a login, a listing, a create, a write),
	// or later when every such attempt within it met a fault (invariant 7).
	keyRestoreBound = 15 * time.Second
	// keyRetryGrace: invariant 8's grace beyond revokeAfter, the retry backoff
	// of failed deletes (5 s, then 10 s, +20% jitter) and slack.
	keyRetryGrace = 25 * time.Second
	// keyCreateOffset: the stand-in dates a created key's tm_create a second
	// before its creation (so that a listing "before now" holds it at once);
	// a key is counted live from tm_create + keyCreateOffset.
	keyCreateOffset = time.Second
)

// Key episode kinds: why the Secret of a live CR with issued keys held no key
// that authenticates.
const (
	keyMissing = "no key"  // the Secret is gone or holds no accesskey
	keyDeleted = "deleted" // the stored key was deleted at VoIPBIN
	keyExpired = "expired" // the stored key expired
	keyUnknown = "unknown" // VoIPBIN never created the stored key
)

// keyEpisode is a stretch of time in which a live CR's Secret, which held an
// issued key before, held none that authenticates.
type keyEpisode struct {
	CR, Kind string
	// KeyID, Expire, DeletedAt describe the stored key (deleted, expired).
	KeyID             string
	Expire, DeletedAt time.Time
	Since, End        time.Time // End is zero while it goes on
}

// keyOwner returns the CR an issued key is named for:
// vbc-<namespace>-<name>-<first 8 characters of the UID>.
func keyOwner(keyName string) (string, bool) {
	rest, ok := strings.CutPrefix(keyName, "vbc-"+crNamespace+"-")
	if !ok {
		return "", false
	}
	i := strings.LastIndexByte(rest, '-')
	if i <= 0 {
		return "", false
	}
	return rest[:i], true
}

// checkKeys is invariant 7, observed: every half second, the Secret of a live
// CR with issued keys (once the operator stored one) holds a key the stand-in
// created, not deleted and not expired (each more than grace ago); otherwise
// a key episode opens, judged at the end.
func (m *monitor) checkKeys(now time.Time) {
	if m.keys == nil {
		return
	}
	byValue := map[string]voipbintest.AccessKey{}
	for _, k := range m.keys() {
		byValue[k.Key] = k
	}
	var seen []string
	m.mu.Lock()
	for _, st := range m.secrets {
		if !st.cr.Issue || !st.everKey {
			continue
		}
		if !m.j.alive(st.cr, now) {
			if st.keyOpen != nil {
				st.keyOpen.End, st.keyOpen = now, nil
			}
			continue
		}
		m.keyObservations++
		ep := keyProblem(st, byValue, now, m.grace)
		switch {
		case ep == nil:
			if st.keyOpen != nil {
				st.keyOpen.End, st.keyOpen = now, nil
			}
		case st.keyOpen != nil && st.keyOpen.Kind == ep.Kind && st.keyOpen.KeyID == ep.KeyID:
		default:
			if st.keyOpen != nil {
				st.keyOpen.End = now
			}
			ep.CR, ep.Since = st.cr.Name, now
			st.keyOpen = ep
			m.keyEpisodes = append(m.keyEpisodes, ep)
			seen = append(seen, st.cr.Name+" ("+ep.Kind+")")
		}
	}
	m.mu.Unlock()
	if len(seen) > 0 {
		sort.Strings(seen)
		m.j.logf("issued keys not authenticating (invariant 7 judges them at the end): %s", strings.Join(seen, ", "))
	}
}

// keyProblem returns why st's Secret holds no key that authenticates at now,
// or nil.
func keyProblem(st *secretState, byValue map[string]voipbintest.AccessKey, now time.Time, grace time.Duration) *keyEpisode {
	cur, ok := st.current()
	if !ok || !cur.HasKey {
		return &keyEpisode{Kind: keyMissing}
	}
	k, found := byValue[cur.key]
	switch {
	case !found:
		return &keyEpisode{Kind: keyUnknown, KeyID: cur.KeyID}
	case !k.Delete.IsZero() && now.After(k.Delete.Add(grace)):
		return &keyEpisode{Kind: keyDeleted, KeyID: k.ID, Expire: k.Expire, DeletedAt: k.Delete}
	case now.After(k.Expire.Add(grace)):
		return &keyEpisode{Kind: keyExpired, KeyID: k.ID, Expire: k.Expire}
	}
	return nil
}

// allKeyEpisodes returns a copy of every key episode.
func (m *monitor) allKeyEpisodes() []keyEpisode {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]keyEpisode, 0, len(m.keyEpisodes))
	for _, e := range m.keyEpisodes {
		out = append(out, *e)
	}
	return out
}

// keyCounts returns invariant 7's observations.
func (m *monitor) keyCounts() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.keyObservations
}

// keyFigures are the figures of issued keys for the report.
type keyFigures struct {
	crs, created, deleted, expiredUndeleted int
	// lostAnswers: keys created by a create whose answer was lost (reset).
	maxLive     int
	maxLiveCR   string
	overTwo     int             // stretches with more than two live keys (within the grace)
	overTwoLong []time.Duration // their lengths
	episodes    map[string]int  // key episodes excused, by why
	restore     []time.Duration // hand-deleted Secrets: until a key authenticated again
	orphansAt   int             // orphans at the orphan check
	liveAt      int             // live keys at the orphan check
	leftBehind  int             // AccessKeysLeftBehind events
	held        []time.Duration // deleted CRs with issued keys: deletion to release
	stillHeld   int             // deleted CRs not released by the end
}

// checkKeyEpisodes is invariant 7: the Secret of a live CR with issued keys
// always holds a key that authenticates while VoIPBIN is reachable. A deleted
// or unknown key is never excused. An expired one is excused, as invariant 2
// excuses an expired token, when from the CR's point of view VoIPBIN was down
// for the key's whole renewal window (expiry - lifetime/3 - 5% - 1 s, to the
// expiry): no create in it succeeded (or its key died with a manager stopped
// just after) and at least one of its logins, listings or creates in it met
// an injected fault; or when no manager led for the end of that window; or
// when a reverse-order password change of the CR overlaps it (reported apart
// for tokens too). A Secret deleted by hand holds a key that authenticates
// again within keyRestoreBound (plus the waits), unless every attempt within
// it met a fault; no key otherwise is a violation.
func (a *analysis) checkKeyEpisodes() {
	j := a.s.j
	day := a.s.o.KeyDay
	for _, ep := range a.s.mon.allKeyEpisodes() {
		cr := j.cr(ep.CR)
		v := a.view(cr)
		end := ep.End
		if end.IsZero() {
			end = v.spanEnd
		}
		switch ep.Kind {
		case keyDeleted:
			j.violate(7, ep.Since, ep.CR, "the Secret held key id %s, deleted at VoIPBIN at %s (seen %s, replaced %s)",
				ep.KeyID, j.rel(ep.DeletedAt), j.rel(ep.Since), j.rel(ep.End))
		case keyUnknown:
			j.violate(7, ep.Since, ep.CR, "the Secret held a key VoIPBIN never created (id annotation %q), from %s to %s",
				ep.KeyID, j.rel(ep.Since), j.rel(ep.End))
		case keyMissing:
			hd := v.handDeleteNear(ep.Since)
			if hd.IsZero() {
				j.violate(7, ep.Since, ep.CR, "the Secret held no accesskey from %s to %s, and was not deleted by hand",
					j.rel(ep.Since), j.rel(ep.End))
				continue
			}
			a.keys.restore = append(a.keys.restore, end.Sub(hd))
			deadline := a.extend(hd.Add(keyRestoreBound), hd)
			if end.After(deadline) && !a.keyAttemptsFailed(v, hd, deadline) {
				j.violate(7, ep.Since, ep.CR, "the Secret deleted by hand at %s held no key that authenticates until %s (bound %s)",
					j.rel(hd), j.rel(ep.End), keyRestoreBound)
			}
		case keyExpired:
			lo := ep.Expire.Add(-day/3 - day/20 - time.Second)
			switch {
			case a.keyAttemptsFailed(v, lo, ep.Expire):
				a.keys.episodes["faults on every attempt"]++
			case a.leaderlessUntil(lo, ep.Expire):
				a.keys.episodes["a hand-over"]++
			case a.reverseOverlaps(ep.CR, lo, ep.Expire):
				a.keys.episodes["a reverse-order password change"]++
			default:
				j.violate(7, ep.Since, ep.CR,
					"the Secret held key id %s, expired at %s (seen %s, replaced %s), with no fault on every attempt to replace it",
					ep.KeyID, j.rel(ep.Expire), j.rel(ep.Since), j.rel(ep.End))
			}
		}
	}
}

// handDeleteNear returns when v's managed Secret was deleted by hand just
// before t (the monitor sees it at its next half-second tick), or zero.
func (v *crView) handDeleteNear(t time.Time) time.Time {
	events := v.allEvents
	for i := len(events) - 1; i >= 0; i-- {
		e := events[i]
		if e.Kind == evHandDelete && !e.Time.After(t.Add(time.Second)) && !e.Time.Before(t.Add(-3*time.Second)) {
			return e.Time
		}
	}
	return time.Time{}
}

// keyAttemptsFailed reports whether, from v's point of view, VoIPBIN was down
// for the issued key in [from, to]: no create succeeded (but one whose key died
// with a manager stopped within 3 s), and at least one login, listing or
// create met an injected fault (or a 400 during a password change).
func (a *analysis) keyAttemptsFailed(v *crView, from, to time.Time) bool {
	faulted := false
	in := func(c call) bool { return !c.Start.Before(from) && !c.Start.After(to) }
	for _, c := range v.logins {
		if in(c) && (c.Outcome.faulted() || (c.Outcome == outcomeRejected && a.inPasswordWindow(v.cr.Name, c.Start))) {
			faulted = true
		}
	}
	for _, c := range v.keyOps {
		if !in(c) || c.Op == opDelete {
			continue
		}
		if c.Op == opCreate && c.Outcome == outcomeOK && !a.processEventNear(c.Start.Add(-time.Second), c.End.Add(3*time.Second)) {
			return false
		}
		faulted = faulted || c.Outcome.faulted()
	}
	return faulted
}

// reverseOverlaps reports whether a reverse-order password change of cr
// overlaps [from, to].
func (a *analysis) reverseOverlaps(cr string, from, to time.Time) bool {
	for _, w := range a.reverse {
		if w.CR == cr && !w.Start.After(to) && !w.End.Before(from) {
			return true
		}
	}
	return false
}

// liveStretch is a time in which one CR had more than two live keys.
type liveStretch struct {
	CR         string
	Start, End time.Time
	Max        int
}

// keysByCR returns the issued keys of every CR with issued keys, by CR name,
// and the names of keys named for no such CR.
func (a *analysis) keysByCR(keys []voipbintest.AccessKey) (map[string][]voipbintest.AccessKey, []string) {
	out := map[string][]voipbintest.AccessKey{}
	var strays []string
	for _, k := range keys {
		owner, ok := keyOwner(k.Name)
		if !ok {
			continue
		}
		if cr := a.s.j.cr(owner); cr == nil || !cr.Issue {
			strays = append(strays, k.Name)
			continue
		}
		out[owner] = append(out[owner], k)
	}
	return out, strays
}

// liveStretches returns the stretches in which more than two of keys (one
// CR's) were live (created, not deleted, not expired) before end, and the
// most live at once. A key is live from its tm_create + keyCreateOffset.
func liveStretches(cr string, keys []voipbintest.AccessKey, end time.Time) ([]liveStretch, int) {
	type edge struct {
		t     time.Time
		delta int
	}
	var edges []edge
	for _, k := range keys {
		until := k.Expire
		if !k.Delete.IsZero() && k.Delete.Before(until) {
			until = k.Delete
		}
		if until.After(end) {
			until = end
		}
		from := k.Create.Add(keyCreateOffset)
		if !until.After(from) {
			continue
		}
		edges = append(edges, edge{from, 1}, edge{until, -1})
	}
	// Ends before starts at the same instant: a key deleted as the next is
	// created was not live with it.
	sort.Slice(edges, func(i, j int) bool {
		if edges[i].t.Equal(edges[j].t) {
			return edges[i].delta < edges[j].delta
		}
		return edges[i].t.Before(edges[j].t)
	})
	var out []liveStretch
	n, most := 0, 0
	var open *liveStretch
	for _, e := range edges {
		n += e.delta
		most = max(most, n)
		switch {
		case n > 2 && open == nil:
			open = &liveStretch{CR: cr, Start: e.t, Max: n}
		case n > 2:
			open.Max = max(open.Max, n)
		case open != nil:
			open.End = e.t
			out = append(out, *open)
			open = nil
		}
	}
	if open != nil {
		open.End = end
		out = append(out, *open)
	}
	return out, most
}

// checkLiveKeys is invariant 8: at most two live keys per CR (the stored one
// and the previous one until its revokeAt), except for a grace of revokeAfter
// + keyRetryGrace (moved past the waits it overlaps, as invariant 6's
// deadlines are): a third key may be live while the deletes of the others are
// retried.
func (a *analysis) checkLiveKeys(keys []voipbintest.AccessKey) {
	j := a.s.j
	grace := a.s.o.RevokeAfter + keyRetryGrace
	byCR, strays := a.keysByCR(keys)
	for _, name := range strays {
		j.violate(8, a.end, "", "the stand-in holds a key named %s, for no CR with issued keys", name)
	}
	for _, name := range j.crNames() {
		cr := j.cr(name)
		if !cr.Issue {
			continue
		}
		a.keys.crs++
		stretches, most := liveStretches(name, byCR[name], a.end)
		a.inv[8].checks++
		if most > a.keys.maxLive {
			a.keys.maxLive, a.keys.maxLiveCR = most, name
		}
		for _, st := range stretches {
			a.keys.overTwo++
			a.keys.overTwoLong = append(a.keys.overTwoLong, st.End.Sub(st.Start))
			if deadline := a.extend(st.Start.Add(grace), st.Start); st.End.After(deadline) {
				j.violate(8, st.Start, name, "%d live keys from %s to %s, more than two for longer than the grace (%s)",
					st.Max, j.rel(st.Start), j.rel(st.End), grace)
			}
		}
	}
	for _, k := range keys {
		if _, ok := keyOwner(k.Name); !ok {
			continue
		}
		a.keys.created++
		switch {
		case !k.Delete.IsZero():
			a.keys.deleted++
		case !k.Expire.After(a.end):
			a.keys.expiredUndeleted++
		}
	}
}

// keySnapshot is what the orphan check saw OrphanBound after the faults
// stopped: the stand-in's keys, the CRs with issued keys that exist (their
// stored key and previous one), and the AccessKeysLeftBehind events.
type keySnapshot struct {
	At   time.Time
	Keys []voipbintest.AccessKey
	CRs  map[string]crKeys
	// LeftBehind holds the CR of every AccessKeysLeftBehind event.
	LeftBehind []string
}

// crKeys is what the cluster said of one CR's issued keys.
type crKeys struct {
	Terminating bool
	// SecretKeyID is the managed Secret's accesskey-id annotation; StatusID
	// and PreviousID are status.accessKey.id and .previous.id.
	SecretKeyID, StatusID, PreviousID string
}

// snapshotKeys takes the orphan check's snapshot.
func (s *soak) snapshotKeys(ctx context.Context) (*keySnapshot, error) {
	snap := &keySnapshot{At: time.Now(), CRs: map[string]crKeys{}}
	snap.Keys = s.si.api.AccessKeys()
	vbcs := &v1alpha1.VoipbinCredentialList{}
	secrets := &corev1.SecretList{}
	coreEvents, newEvents := &corev1.EventList{}, &eventsv1.EventList{}
	for _, list := range []client.ObjectList{vbcs, secrets, coreEvents, newEvents} {
		if err := s.k.c.List(ctx, list, client.InNamespace(crNamespace)); err != nil {
			return nil, err
		}
	}
	keyIDs := map[string]string{}
	for _, sec := range secrets.Items {
		if cr := s.j.crOfSecret(sec.Name); cr != nil {
			keyIDs[cr.Name] = sec.Annotations[v1alpha1.AnnotationAccessKeyID]
		}
	}
	for _, vbc := range vbcs.Items {
		ck := crKeys{Terminating: vbc.DeletionTimestamp != nil, SecretKeyID: keyIDs[vbc.Name]}
		if st := vbc.Status.AccessKey; st != nil {
			ck.StatusID = st.ID
			if st.Previous != nil {
				ck.PreviousID = st.Previous.ID
			}
		}
		snap.CRs[vbc.Name] = ck
	}
	for _, e := range coreEvents.Items {
		if e.Reason == v1alpha1.EventAccessKeysLeftBehind {
			snap.LeftBehind = append(snap.LeftBehind, e.InvolvedObject.Name)
		}
	}
	for _, e := range newEvents.Items {
		if e.Reason == v1alpha1.EventAccessKeysLeftBehind {
			snap.LeftBehind = append(snap.LeftBehind, e.Regarding.Name)
		}
	}
	return snap, nil
}

// checkOrphans is invariant 9: OrphanBound after the faults stop, every key
// named for a CR that is not deleted at VoIPBIN (expired or not: the
// operator's sweeps delete expired orphans too) is the CR's stored key (the
// Secret's annotation or status.accessKey.id) or its previous one
// (status.accessKey.previous); a deleted CR is released and its keys are
// deleted. An AccessKeysLeftBehind event is a violation unless logins were
// down for the CR's whole 10-minute hold (no soak fault lasts that long).
func (a *analysis) checkOrphans(snap *keySnapshot) {
	if snap == nil {
		return
	}
	j := a.s.j
	byCR, _ := a.keysByCR(snap.Keys)
	for _, name := range j.crNames() {
		cr := j.cr(name)
		if !cr.Issue {
			continue
		}
		a.inv[9].checks++
		state, present := snap.CRs[name]
		if present && state.Terminating {
			j.violate(9, snap.At, name, "still held by its finalizer at the orphan check, %s after the faults stopped",
				snap.At.Sub(a.s.faultsStopped).Round(time.Second))
		}
		for _, k := range byCR[name] {
			if !k.Delete.IsZero() && !k.Delete.After(snap.At) {
				continue
			}
			if k.Expire.After(snap.At) {
				a.keys.liveAt++
			}
			switch {
			case !present || state.Terminating:
				a.keys.orphansAt++
				j.violate(9, snap.At, name, "key id %s (created %s) of the deleted CR is not deleted at the orphan check",
					k.ID, j.rel(k.Create))
			case k.ID != state.SecretKeyID && k.ID != state.StatusID && k.ID != state.PreviousID:
				a.keys.orphansAt++
				j.violate(9, snap.At, name, "orphan: key id %s (created %s, expires %s) is neither stored nor the previous one at the orphan check",
					k.ID, j.rel(k.Create), j.rel(k.Expire))
			}
		}
	}
	for _, name := range snap.LeftBehind {
		a.keys.leftBehind++
		cr := j.cr(name)
		if cr == nil {
			continue
		}
		_, deleted, _ := j.crState(cr)
		if !a.loginsDownFor(deleted, deleted.Add(10*time.Minute)) {
			j.violate(9, deleted, name, "released with keys left behind (AccessKeysLeftBehind) although VoIPBIN was not down for its whole hold")
		}
	}
}

// loginsDownFor reports whether login outage windows cover [from, to] whole.
func (a *analysis) loginsDownFor(from, to time.Time) bool {
	ws := a.s.j.allWindows()
	sort.Slice(ws, func(i, k int) bool { return ws[i].Start.Before(ws[k].Start) })
	t := from
	for _, w := range ws {
		if (w.Kind == winOutage || w.Kind == winLongOutage) && w.Path == loginPath && !w.Start.After(t) && w.End.After(t) {
			t = w.End
		}
	}
	return !t.Before(to)
}

// finalizerFigures counts the deletions of CRs with issued keys: how long
// each was held by its finalizer.
func (a *analysis) finalizerFigures() {
	for _, name := range a.s.j.crNames() {
		cr := a.s.j.cr(name)
		_, deleted, _ := a.s.j.crState(cr)
		if !cr.Issue || deleted.IsZero() {
			continue
		}
		if gone := a.s.j.goneAt(cr); !gone.IsZero() {
			a.keys.held = append(a.keys.held, gone.Sub(deleted))
		} else {
			a.keys.stillHeld++
		}
	}
}

// printKeys prints invariants 7 to 9 and the figures of issued keys.
func (s *soak) printKeys(p func(string, ...any), a *analysis, status func(int) string) {
	k := a.keys
	p("  7 %-8s %s", status(7), invariantNames[7])
	p("             %d (Secret, half-second) observations of %d CRs with issued keys (keys live %s, revokeAfter %s);"+
		" expired keys excused: %v", s.mon.keyCounts(), k.crs, s.o.KeyDay, s.o.RevokeAfter, k.episodes)
	p("             Secrets deleted by hand until a key authenticated again: %d, %s (bound %s)",
		len(k.restore), durStats(k.restore), keyRestoreBound)
	p("  8 %-8s %s", status(8), invariantNames[8])
	p("             keys created %d, deleted %d, expired undeleted at the end %d; most live at once for one CR: %d (%s);"+
		" more than two: %d times (%s; grace %s)", k.created, k.deleted, k.expiredUndeleted, k.maxLive, k.maxLiveCR,
		k.overTwo, durStats(k.overTwoLong), s.o.RevokeAfter+keyRetryGrace)
	p("  9 %-8s %s", status(9), invariantNames[9])
	if s.orphanSnap == nil {
		p("             no orphan check (no CR with issued keys, or the soak ended early)")
	} else {
		p("             at %s (%s after the faults stopped): %d keys not deleted (%d unexpired), %d of them orphans;"+
			" AccessKeysLeftBehind events: %d", s.j.rel(s.orphanSnap.At), s.orphanSnap.At.Sub(s.faultsStopped).Round(time.Second),
			k.orphansAt+a.keysKept(s.orphanSnap), k.liveAt, k.orphansAt, k.leftBehind)
	}
	p("             deleted CRs with issued keys: %d released by the finalizer (%s from deletion), %d not released by the end",
		len(k.held), durStats(k.held), k.stillHeld)
}

// keysKept counts the keys not deleted at the snapshot that were stored or previous.
func (a *analysis) keysKept(snap *keySnapshot) int {
	byCR, _ := a.keysByCR(snap.Keys)
	n := 0
	for name, keys := range byCR {
		state, present := snap.CRs[name]
		for _, k := range keys {
			if (k.Delete.IsZero() || k.Delete.After(snap.At)) && present && !state.Terminating &&
				(k.ID == state.SecretKeyID || k.ID == state.StatusID || k.ID == state.PreviousID) {
				n++
			}
		}
	}
	return n
}

// keyOpsLine formats the calls on issued keys, by operation and outcome.
func keyOpsLine(calls []call) string {
	ops := []string{opCreate, opList, opDelete}
	parts := make([]string, 0, len(ops))
	for _, op := range ops {
		m := map[outcome]int{}
		for _, c := range calls {
			if c.Op == op {
				m[c.Outcome]++
			}
		}
		parts = append(parts, fmt.Sprintf("%s %s", op, formatOutcomes(m)))
	}
	return strings.Join(parts, "; ")
}
