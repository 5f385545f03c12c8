package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/voipbin/credential-operator/test/harness"
)

// invariantNames are the one-line statements of the invariants.
var invariantNames = map[int]string{
	1: "no Secret loses an unexpired token (every write is newer)",
	2: "no expired token outside outages of a CR's whole renewal window",
	3: "logins and key checks within the schedule plus what faults explain",
	4: "no password, token or accesskey in logs, events, status, metrics",
	5: "every CR Ready within the bound after the faults stop",
	6: "no renewal done twice or missed, retries on time (hand-overs too)",
	7: "an issued key in the Secret authenticates while VoIPBIN is reachable",
	8: "at most two live issued keys per CR after the grace",
	9: "no orphaned issued key left after the orphan bound; deleted CRs' keys deleted",
}

// Report is the outcome of a soak.
type Report struct {
	text       string
	violations []violation
	// Done counts the actions carried out, by kind.
	Done map[string]int
}

// Failed reports whether an invariant failed.
func (r *Report) Failed() bool { return len(r.violations) > 0 }

// String returns the printed report.
func (r *Report) String() string { return r.text }

func (r *Report) print(w io.Writer) { _, _ = io.WriteString(w, r.text) }

// evaluate runs the end-of-run checks and writes the report.
func (s *soak) evaluate() *Report {
	a := newAnalysis(s)
	a.evaluate()
	lr := s.leakChecks()
	for _, line := range s.readyMissing {
		name, _, _ := strings.Cut(line, ":")
		s.j.violate(5, s.faultsStopped.Add(s.o.ReadyBound), name, "not Ready by its bound after the faults stopped: %s", line)
	}

	rep := &Report{violations: s.j.allViolations(), Done: map[string]int{}}
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	o := s.o
	p("")
	p("==== soak report ====")
	p("seed %d, faults for %s, %d CRs + 1 canary (every %dth with an accesskey, every %dth issuing its own), tokens live %s, api-timeout %s,",
		o.Seed, o.Duration, o.CRs, o.AccessKeyEvery, o.IssueEvery, o.TokenLifetime, o.APITimeout)
	p("  issued keys: lifetime 24h living %s at the stand-in, revokeAfter %s, orphan bound %s", o.KeyDay, o.RevokeAfter, o.OrphanBound)
	p("  two managers with --leader-elect (lease %s, renew deadline %s, retry period %s), --zap-log-level=10",
		leaseDuration, renewDeadline, retryPeriod)
	p("replay: make soak SOAK_ARGS=\"%s\"", s.replayArgs())
	p("phases: set-up until %s, faults %s..%s, all Ready again %s, end %s (%.0fs in all)",
		s.j.rel(s.chaosStart), s.j.rel(s.chaosStart), s.j.rel(s.faultsStopped), s.j.rel(s.allReady), s.j.rel(s.end),
		s.end.Sub(s.j.t0).Seconds())
	p("")
	s.printActions(p, rep)
	p("")
	p("API calls seen by the stand-in:")
	p("  logins:            %s", formatOutcomes(countOutcomes(a.calls, loginPath)))
	p("  accesskey checks:  %s", formatOutcomes(countOutcomes(a.calls, accessKeysPath)))
	p("  issued keys:       %s", keyOpsLine(a.calls))
	runs, unplanned, holders, scrapes := s.m.stats()
	lw := make([]time.Duration, 0, len(a.leaderless))
	for _, w := range a.leaderless {
		lw = append(lw, w.End.Sub(w.Start))
	}
	p("managers: %d runs, %d unplanned exits, %d lease holders, %d windows with no leader (%s), %d metrics scrapes",
		runs, unplanned, holders, len(lw), durStats(lw), scrapes)
	p("")
	s.printInvariants(p, a, lr)
	if len(s.j.notes) > 0 {
		p("")
		p("notes:")
		for _, n := range s.j.notes {
			p("  %s", n)
		}
	}
	for _, name := range s.o.Show {
		if cr := s.j.cr(name); cr != nil {
			p("")
			created, _, _ := s.j.crState(cr)
			s.printTimeline(p, a, name, nil, created, s.end)
		}
	}
	p("")
	if rep.Failed() {
		s.printFailures(p, a, rep.violations)
		p("RESULT: FAIL (%d violations); replay with: make soak SOAK_ARGS=\"%s\"", len(rep.violations), s.replayArgs())
	} else {
		p("RESULT: PASS, every invariant held")
	}
	rep.text = b.String()
	return rep
}

func (s *soak) replayArgs() string {
	o := s.o
	return fmt.Sprintf("--seed %d --duration %s --crs %d --token-lifetime %s --issue-every %d --key-day %s",
		o.Seed, o.Duration, o.CRs, o.TokenLifetime, o.IssueEvery, o.KeyDay)
}

// printActions prints the faults by kind: carried out, skipped.
func (s *soak) printActions(p func(string, ...any), rep *Report) {
	done, skipped := map[string]int{}, map[string]int{}
	lanes := map[string]string{}
	for _, a := range s.j.allActions() {
		lanes[a.Kind] = a.Lane
		if a.Skipped != "" {
			skipped[a.Kind]++
		} else {
			done[a.Kind]++
			rep.Done[a.Kind]++
		}
	}
	p("faults and changes carried out (skipped):")
	for _, group := range [][]weighted{apiKinds, clusterKinds, processKinds} {
		var parts []string
		for _, k := range group {
			part := fmt.Sprintf("%s %d", k.kind, done[k.kind])
			if skipped[k.kind] > 0 {
				part += fmt.Sprintf(" (%d)", skipped[k.kind])
			}
			parts = append(parts, part)
		}
		p("  %-8s %s", lanes[group[0].kind], strings.Join(parts, ", "))
	}
}

// printInvariants prints one line per invariant with its checks.
func (s *soak) printInvariants(p func(string, ...any), a *analysis, lr leakResult) {
	count := map[int]int{}
	for _, v := range s.j.allViolations() {
		count[v.Invariant]++
	}
	opWrites, soakWrites, observations, _ := s.mon.counts()
	status := func(i int) string {
		if count[i] > 0 {
			return fmt.Sprintf("FAIL (%d)", count[i])
		}
		return "PASS"
	}
	p("invariants:")
	p("  1 %-8s %s", status(1), invariantNames[1])
	p("             %d operator writes checked; %d hand edits and deletions by the soak set aside", opWrites, soakWrites)
	p("  2 %-8s %s", status(2), invariantNames[2])
	p("             %d (Secret, half-second) observations; expired tokens seen: %d excused by faults on every renewal attempt"+
		" (%d in a long outage; attempts %v), %d by a hand-over",
		observations, a.excusedEpisodes, a.excusedLong, a.excusedFaults, a.excusedLeaderless)
	p("             hand edits/deletions restored: %d, %s (bound %s, or later when every attempt within it met a fault or a wait)",
		len(a.restore), durStats(a.restore), restoreBound)
	s.printReverse(p, a)
	p("  3 %-8s %s", status(3), invariantNames[3])
	for _, what := range []string{"logins", "accesskey checks"} {
		if r := s.ratios[what]; r != nil {
			p("             %s: %d made, bound %d (sum over CRs of 1 + lifetime renewals + failures + changes + hand-overs)",
				what, r.n, r.bound)
		}
	}
	p("  4 %-8s %s", status(4), invariantNames[4])
	p("             %d secrets (raw, 4 base64 forms, JWT signature) in %s of logs (%d files), %s of events (%d),"+
		" %s of status (%d scans), %s of metrics (%d scrapes)", lr.secrets, size(lr.bytes[srcLogs]), len(s.m.allLogs()),
		size(lr.bytes[srcEvents]), s.eventCount, size(lr.bytes[srcStatus]), lr.texts[srcStatus],
		size(lr.bytes[srcMetrics]), lr.texts[srcMetrics])
	p("             positive controls: the canary CR's name found in %v; planted secret found in all its forms: %v;"+
		" debug lines in the logs: %v", lr.controls["canary CR name"], s.syntheticOK, s.debugLines)
	p("  5 %-8s %s", status(5), invariantNames[5])
	bound := s.o.ReadyBound.String()
	if !s.lastDeadline.IsZero() {
		bound += fmt.Sprintf(", or a retry the backoff had scheduled: up to %.1fs", s.lastDeadline.Sub(s.faultsStopped).Seconds())
	}
	if !s.allReady.IsZero() {
		p("             every CR Ready %.1fs after the faults stopped (bound %s)", s.allReady.Sub(s.faultsStopped).Seconds(), bound)
	} else {
		p("             %d CRs not Ready by their bound (%s)", len(s.readyMissing), bound)
	}
	p("  6 %-8s %s", status(6), invariantNames[6])
	p("             %d renewals, retries and changes checked", a.inv[6].checks)
	if s.o.IssueEvery > 0 {
		s.printKeys(p, a, status)
	}
}

// leakChecks turns the leak scans into invariant 4's violations.
func (s *soak) leakChecks() leakResult {
	lr := s.leaks.result()
	for _, l := range lr.leaks {
		s.j.violate(4, s.end, "", "leak: %s", l)
	}
	for _, m := range lr.missedControls {
		s.j.violate(4, s.end, "", "positive control failed: %s", m)
	}
	if sample, err := s.logSample(); err != nil {
		s.j.violate(4, s.end, "", "positive control failed: %v", err)
	} else if err := sampleControl(sample); err != nil {
		s.j.violate(4, s.end, "", "positive control failed: %v", err)
	} else {
		s.syntheticOK = true
	}
	for _, path := range s.m.allLogs() {
		if fileContains(path, "next reconcile scheduled") {
			s.debugLines = true
		}
	}
	if !s.debugLines {
		s.j.violate(4, s.end, "", "no V(1) line in any manager log: the scan did not see the highest verbosity")
	}
	return lr
}

// fileContains reports whether the file at path holds s.
func fileContains(path, s string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), s) {
			return true
		}
	}
	return false
}

// printFailures prints the violations and, for each CR concerned (at most
// ten), the time line of its Secret writes, API calls, changes and the faults
// around them.
func (s *soak) printFailures(p func(string, ...any), a *analysis, vs []violation) {
	p("violations:")
	byCR := map[string][]violation{}
	var names []string
	for _, v := range vs {
		p("  invariant %d %s %s: %s", v.Invariant, s.j.rel(v.Time), v.CR, v.Message)
		if v.CR != "" {
			if _, ok := byCR[v.CR]; !ok {
				names = append(names, v.CR)
			}
			byCR[v.CR] = append(byCR[v.CR], v)
		}
	}
	sort.Strings(names)
	if len(names) > 10 {
		p("  (time lines of the first 10 of %d CRs)", len(names))
		names = names[:10]
	}
	for _, name := range names {
		p("")
		from, to := byCR[name][0].Time, byCR[name][0].Time
		for _, v := range byCR[name] {
			from, to = minTime(from, v.Time), maxTime(to, v.Time)
		}
		before, after := 2*a.L, a.L
		if cr := s.j.cr(name); cr != nil && cr.Issue {
			before, after = max(before, 2*s.o.KeyDay), max(after, s.o.KeyDay/2)
		}
		s.printTimeline(p, a, name, byCR[name], from.Add(-before), to.Add(after))
	}
	p("")
}

// entry is one line of a time line.
type entry struct {
	t    time.Time
	text string
}

// printTimeline prints the time line of one CR from from to to: its changes,
// API calls, Secret writes, Ready transitions, the windows and manager actions
// of that time, and its violations vs.
func (s *soak) printTimeline(p func(string, ...any), a *analysis, name string, vs []violation, from, to time.Time) {
	cr := s.j.cr(name)
	if cr == nil {
		return
	}
	v := a.view(cr)
	var es []entry
	add := func(t time.Time, format string, args ...any) {
		if !t.Before(from) && !t.After(to) {
			es = append(es, entry{t, fmt.Sprintf(format, args...)})
		}
	}
	_, _, events := s.j.crState(cr)
	for _, e := range events {
		add(e.Time, "change: %s", e.Kind)
	}
	s.callEntries(add, a.byCR[name])
	s.writeEntries(add, v.writes)
	for _, r := range s.mon.readyHistory(name) {
		add(r.Time, "Ready=%s %s", r.Status, r.Reason)
	}
	for _, w := range s.j.allWindows() {
		if (w.CR == "" || w.CR == name) && !w.End.Before(from) && !w.Start.After(to) {
			add(w.Start, "window %s %s until %s", w.Kind, w.Path, s.j.rel(w.End))
		}
	}
	for _, act := range s.j.allActions() {
		if act.Lane == laneProcess {
			add(act.Time, "manager action %s: %s", act.Kind, act.Detail)
		}
	}
	if cr.Issue {
		s.keyEntries(add, name)
	}
	for _, vi := range vs {
		add(vi.Time, "VIOLATION of invariant %d: %s", vi.Invariant, vi.Message)
	}
	sort.SliceStable(es, func(i, j int) bool { return es[i].t.Before(es[j].t) })
	p("time line of %s (user %s, Secret %s, created %s, deleted %s), %s..%s:", name, cr.Username, cr.ManagedSecret,
		s.j.rel(v.created), s.j.rel(v.deleted), s.j.rel(from), s.j.rel(to))
	if len(es) > 300 {
		es = es[len(es)-300:]
	}
	for _, e := range es {
		p("  %9s  %s", s.j.rel(e.t), e.text)
	}
}

// callEntries adds a CR's API calls to a time line (tokens as fingerprints).
func (s *soak) callEntries(add func(time.Time, string, ...any), calls []call) {
	for _, c := range calls {
		what := "login"
		switch {
		case c.Op != "":
			what = "issued key " + c.Op
		case c.Path == accessKeysPath:
			what = "accesskey check"
		}
		if c.Token != "" {
			add(c.Start, "%s %s in %.2fs: token %s, expires %s", what, c.Outcome, c.End.Sub(c.Start).Seconds(),
				harness.Fingerprint(c.Token), s.j.rel(c.Expire))
		} else {
			add(c.Start, "%s %s (HTTP %d) in %.2fs", what, c.Outcome, c.Status, c.End.Sub(c.Start).Seconds())
		}
	}
}

// keyEntries adds a CR's issued keys (as the stand-in recorded them) and its
// key episodes to a time line: keys by id and prefix, never more.
func (s *soak) keyEntries(add func(time.Time, string, ...any), name string) {
	for _, k := range s.finalKeys {
		if owner, ok := keyOwner(k.Name); !ok || owner != name {
			continue
		}
		add(k.Create, "stand-in: key id %s (%s…) created, expires %s", k.ID, k.Prefix(), s.j.rel(k.Expire))
		if !k.Delete.IsZero() {
			add(k.Delete, "stand-in: key id %s deleted", k.ID)
		}
	}
	for _, ep := range s.mon.allKeyEpisodes() {
		if ep.CR == name {
			add(ep.Since, "key episode %q (key id %s) until %s", ep.Kind, ep.KeyID, s.j.rel(ep.End))
		}
	}
}

// writeEntries adds a CR's Secret writes to a time line.
func (s *soak) writeEntries(add func(time.Time, string, ...any), writes []secretWrite) {
	for _, w := range writes {
		switch {
		case w.Deleted:
			add(w.Time, "Secret deleted")
		case w.BySoak:
			add(w.Time, "Secret edited by the soak")
		case w.HasToken && w.KeyID != "":
			add(w.Time, "Secret written: token %s, expires %s (expiresAt %s), issued key id %s", harness.Fingerprint(w.token),
				s.j.rel(w.Expire), w.ExpiresAtKey, w.KeyID)
		case w.HasToken:
			add(w.Time, "Secret written: token %s, expires %s (expiresAt %s), accesskey %v", harness.Fingerprint(w.token),
				s.j.rel(w.Expire), w.ExpiresAtKey, w.HasKey)
		default:
			add(w.Time, "Secret written without a token, accesskey %v", w.HasKey)
		}
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// durStats summarizes durations: "none", or "max 3.2s, median 1.1s".
func durStats(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	return fmt.Sprintf("max %.1fs, median %.1fs", sorted[len(sorted)-1].Seconds(), sorted[len(sorted)/2].Seconds())
}

func size(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%d B", n)
	}
}

// printReverse reports the reverse-order password changes apart: they
// legitimately produce InvalidCredentials, and the operator retries only when
// the stored token expires (or after 10 minutes), so the token may expire for
// a moment.
func (s *soak) printReverse(p func(string, ...any), a *analysis) {
	rs := a.reverseScenarios()
	refused, falseReady := 0, 0
	var expired []time.Duration
	recovered := make([]time.Duration, 0, len(rs))
	reasons := map[string]int{}
	for _, r := range rs {
		refused += r.refused
		recovered = append(recovered, r.recovered)
		if r.expiredFor > 0 {
			expired = append(expired, r.expiredFor)
		}
		if len(r.readyFalse) > 0 {
			falseReady++
		}
		for _, reason := range r.readyFalse {
			reasons[reason]++
		}
	}
	p("             REVERSE-order password changes (the login Secret first, VoIPBIN %s later), reported apart: %d;",
		"1-3s", len(rs))
	p("               %d logins refused (InvalidCredentials) meanwhile; first good login %s after the Secret change;",
		refused, durStats(recovered))
	p("               the stored token expired before it in %d (for %s); Ready=False in %d %v; %d expired-token observations set aside",
		len(expired), durStats(expired), falseReady, reasons, len(a.reverseExpired))
}

// countOutcomes counts the calls to path by outcome.
func countOutcomes(calls []call, path string) map[outcome]int {
	m := map[outcome]int{}
	for _, c := range calls {
		if c.Path == path && c.Op == "" {
			m[c.Outcome]++
		}
	}
	return m
}

func formatOutcomes(m map[outcome]int) string {
	var parts []string
	total := 0
	for _, o := range []outcome{outcomeOK, outcomeRejected, outcomeServer, outcomeDown, outcomeLimited, outcomeReset,
		outcomeHang, outcomeGarbage, outcomeOversized, outcomeGone, outcomeOther} {
		if m[o] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", o, m[o]))
			total += m[o]
		}
	}
	return fmt.Sprintf("%d (%s)", total, strings.Join(parts, ", "))
}
