package plan

import (
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// scheduleUIDs returns n distinct, UID-shaped credential UIDs.
func scheduleUIDs(n int) []types.UID {
	uids := make([]types.UID, n)
	for i := range uids {
		uids[i] = types.UID(fmt.Sprintf("0b6f1f9e-3c4d-4e5f-8a9b-%012d", i))
	}
	return uids
}

func testDurationPtr(d time.Duration) *time.Duration { return &d }

func isWholeSecond(t time.Time) bool { return t.Nanosecond() == 0 }

func TestRenewalTime(t *testing.T) {
	issued := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name        string
		lifetime    time.Duration
		renewBefore *time.Duration
		// margin is expiresAt - renewalTime before the jitter.
		margin      time.Duration
		wantIgnored bool
	}{
		{name: "default is a third of a 7-day lifetime", lifetime: 7 * 24 * time.Hour, margin: 56 * time.Hour},
		{name: "default is a third of a 1h lifetime", lifetime: time.Hour, margin: 20 * time.Minute},
		{name: "explicit renewBefore", lifetime: 7 * 24 * time.Hour, renewBefore: testDurationPtr(48 * time.Hour),
			margin: 48 * time.Hour},
		{name: "explicit renewBefore of one minute", lifetime: time.Hour, renewBefore: testDurationPtr(time.Minute),
			margin: time.Minute},
		{name: "renewBefore of 90% of the lifetime is honoured", lifetime: 10 * time.Hour,
			renewBefore: testDurationPtr(9 * time.Hour), margin: 9 * time.Hour},
		{name: "renewBefore just over 90% of the lifetime falls back to a third (API doc)", lifetime: 10 * time.Hour,
			renewBefore: testDurationPtr(9*time.Hour + time.Second), margin: 10 * time.Hour / 3, wantIgnored: true},
		{name: "renewBefore equal to the lifetime falls back to a third", lifetime: 24 * time.Hour,
			renewBefore: testDurationPtr(24 * time.Hour), margin: 8 * time.Hour, wantIgnored: true},
		{name: "renewBefore longer than the lifetime falls back to a third", lifetime: 3 * time.Minute,
			renewBefore: testDurationPtr(48 * time.Hour), margin: time.Minute, wantIgnored: true},
		{name: "year-long token with renewBefore", lifetime: 365 * 24 * time.Hour,
			renewBefore: testDurationPtr(48 * time.Hour), margin: 48 * time.Hour},
		// 90% of a lifetime over about 3.25 years no longer fits in an int64 of
		// nanoseconds: renewBefore must still be honoured.
		{name: "five-year token with renewBefore", lifetime: 5 * 365 * 24 * time.Hour,
			renewBefore: testDurationPtr(48 * time.Hour), margin: 48 * time.Hour},
		{name: "short test token of 30s, no one-minute floor", lifetime: 30 * time.Second, margin: 10 * time.Second},
		{name: "short test token of 90s with renewBefore 1m", lifetime: 90 * time.Second,
			renewBefore: testDurationPtr(time.Minute), margin: time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expires := issued.Add(tt.lifetime)
			maxJitter := time.Duration(float64(tt.lifetime) * 0.05)
			for _, uid := range scheduleUIDs(20) {
				r := renewalTime(issued, expires, tt.renewBefore, uid)
				if r.RenewBeforeIgnored != tt.wantIgnored {
					t.Fatalf("uid %s: RenewBeforeIgnored = %t, want %t", uid, r.RenewBeforeIgnored, tt.wantIgnored)
				}
				if !isWholeSecond(r.Time) {
					t.Fatalf("uid %s: renewal %s is not whole seconds", uid, r.Time.Format(time.RFC3339Nano))
				}
				if r.Time.Before(issued) || !r.Time.Before(expires) {
					t.Fatalf("uid %s: renewal %s not in [issuedAt %s, expiresAt %s)", uid, r.Time, issued, expires)
				}
				// expiresAt - margin - jitter, truncated: the jitter moves it earlier
				// by at most 5% of the lifetime, the truncation by less than a second.
				jitter := expires.Sub(r.Time) - tt.margin
				if jitter < 0 || jitter >= maxJitter+time.Second {
					t.Fatalf("uid %s: renewal %s is %s before expiresAt - %s; want in [0, %s]",
						uid, r.Time, jitter, tt.margin, maxJitter)
				}
			}
		})
	}
}

func TestRenewalTimeJitter(t *testing.T) {
	issued := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	lifetime := 7 * 24 * time.Hour
	expires := issued.Add(lifetime)
	unjittered := expires.Add(-lifetime / 3)
	maxJitter := time.Duration(float64(lifetime) * 0.05)

	uids := scheduleUIDs(50)
	distinct := map[time.Time]bool{}
	earliestSeen, latestSeen := unjittered, expires.Add(-lifetime)
	for _, uid := range uids {
		r := renewalTime(issued, expires, nil, uid)
		if again := renewalTime(issued, expires, nil, uid); !again.Time.Equal(r.Time) {
			t.Fatalf("uid %s: renewal not deterministic: %s then %s", uid, r.Time, again.Time)
		}
		if r.Time.After(unjittered) || r.Time.Before(unjittered.Add(-maxJitter)) {
			t.Fatalf("uid %s: renewal %s outside [%s, %s]", uid, r.Time, unjittered.Add(-maxJitter), unjittered)
		}
		distinct[r.Time] = true
		if r.Time.Before(earliestSeen) {
			earliestSeen = r.Time
		}
		if r.Time.After(latestSeen) {
			latestSeen = r.Time
		}
	}
	if len(distinct) < len(uids)*9/10 {
		t.Errorf("only %d distinct renewal times for %d UIDs: credentials created together renew together",
			len(distinct), len(uids))
	}
	// The jitter is "a few percent of the lifetime", not a few seconds: 50 UIDs
	// spread over most of the 5% window.
	if spread := latestSeen.Sub(earliestSeen); spread < maxJitter/2 {
		t.Errorf("renewal times of 50 UIDs spread over %s only, want at least %s", spread, maxJitter/2)
	}

	// Same UID, other token: the same fraction of the lifetime.
	a := renewalTime(issued, expires, nil, uids[0])
	b := renewalTime(issued.Add(time.Hour), expires.Add(time.Hour), nil, uids[0])
	if b.Time.Sub(a.Time) != time.Hour {
		t.Errorf("shifting the token by 1h shifted the renewal by %s", b.Time.Sub(a.Time))
	}
}

func TestRenewalTimeBounds(t *testing.T) {
	issued := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name        string
		lifetime    time.Duration
		renewBefore *time.Duration
		// earliest and latest bound the renewal, as offsets from issuedAt.
		earliest, latest time.Duration
	}{
		{name: "renewBefore at the 90% cap: the token is kept at least 5% of its lifetime", lifetime: time.Hour,
			renewBefore: testDurationPtr(54 * time.Minute), earliest: 3 * time.Minute, latest: 6 * time.Minute},
		{name: "lifetime 1s renews at issuedAt, before expiry", lifetime: time.Second, latest: 0},
		{name: "lifetime 2s renews before expiry", lifetime: 2 * time.Second, latest: time.Second},
		{name: "lifetime 3s renews at least a second before expiry", lifetime: 3 * time.Second,
			earliest: time.Second, latest: 2 * time.Second},
		{name: "lifetime 10s", lifetime: 10 * time.Second, earliest: 6 * time.Second, latest: 7 * time.Second},
		{name: "renewBefore zero never goes past expiry", lifetime: time.Hour, renewBefore: testDurationPtr(0),
			earliest: 57 * time.Minute, latest: time.Hour - time.Nanosecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expires := issued.Add(tt.lifetime)
			for _, uid := range scheduleUIDs(20) {
				r := renewalTime(issued, expires, tt.renewBefore, uid)
				if r.Time.Before(issued.Add(tt.earliest)) {
					t.Fatalf("uid %s: renewal %s before %s (issuedAt %s)", uid, r.Time, issued.Add(tt.earliest), issued)
				}
				if r.Time.After(issued.Add(tt.latest)) {
					t.Fatalf("uid %s: renewal %s after %s (expiresAt %s)", uid, r.Time, issued.Add(tt.latest), expires)
				}
				if !isWholeSecond(r.Time) {
					t.Fatalf("uid %s: renewal %s is not whole seconds", uid, r.Time.Format(time.RFC3339Nano))
				}
			}
		})
	}
}

func TestRenewalTimeWholeSeconds(t *testing.T) {
	// Inputs with fractions of seconds (a clock, not the status) still give a
	// renewal in whole seconds, as the status stores it.
	issued := time.Date(2025, 3, 1, 12, 0, 0, 400_000_000, time.UTC)
	expires := issued.Add(time.Hour + 300*time.Millisecond)
	for _, uid := range scheduleUIDs(10) {
		r := renewalTime(issued, expires, nil, uid)
		if !isWholeSecond(r.Time) {
			t.Fatalf("uid %s: renewal %s is not whole seconds", uid, r.Time.Format(time.RFC3339Nano))
		}
		if r.Time.After(expires) || r.Time.Before(expires.Add(-time.Hour/3-3*time.Minute-time.Second)) {
			t.Fatalf("uid %s: renewal %s out of range", uid, r.Time)
		}
	}
}

func TestRenewalTimeNoLifetime(t *testing.T) {
	issued := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	uid := types.UID("b5d3c1a0-0000-4000-8000-000000000001")
	tests := []struct {
		name            string
		issued, expires time.Time
		renewBefore     *time.Duration
		want            time.Time
	}{
		{name: "no token yet: zero times give the zero time (due at once)", want: time.Time{}},
		{name: "zero lifetime renews at expiry", issued: issued, expires: issued, want: issued},
		{name: "negative lifetime renews at expiry", issued: issued, expires: issued.Add(-time.Hour),
			want: issued.Add(-time.Hour)},
		{name: "negative lifetime with renewBefore", issued: issued, expires: issued.Add(-time.Minute),
			renewBefore: testDurationPtr(time.Hour), want: issued.Add(-time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := renewalTime(tt.issued, tt.expires, tt.renewBefore, uid)
			if !r.Time.Equal(tt.want) {
				t.Errorf("renewal = %s, want %s", r.Time, tt.want)
			}
			if r.Time.After(tt.expires) {
				t.Errorf("renewal %s after expiresAt %s", r.Time, tt.expires)
			}
		})
	}
}

func TestRetryDelayTransientBackoff(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		attempts int32
		base     time.Duration
	}{
		{0, 5 * time.Second}, // never below the first step
		{1, 5 * time.Second},
		{2, 10 * time.Second},
		{3, 20 * time.Second},
		{4, 40 * time.Second},
		{5, 80 * time.Second},
		{6, 160 * time.Second},
		{7, 5 * time.Minute}, // 320 s capped
		{8, 5 * time.Minute},
		{30, 5 * time.Minute},
		{1 << 30, 5 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("attempt %d", tt.attempts), func(t *testing.T) {
			low := tt.base - tt.base/5
			high := tt.base + tt.base/5
			var below, above bool
			for _, uid := range scheduleUIDs(50) {
				d, ok := retryDelay(Transient, tt.attempts, 0, nil, now, uid)
				if !ok {
					t.Fatalf("uid %s: no retry scheduled for a transient failure", uid)
				}
				if d < low || d >= high {
					t.Fatalf("uid %s: delay %s not in [%s, %s)", uid, d, low, high)
				}
				if again, _ := retryDelay(Transient, tt.attempts, 0, nil, now, uid); again != d {
					t.Fatalf("uid %s: delay not deterministic: %s then %s", uid, d, again)
				}
				below = below || d < tt.base
				above = above || d > tt.base
			}
			if !below || !above {
				t.Errorf("50 UIDs: jitter not spread around %s (some below: %t, some above: %t)", tt.base, below, above)
			}
		})
	}
}

func TestRetryDelayTransientBounds(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	uid := types.UID("7e1a2b3c-0000-4000-8000-000000000002")
	at := func(d time.Duration) *time.Time { v := now.Add(d); return &v }
	tests := []struct {
		name       string
		attempts   int32
		retryAfter time.Duration
		validUntil *time.Time
		min, max   time.Duration // inclusive
	}{
		{name: "Retry-After longer than the backoff wins", attempts: 1, retryAfter: 45 * time.Second,
			min: 45 * time.Second, max: 45 * time.Second},
		{name: "Retry-After longer than the cap wins", attempts: 20, retryAfter: 10 * time.Minute,
			min: 10 * time.Minute, max: 10 * time.Minute},
		{name: "Retry-After shorter than the backoff does not shorten it", attempts: 5, retryAfter: 3 * time.Second,
			min: 64 * time.Second, max: 96 * time.Second},
		{name: "half the remaining validity caps the backoff", attempts: 7, validUntil: at(2 * time.Minute),
			min: time.Minute, max: time.Minute},
		{name: "half the remaining validity, long outage", attempts: 25, validUntil: at(90 * time.Second),
			min: 45 * time.Second, max: 45 * time.Second},
		{name: "floor of 5s when the credential is about to expire", attempts: 7, validUntil: at(8 * time.Second),
			min: 5 * time.Second, max: 5 * time.Second},
		{name: "floor of 5s when the credential just expired", attempts: 7, validUntil: at(-time.Minute),
			min: 5 * time.Second, max: 5 * time.Second},
		{name: "far expiry leaves the backoff alone", attempts: 7, validUntil: at(24 * time.Hour),
			min: 4 * time.Minute, max: 6 * time.Minute},
		{name: "Retry-After wins over half the validity", attempts: 7, retryAfter: 90 * time.Second,
			validUntil: at(time.Minute), min: 90 * time.Second, max: 90 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, ok := retryDelay(Transient, tt.attempts, tt.retryAfter, tt.validUntil, now, uid)
			if !ok {
				t.Fatal("no retry scheduled for a transient failure")
			}
			if d < tt.min || d > tt.max {
				t.Errorf("delay = %s, want in [%s, %s]", d, tt.min, tt.max)
			}
		})
	}
}

// TestRetryDelayTransientInvariants sweeps attempts, remaining validity and
// Retry-After: the delay is never sooner than Retry-After, and never later than
// half the remaining validity (floor 5 s) unless Retry-After says so.
func TestRetryDelayTransientInvariants(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	remaining := []time.Duration{-time.Hour, 0, time.Second, 9 * time.Second, 11 * time.Second, 30 * time.Second,
		time.Minute, 7 * time.Minute, 11 * time.Minute, time.Hour}
	retryAfters := []time.Duration{0, time.Second, 7 * time.Second, 2 * time.Minute}
	for _, uid := range scheduleUIDs(10) {
		for attempts := int32(1); attempts <= 12; attempts++ {
			for _, rem := range remaining {
				for _, ra := range retryAfters {
					validUntil := now.Add(rem)
					d, ok := retryDelay(Transient, attempts, ra, &validUntil, now, uid)
					if !ok {
						t.Fatal("no retry scheduled for a transient failure")
					}
					if d < ra {
						t.Fatalf("attempt %d, remaining %s, Retry-After %s: delay %s sooner than Retry-After",
							attempts, rem, ra, d)
					}
					if limit := max(rem/2, 5*time.Second, ra); d > limit {
						t.Fatalf("attempt %d, remaining %s, Retry-After %s: delay %s later than %s",
							attempts, rem, ra, d, limit)
					}
					if d <= 0 {
						t.Fatalf("attempt %d: delay %s", attempts, d)
					}
				}
			}
		}
	}
}

func TestRetryDelayByKind(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	uid := types.UID("7e1a2b3c-0000-4000-8000-000000000003")
	soon := now.Add(30 * time.Second)
	tests := []struct {
		name       string
		kind       FailureKind
		attempts   int32
		retryAfter time.Duration
		validUntil *time.Time
		want       time.Duration
		wantOK     bool
	}{
		{name: "permanent: every 10 minutes", kind: Permanent, attempts: 1, want: 10 * time.Minute, wantOK: true},
		{name: "permanent: no backoff growth", kind: Permanent, attempts: 40, want: 10 * time.Minute, wantOK: true},
		{name: "permanent: no jitter, no validity cap", kind: Permanent, attempts: 3, validUntil: &soon,
			want: 10 * time.Minute, wantOK: true},
		{name: "needs change: no timer", kind: NeedsChange, attempts: 1, want: 0, wantOK: false},
		{name: "needs change: no timer even with Retry-After", kind: NeedsChange, attempts: 5,
			retryAfter: time.Minute, validUntil: &soon, want: 0, wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, ok := retryDelay(tt.kind, tt.attempts, tt.retryAfter, tt.validUntil, now, uid)
			if d != tt.want || ok != tt.wantOK {
				t.Errorf("retryDelay = (%s, %t), want (%s, %t)", d, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestUnitFraction(t *testing.T) {
	uids := scheduleUIDs(1000)
	seen := map[float64]bool{}
	var sum float64
	for _, uid := range uids {
		f := unitFraction(uid, "renewal")
		if f < 0 || f >= 1 {
			t.Fatalf("unitFraction(%s) = %v, not in [0, 1)", uid, f)
		}
		if again := unitFraction(uid, "renewal"); again != f {
			t.Fatalf("unitFraction(%s) not deterministic: %v then %v", uid, f, again)
		}
		seen[f] = true
		sum += f
	}
	if len(seen) != len(uids) {
		t.Errorf("%d distinct values for %d UIDs", len(seen), len(uids))
	}
	if mean := sum / float64(len(uids)); mean < 0.45 || mean > 0.55 {
		t.Errorf("mean of 1000 values = %v, want about 0.5", mean)
	}

	tests := []struct {
		name string
		a, b float64
	}{
		{"salt matters", unitFraction("uid-1", "renewal"), unitFraction("uid-1", "backoff")},
		{"numbers matter", unitFraction("uid-1", "backoff", 1), unitFraction("uid-1", "backoff", 2)},
		{"no numbers differs from a zero", unitFraction("uid-1", "backoff"), unitFraction("uid-1", "backoff", 0)},
		{"uid and salt are separated", unitFraction("uid-1a", "b"), unitFraction("uid-1", "ab")},
		{"several numbers are ordered", unitFraction("uid-1", "x", 1, 2), unitFraction("uid-1", "x", 2, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.a == tt.b {
				t.Errorf("both inputs give %v", tt.a)
			}
		})
	}
}

func TestEarliest(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Minute)
	t2 := t0.Add(time.Hour)
	tests := []struct {
		name  string
		times []time.Time
		want  time.Time
	}{
		{name: "nothing", want: time.Time{}},
		{name: "only zero times", times: []time.Time{{}, {}}, want: time.Time{}},
		{name: "one", times: []time.Time{t1}, want: t1},
		{name: "zero is ignored, first", times: []time.Time{{}, t2}, want: t2},
		{name: "zero is ignored, last", times: []time.Time{t2, {}}, want: t2},
		{name: "ascending", times: []time.Time{t0, t1, t2}, want: t0},
		{name: "descending", times: []time.Time{t2, t1, t0}, want: t0},
		{name: "middle", times: []time.Time{t2, t0, {}, t1}, want: t0},
		{name: "equal", times: []time.Time{t1, t1}, want: t1},
		{name: "before the epoch still counts", times: []time.Time{t1, time.Unix(-10, 0)}, want: time.Unix(-10, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := earliest(tt.times...); !got.Equal(tt.want) {
				t.Errorf("earliest = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestNextAttempt(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	uid := types.UID("next-attempt")
	at := func(d time.Duration) *time.Time { v := now.Add(d); return &v }
	for _, tc := range []struct {
		name       string
		f          Failure
		attempts   int32
		validUntil *time.Time
		want       time.Time
	}{
		{"needs a change: no timer", Failure{Kind: NeedsChange}, 1, nil, time.Time{}},
		{"permanent, nothing stored: 10 minutes", Failure{Kind: Permanent}, 1, nil, now.Add(permanentRetry)},
		{"permanent, valid for an hour: 10 minutes", Failure{Kind: Permanent}, 3, at(time.Hour), now.Add(permanentRetry)},
		{"permanent, expiring in 2 minutes: just after the expiry", Failure{Kind: Permanent}, 1, at(2 * time.Minute),
			now.Add(2*time.Minute + expiryMargin)},
		{"permanent, Retry-After longer than 10 minutes", Failure{Kind: Permanent, RetryAfter: time.Hour}, 1, nil,
			now.Add(time.Hour)},
		{"transient, expiring in 20 s: half the time left, not after the expiry", Failure{Kind: Transient}, 5,
			at(20 * time.Second), now.Add(10 * time.Second)},
		{"transient, Retry-After wins over the half", Failure{Kind: Transient, RetryAfter: 15 * time.Second}, 1,
			at(20 * time.Second), now.Add(15 * time.Second)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := nextAttempt(tc.f, tc.attempts, tc.validUntil, now, uid); !got.Equal(tc.want) {
				t.Errorf("nextAttempt = %s, want %s", got, tc.want)
			}
		})
	}
	// The first transient retry is about 5 s (±20%).
	got := nextAttempt(Failure{Kind: Transient}, 1, nil, now, uid).Sub(now)
	if got < 4*time.Second || got > 6*time.Second {
		t.Errorf("first transient retry after %s", got)
	}
}

func TestDueCheck(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Minute), now.Add(time.Minute)
	tests := []struct {
		name     string
		check    dueCheck
		wantDue  bool
		wantWake time.Time
	}{
		{name: "nothing due", check: dueCheck{Scheduled: future}, wantWake: future},
		{name: "scheduled time reached", check: dueCheck{Scheduled: past}, wantDue: true, wantWake: past},
		{name: "changed", check: dueCheck{Changed: true, Scheduled: future}, wantDue: true, wantWake: future},
		{name: "remembered failure waits, even on a change",
			check:   dueCheck{Retry: &Attempt{NotBefore: future}, Changed: true, Failing: true, Scheduled: past},
			wantDue: false, wantWake: future},
		{name: "remembered failure due", check: dueCheck{Retry: &Attempt{NotBefore: past}, Scheduled: future},
			wantDue: true, wantWake: past},
		{name: "failing, not remembered: waits for the backoff the status implies, not the passed renewal",
			check: dueCheck{Failing: true, FailingRetry: future, Scheduled: past}, wantWake: future},
		{name: "failing, not remembered, backoff over", check: dueCheck{Failing: true, FailingRetry: past, Scheduled: future},
			wantDue: true, wantWake: past},
		{name: "failing with no failure time: at once", check: dueCheck{Failing: true, Scheduled: future}, wantDue: true},
		{name: "failing, not remembered, but changed: at once",
			check: dueCheck{Failing: true, FailingRetry: future, Changed: true, Scheduled: future}, wantDue: true, wantWake: future},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			due, wake := tt.check.isDue(now)
			if due != tt.wantDue || !wake.Equal(tt.wantWake) {
				t.Errorf("isDue = %t, %s; want %t, %s", due, wake, tt.wantDue, tt.wantWake)
			}
		})
	}
}

// TestFailingRetry: after a restart or a hand-over, a failure the new manager
// does not remember is retried at the transient backoff from the recorded
// failure (a regression found by the soak: the new leader retried at once, 1.6 s
// after the old leader's failed login).
func TestFailingRetry(t *testing.T) {
	uid := scheduleUIDs(1)[0]
	failed := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC) // status times have second precision
	from := failed.Add(time.Second)
	farExpiry := failed.Add(24 * time.Hour)
	nearExpiry := failed.Add(9 * time.Second)
	tests := []struct {
		name       string
		attempts   int32
		lastFail   time.Time
		validUntil *time.Time
		min, max   time.Time
	}{
		{name: "no failure time", attempts: 1},
		{name: "first failure: about 5 s after the end of its second", attempts: 1, lastFail: failed,
			min: from.Add(4 * time.Second), max: from.Add(6 * time.Second)},
		{name: "third failure: about 20 s", attempts: 3, lastFail: failed, validUntil: &farExpiry,
			min: from.Add(16 * time.Second), max: from.Add(24 * time.Second)},
		{name: "many failures: capped at 5 min", attempts: 40, lastFail: failed,
			min: from.Add(4 * time.Minute), max: from.Add(6 * time.Minute)},
		{name: "stored token near expiry: half the time left, floor 5 s", attempts: 4, lastFail: failed, validUntil: &nearExpiry,
			min: from.Add(5 * time.Second), max: from.Add(5 * time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := failingRetry(tt.attempts, tt.lastFail, tt.validUntil, uid)
			if got.Before(tt.min) || got.After(tt.max) {
				t.Errorf("failingRetry = %s, want in [%s, %s]", got, tt.min, tt.max)
			}
		})
	}
}
