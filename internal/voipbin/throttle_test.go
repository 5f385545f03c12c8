package voipbin_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/voipbin/credential-operator/internal/voipbin"
	"github.com/voipbin/credential-operator/internal/voipbin/voipbintest"
)

func TestRateLimitedSlowsEveryClientSharingTheThrottle(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	clock := newFakeClock(time.Now())
	throttle := voipbin.NewDefaultThrottle()
	a := f.client(t, voipbin.Options{Throttle: throttle, Now: clock.Now})
	b := f.client(t, voipbin.Options{Throttle: throttle, Now: clock.Now})
	f.s.InjectFault("/auth/login", voipbintest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "30"})

	_, err := a.Login(context.Background(), testUser, testPassword)
	if d, ok := voipbin.IsRateLimited(err); !ok || d != 30*time.Second {
		t.Fatalf("first client: IsRateLimited = %v, %v (%v); want 30s", d, ok, err)
	}
	if n := f.s.Hits("/auth/login"); n != 1 {
		t.Fatalf("%d login requests, want 1", n)
	}

	clock.Advance(10 * time.Second)
	_, err = b.Login(context.Background(), testUser, testPassword)
	d, ok := voipbin.IsRateLimited(err)
	if !ok || d != 20*time.Second {
		t.Fatalf("second client: IsRateLimited = %v, %v (%v); want the 20s left", d, ok, err)
	}
	var throttled *voipbin.ThrottledError
	if !errors.As(err, &throttled) || !throttled.ServerRequested {
		t.Errorf("second client: %T %v, want a server-requested ThrottledError", err, err)
	}
	if n := f.s.Hits("/auth/login"); n != 1 {
		t.Errorf("the second client sent a request while the gate was closed: %d logins", n)
	}

	// The gate is per class: /v1.0 calls still go.
	if _, err := b.ValidateAccessKey(context.Background(), f.key.Key); err != nil {
		t.Errorf("an accesskey check was blocked by the login gate: %v", err)
	}

	clock.Advance(20 * time.Second)
	if _, err := b.Login(context.Background(), testUser, testPassword); err != nil {
		t.Fatalf("after Retry-After: %v", err)
	}
	if n := f.s.Count("/auth/login", http.StatusOK); n != 1 {
		t.Errorf("%d successful logins, want 1", n)
	}
}

func TestThrottleBlockedFor(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	throttle := voipbin.NewDefaultThrottle()
	c := f.client(t, voipbin.Options{Throttle: throttle})
	f.s.InjectFault(accessKeysPath, voipbintest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "60"})
	if _, err := c.ValidateAccessKey(context.Background(), f.key.Key); err == nil {
		t.Fatal("no error")
	}
	if d := throttle.APIBlockedFor(); d < 55*time.Second || d > 60*time.Second {
		t.Errorf("APIBlockedFor = %v, want about 60s", d)
	}
	if d := throttle.LoginBlockedFor(); d != 0 {
		t.Errorf("LoginBlockedFor = %v, want 0", d)
	}
	if d := throttle.BlockedFor(voipbin.OperationListAccessKeys); d <= 0 {
		t.Errorf("BlockedFor(list_accesskeys) = %v", d)
	}
}

func TestClientSideLimiterRefusesPastTheDeadline(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client(t, voipbin.Options{Throttle: voipbin.NewThrottle(0.5, 1, 10, 20)})
	if _, err := c.Login(context.Background(), testUser, testPassword); err != nil {
		t.Fatalf("first login: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := c.Login(ctx, testUser, testPassword)
	d, ok := voipbin.IsRateLimited(err)
	var throttled *voipbin.ThrottledError
	if !ok || d < time.Second || !errors.As(err, &throttled) || throttled.ServerRequested {
		t.Fatalf("second login: %v, %v, %v; want a local refusal needing about 2s", d, ok, err)
	}
	if n := f.s.Hits("/auth/login"); n != 1 {
		t.Errorf("%d login requests, want 1", n)
	}
}

// TestBurstOfLoginsStaysUnderVoIPBINLimits: 100 concurrent logins through one
// client at the default limits (5/s burst 10) never meet VoIPBIN's own
// limit (10/s burst 20 per IP). About 18 s.
func TestBurstOfLoginsStaysUnderVoIPBINLimits(t *testing.T) {
	t.Parallel()

	// Control: without client-side limits the same stand-in does answer 429,
	// so the zero below means something.
	control := newFixture(t, voipbintest.WithRateLimits(true))
	unlimited := control.client(t, voipbin.Options{Throttle: voipbin.NewThrottle(0, 0, 0, 0)})
	concurrentLogins(t, unlimited, 40)
	if n := control.s.Count("/auth/login", http.StatusTooManyRequests); n == 0 {
		t.Fatal("control: 40 unthrottled logins got no 429; the stand-in's limits are off")
	}

	f := newFixture(t, voipbintest.WithRateLimits(true))
	c := f.client(t, voipbin.Options{})
	errs := concurrentLogins(t, c, 100)
	for _, err := range errs {
		if err != nil {
			t.Errorf("login: %v", err)
		}
	}
	if n := f.s.Count("/auth/login", http.StatusTooManyRequests); n != 0 {
		t.Errorf("%d logins answered 429, want 0", n)
	}
	if n := f.s.Count("/auth/login", http.StatusOK); n != 100 {
		t.Errorf("%d logins answered 200, want 100", n)
	}
}

func concurrentLogins(t *testing.T, c *voipbin.Client, n int) []error {
	t.Helper()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = c.Login(context.Background(), testUser, testPassword)
		})
	}
	wg.Wait()
	return errs
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"5", 5 * time.Second, true},
		{" 12 ", 12 * time.Second, true},
		{"0", 0, true},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
		{"", 0, false},
		{"99999999999", time.Hour, true},
		{"Tue, 01 Sep 2026 12:00:30 GMT", 30 * time.Second, true},
		{"Tue, 01 Sep 2026 11:00:00 GMT", 0, true},
		{"Wed, 02 Sep 2026 12:00:00 GMT", time.Hour, true},
	}
	for _, tc := range cases {
		got, ok := voipbin.ParseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.wantOK)
		}
	}
}

func TestRateLimitedWithoutRetryAfter(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.s.InjectFault("/auth/login", voipbintest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "garbage"})
	_, err := f.client(t, voipbin.Options{}).Login(context.Background(), testUser, testPassword)
	if d, ok := voipbin.IsRateLimited(err); !ok || d != time.Second {
		t.Errorf("IsRateLimited = %v, %v; want the 1s default", d, ok)
	}
}
