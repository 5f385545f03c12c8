package voipbin

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults of the client-side rate limits. VoIPBIN limits /auth/* to 10
// requests/s (burst 20) per client IP and /v1.0 to 200/s (burst 400) per IP
// and about 16.7/s (burst 33) per customer; staying at half of the tightest
// limit leaves room for other clients behind the same IP (a NAT, a second
// replica during a rollout) while a burst of renewals still goes through.
const (
	// DefaultLoginQPS is the default rate of logins per second.
	DefaultLoginQPS = 5.0
	// DefaultLoginBurst is the default burst of logins.
	DefaultLoginBurst = 10
	// DefaultAPIQPS is the default rate of other API calls per second.
	DefaultAPIQPS = 10.0
	// DefaultAPIBurst is the default burst of other API calls.
	DefaultAPIBurst = 20
)

const (
	// defaultRetryAfter is the wait assumed after a 429 without a usable
	// Retry-After header: one second refills half the server's login bucket.
	defaultRetryAfter = time.Second
	// maxRetryAfter caps a server-requested wait, so that one absurd header
	// (or a broken proxy) cannot silence every worker for days.
	maxRetryAfter = time.Hour
)

// operationClass groups operations that share one client-side limiter and one
// Retry-After gate, like the server's own limits: /auth/* and /v1.0.
type operationClass int

const (
	classLogin operationClass = iota
	classAPI
)

func classOf(operation string) operationClass {
	if operation == OperationLogin {
		return classLogin
	}
	return classAPI
}

// Throttle is the client-side rate limiting shared by every Client for one API
// URL (all workers share it): a token bucket for logins, one for other API
// calls (both golang.org/x/time/rate), and a Retry-After gate per class. When
// any client sees a 429, every client sharing the Throttle refuses calls of
// that class without sending them until the Retry-After has passed: that is
// how a 429 slows every worker for that API URL.
//
// A Throttle is safe for concurrent use. Share one per API URL; a Throttle per
// Client would multiply the rate by the number of clients.
type Throttle struct {
	login *rate.Limiter
	api   *rate.Limiter

	mu           sync.Mutex
	blockedUntil [2]time.Time // by operationClass
}

// NewThrottle returns a Throttle allowing loginQPS logins per second with a
// burst of loginBurst, and apiQPS other calls per second with a burst of
// apiBurst. A rate <= 0 means no limit; a burst < 1 is taken as 1.
func NewThrottle(loginQPS float64, loginBurst int, apiQPS float64, apiBurst int) *Throttle {
	return &Throttle{
		login: newLimiter(loginQPS, loginBurst),
		api:   newLimiter(apiQPS, apiBurst),
	}
}

// NewDefaultThrottle returns NewThrottle(DefaultLoginQPS, DefaultLoginBurst,
// DefaultAPIQPS, DefaultAPIBurst).
func NewDefaultThrottle() *Throttle {
	return NewThrottle(DefaultLoginQPS, DefaultLoginBurst, DefaultAPIQPS, DefaultAPIBurst)
}

func newLimiter(qps float64, burst int) *rate.Limiter {
	limit := rate.Limit(qps)
	if qps <= 0 || math.IsNaN(qps) || math.IsInf(qps, 0) {
		limit = rate.Inf
	}
	if burst < 1 {
		burst = 1
	}
	return rate.NewLimiter(limit, burst)
}

// BlockedFor reports how long calls of operation (OperationLogin or
// OperationListAccessKeys) must still wait because of a 429 seen by a client
// sharing this Throttle; 0 when they may go.
func (t *Throttle) BlockedFor(operation string) time.Duration {
	return t.blockedFor(classOf(operation), time.Now())
}

// LoginBlockedFor is BlockedFor(OperationLogin).
func (t *Throttle) LoginBlockedFor() time.Duration { return t.BlockedFor(OperationLogin) }

// APIBlockedFor is BlockedFor(OperationListAccessKeys): the wait for every
// call under /v1.0.
func (t *Throttle) APIBlockedFor() time.Duration { return t.BlockedFor(OperationListAccessKeys) }

func (t *Throttle) blockedFor(c operationClass, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if d := t.blockedUntil[c].Sub(now); d > 0 {
		return d
	}
	return 0
}

// block makes calls of class c wait until now+d, never shortening a longer
// wait already in force.
func (t *Throttle) block(c operationClass, now time.Time, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if until := now.Add(d); until.After(t.blockedUntil[c]) {
		t.blockedUntil[c] = until
	}
}

func (t *Throttle) limiter(c operationClass) *rate.Limiter {
	if c == classLogin {
		return t.login
	}
	return t.api
}

// errWouldExceedDeadline means the limiter's wait is longer than the caller's
// context allows; the call is refused at once instead of failing later.
var errWouldExceedDeadline = errors.New("rate limit wait would exceed the deadline")

// wait takes one token of class c's bucket, waiting for it as long as ctx
// allows. When the wait would outlast ctx's deadline it returns at once with
// the wait it would have needed and errWouldExceedDeadline; when ctx ends
// meanwhile it returns ctx's error. Either way the token is given back.
func (t *Throttle) wait(ctx context.Context, c operationClass) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	r := t.limiter(c).Reserve()
	if !r.OK() { // cannot happen with burst >= 1, kept for safety
		return 0, errWouldExceedDeadline
	}
	d := r.Delay()
	if d <= 0 {
		return 0, nil
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < d {
		r.Cancel()
		return d, errWouldExceedDeadline
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return 0, nil
	case <-ctx.Done():
		r.Cancel()
		return 0, ctx.Err()
	}
}

// ParseRetryAfter parses a Retry-After header value: delta-seconds or an
// HTTP-date (relative to now). It reports false for an empty or unusable
// value. A date in the past is a wait of 0; the result is capped at one hour.
func ParseRetryAfter(value string, now time.Time) (time.Duration, bool) {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(value, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter, true
		}
		return time.Duration(secs) * time.Second, true
	}
	when, err := http.ParseTime(value)
	if err != nil {
		return 0, false
	}
	d := when.Sub(now)
	if d < 0 {
		d = 0
	}
	if d > maxRetryAfter {
		d = maxRetryAfter
	}
	return d, true
}
