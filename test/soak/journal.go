package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"
)

// crInfo is one VoipbinCredential of the soak: its own VoIPBIN agent (so that
// every login is attributable to it), its Secrets, and what the soak did to it.
type crInfo struct {
	Name          string
	Username      string
	LoginSecret   string
	KeySecret     string // "" when the CR has no accesskey
	ManagedSecret string
	AccessKey     string // "" when the CR has no accesskey
	// Issue: the operator issues the CR's accesskeys (accessKey.issue).
	Issue  bool
	Canary bool // the positive control of the leak scans

	// Guarded by journal.mu from here on.
	passwords []string
	Created   time.Time
	Deleted   time.Time
	// Gone is when a deleted CR with issued keys was released by its
	// finalizer (zero: not yet, or another CR).
	Gone   time.Time
	Events []crEvent
}

func (cr *crInfo) password() string { return cr.passwords[len(cr.passwords)-1] }

// alive reports whether the CR existed at t.
func (cr *crInfo) alive(t time.Time) bool {
	return !cr.Created.IsZero() && !t.Before(cr.Created) && (cr.Deleted.IsZero() || t.Before(cr.Deleted))
}

// crEvent is something the soak did to one CR.
type crEvent struct {
	Time time.Time
	Kind string
	// Explains reports whether the event is a legitimate reason for a new
	// login (a changed input, a Secret edited or deleted by hand).
	Explains bool
}

// CR event kinds.
const (
	evCreated         = "created"
	evDeleted         = "deleted"
	evStandInPassword = "password changed at the stand-in"
	evSecretPassword  = "password changed in the login Secret"
	evHandEdit        = "managed Secret edited by hand (token replaced)"
	evHandDelete      = "managed Secret deleted by hand"
	evGone            = "released by its finalizer"
)

// window is a time interval in which the operator could not be expected to
// work normally: an outage of one API path, a time with no leader, a 429's
// Retry-After, a password change in progress.
type window struct {
	Kind       string
	Path       string // for API outages
	CR         string // for password changes
	Start, End time.Time
}

func (w window) covers(t time.Time) bool { return !t.Before(w.Start) && !t.After(w.End) }

// Window kinds.
const (
	winOutage     = "outage"           // SetDown on a path, shorter than the renewal margin
	winLongOutage = "long outage"      // SetDown on a path, longer than the renewal margin
	winLeaderless = "no leader"        // from stopping the leader until a new one holds the lease
	winCareful    = "password careful" // stand-in first, then the login Secret
	winReverse    = "password reverse" // login Secret first, then the stand-in
)

// action is one fault the soak injected, for the report.
type action struct {
	Time   time.Time
	Lane   string
	Kind   string
	Detail string
	// Skipped says why a planned action was not carried out ("" if it was).
	Skipped string
}

// violation is one broken invariant.
type violation struct {
	Invariant int
	Time      time.Time
	CR        string // "" when not about one CR
	Message   string
}

// journal is the soak's shared record: the CRs, what was done to them, the
// windows, the actions and the violations. Everything is safe for concurrent use.
type journal struct {
	t0  time.Time
	out io.Writer

	mu         sync.Mutex
	crs        map[string]*crInfo
	bySecret   map[string]*crInfo // managed Secret name -> CR
	windows    []window
	actions    []action
	violations []violation
	notes      []string
}

func newJournal(out io.Writer) *journal {
	return &journal{t0: time.Now(), out: out, crs: map[string]*crInfo{}, bySecret: map[string]*crInfo{}}
}

// rel formats t relative to the start of the soak.
func (j *journal) rel(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return fmt.Sprintf("+%.1fs", t.Sub(j.t0).Seconds())
}

// logf prints a live line.
func (j *journal) logf(format string, args ...any) {
	j.mu.Lock()
	defer j.mu.Unlock()
	_, _ = fmt.Fprintf(j.out, "[%8s] %s\n", j.rel(time.Now()), fmt.Sprintf(format, args...))
}

func (j *journal) addCR(cr *crInfo) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.crs[cr.Name] = cr
	j.bySecret[cr.ManagedSecret] = cr
}

// cr returns the CR of name, or nil.
func (j *journal) cr(name string) *crInfo {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.crs[name]
}

// crOfSecret returns the CR whose managed Secret is name, or nil.
func (j *journal) crOfSecret(name string) *crInfo {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.bySecret[name]
}

// crNames returns the names of every CR ever created, sorted.
func (j *journal) crNames() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Sorted(maps.Keys(j.crs))
}

// event records something done to a CR.
func (j *journal) event(cr *crInfo, t time.Time, kind string, explains bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	cr.Events = append(cr.Events, crEvent{Time: t, Kind: kind, Explains: explains})
	switch kind {
	case evCreated:
		cr.Created = t
	case evDeleted:
		cr.Deleted = t
	case evGone:
		cr.Gone = t
	}
}

// alive reports whether cr existed at t.
func (j *journal) alive(cr *crInfo, t time.Time) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return cr.alive(t)
}

// setPassword records cr's new password (all passwords are kept for the leak scans).
func (j *journal) setPassword(cr *crInfo, pw string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	cr.passwords = append(cr.passwords, pw)
}

// crState returns a copy of what the journal knows of cr.
func (j *journal) crState(cr *crInfo) (created, deleted time.Time, events []crEvent) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return cr.Created, cr.Deleted, append([]crEvent(nil), cr.Events...)
}

// goneAt returns when a deleted CR with issued keys was released (zero: not yet).
func (j *journal) goneAt(cr *crInfo) time.Time {
	j.mu.Lock()
	defer j.mu.Unlock()
	return cr.Gone
}

func (j *journal) addWindow(w window) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.windows = append(j.windows, w)
}

func (j *journal) allWindows() []window {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]window(nil), j.windows...)
}

func (j *journal) addAction(a action) {
	j.mu.Lock()
	j.actions = append(j.actions, a)
	j.mu.Unlock()
	line := fmt.Sprintf("%-8s %-18s %s", a.Lane, a.Kind, a.Detail)
	if a.Skipped != "" {
		line += " (skipped: " + a.Skipped + ")"
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	// Printed once done, stamped with its start.
	_, _ = fmt.Fprintf(j.out, "[%8s] %s\n", j.rel(a.Time), line)
}

func (j *journal) allActions() []action {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]action(nil), j.actions...)
}

// violate records a broken invariant and prints it at once.
func (j *journal) violate(inv int, t time.Time, cr, format string, args ...any) {
	v := violation{Invariant: inv, Time: t, CR: cr, Message: fmt.Sprintf(format, args...)}
	j.mu.Lock()
	j.violations = append(j.violations, v)
	j.mu.Unlock()
	j.logf("INVARIANT %d VIOLATED %s: %s", inv, cr, v.Message)
}

func (j *journal) allViolations() []violation {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]violation(nil), j.violations...)
}

// note records a remark for the report (an unplanned manager exit, a skipped step).
func (j *journal) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	j.mu.Lock()
	j.notes = append(j.notes, fmt.Sprintf("%s %s", j.rel(time.Now()), msg))
	j.mu.Unlock()
	j.logf("note: %s", msg)
}
