package plan

import (
	"crypto/sha256"
	"encoding/binary"
	"time"

	"k8s.io/apimachinery/pkg/types"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

// Timing constants: docs/architecture.md, "Timing".
const (
	// backoffBase is the first retry delay after a transient failure: long enough
	// for a restarting API to come back, short enough that a blip costs seconds.
	backoffBase = 5 * time.Second
	// backoffCap bounds the doubling, so an outage of hours is still probed every
	// few minutes and recovery is noticed quickly.
	backoffCap = 5 * time.Minute
	// backoffFloor is the shortest retry delay, even when the stored credential is
	// about to expire: retrying faster would hammer an API that is already failing.
	backoffFloor = 5 * time.Second
	// permanentRetry is the retry period of failures that only a change can fix
	// (wrong password, disabled account, TLS, wrong URL): a change of the CR or of
	// an input Secret retries at once, so this only catches fixes made elsewhere
	// (the password reset in VoIPBIN, the account re-enabled) without hammering.
	permanentRetry = 10 * time.Minute
	// maxRenewBeforeShare is the largest renewBefore honoured, in percent of the
	// token's lifetime: a token is kept at least a tenth of its lifetime (minus the
	// jitter), so that no setting makes the operator log in continuously.
	maxRenewBeforeShare = 90
	// renewalJitterFraction is the largest share of a token's lifetime by which a
	// credential's renewal is moved earlier, so that credentials created together
	// do not all renew in the same second.
	renewalJitterFraction = 0.05
	// backoffJitterFraction spreads retries of credentials that failed together by
	// up to ±20%.
	backoffJitterFraction = 0.2
	// expiryMargin is how long after a known expiry a check runs, so that it runs
	// after the expiry and not a moment before it.
	expiryMargin = time.Second
)

// renewal is when a token is renewed, and whether renewBefore had to be replaced
// by the default because it was not shorter than the token's lifetime.
type renewal struct {
	Time               time.Time
	RenewBeforeIgnored bool
}

// renewalTime returns when a token issued at issuedAt and expiring at expiresAt is
// renewed: expiresAt - renewBefore (default a third of the lifetime), moved earlier
// by a jitter of up to renewalJitterFraction of the lifetime that depends only on
// the credential's UID, so always after issuedAt and before expiresAt. A
// renewBefore longer than maxRenewBeforeShare percent of the lifetime is replaced
// by the default: a renewBefore close to the lifetime would renew a token right
// after getting it, over and over. The result is whole seconds, as it is stored
// in the status.
func renewalTime(issuedAt, expiresAt time.Time, renewBefore *time.Duration, uid types.UID) renewal {
	lifetime := expiresAt.Sub(issuedAt)
	if lifetime <= 0 {
		return renewal{Time: expiresAt.Truncate(time.Second)}
	}
	var r renewal
	margin := lifetime / 3
	if renewBefore != nil {
		if *renewBefore <= lifetime/100*maxRenewBeforeShare { // divided first: no overflow for long lifetimes
			margin = *renewBefore
		} else {
			r.RenewBeforeIgnored = true
		}
	}
	jitter := time.Duration(float64(lifetime) * renewalJitterFraction * unitFraction(uid, "renewal"))
	// margin <= 90% and jitter <= 5% of the lifetime: t is after issuedAt.
	r.Time = expiresAt.Add(-margin - jitter).Truncate(time.Second)
	return r
}

// RenewalTime is when a token issued at issuedAt and expiring at expiresAt is
// renewed for the CR uid (see renewalTime): the controller asks it before it
// reuses a token another credential's login obtained.
func RenewalTime(issuedAt, expiresAt time.Time, renewBefore *time.Duration, uid types.UID) time.Time {
	return renewalTime(issuedAt, expiresAt, renewBefore, uid).Time
}

// FailureKind sorts failures by how they are retried.
type FailureKind int

const (
	// Transient: network, timeout, 5xx, garbage, 429. Backoff.
	Transient FailureKind = iota
	// Permanent: wrong credentials, disabled account, TLS, wrong URL.
	// Retried on change or every permanentRetry.
	Permanent
	// NeedsChange: missing Secret or key, conflict, URL not allowed. Only a
	// change (brought by a watch) can fix it: no timer.
	NeedsChange
)

// retryDelay returns how long after a failure the next attempt is made.
//
//   - transient failures back off from backoffBase, doubling per consecutive
//     failure (attempts counts them, this one included) up to backoffCap, with a
//     deterministic per-credential jitter; never sooner than retryAfter (the
//     API's Retry-After) and, while a stored credential is valid until validUntil,
//     never later than half the time left (but not under backoffFloor), so that an
//     outage shorter than the renewal margin never leaves an expired credential.
//   - permanent failures are retried every permanentRetry.
//   - failures that need a change return 0 and false: no timer.
func retryDelay(kind FailureKind, attempts int32, retryAfter time.Duration, validUntil *time.Time,
	now time.Time, uid types.UID) (time.Duration, bool) {
	switch kind {
	case NeedsChange:
		return 0, false
	case Permanent:
		return max(permanentRetry, retryAfter), true
	}
	d := backoffBase
	for i := int32(1); i < attempts && d < backoffCap; i++ {
		d *= 2
	}
	d = min(d, backoffCap)
	// Jitter in [-20%, +20%), fixed per credential and attempt number.
	spread := (2*unitFraction(uid, "backoff", attempts) - 1) * backoffJitterFraction
	d += time.Duration(float64(d) * spread)
	if validUntil != nil {
		if half := validUntil.Sub(now) / 2; half < d {
			d = max(half, backoffFloor)
		}
	}
	return max(d, retryAfter), true
}

// nextAttempt returns when a credential whose attempt failed with f (the
// attempts-th failure in a row) is tried again, or the zero time for a failure
// only a change can fix. A permanent failure of a credential still valid until
// validUntil is retried just after that expiry if it comes first, so that the
// expiry is reported when it happens.
func nextAttempt(f Failure, attempts int32, validUntil *time.Time, now time.Time, uid types.UID) time.Time {
	delay, ok := retryDelay(f.Kind, attempts, f.RetryAfter, validUntil, now, uid)
	if !ok {
		return time.Time{}
	}
	wake := now.Add(delay)
	if validUntil != nil && f.Kind != Transient && validUntil.Before(wake) {
		wake = validUntil.Add(expiryMargin)
	}
	return wake
}

// unitFraction returns a number in [0, 1) that depends only on its arguments: the
// deterministic jitter of one credential.
func unitFraction(uid types.UID, salt string, n ...int32) float64 {
	h := sha256.New()
	h.Write([]byte(uid))
	h.Write([]byte{0})
	h.Write([]byte(salt))
	for _, v := range n {
		_ = binary.Write(h, binary.BigEndian, v)
	}
	sum := h.Sum(nil)
	return float64(binary.BigEndian.Uint64(sum[:8])>>11) / float64(1<<53)
}

// earliest returns the earliest of the non-zero times, or the zero time.
func earliest(times ...time.Time) time.Time {
	var e time.Time
	for _, t := range times {
		if !t.IsZero() && (e.IsZero() || t.Before(e)) {
			e = t
		}
	}
	return e
}

// dueCheck holds what decides whether a credential's next API call is due.
type dueCheck struct {
	// Retry is a failed attempt remembered with the same inputs as now, or nil.
	Retry *Attempt
	// Failing: the last attempt failed, and no attempt with the current inputs
	// is remembered (after a restart, or the attempt was another manager's):
	// one attempt is made at FailingRetry (see failingRetry).
	Failing      bool
	FailingRetry time.Time
	// Changed: an input changed, the stored credential went missing, or a
	// refresh was requested.
	Changed bool
	// Scheduled is the next scheduled call: the renewal, the periodic check.
	Scheduled time.Time
}

// isDue reports whether the call is due at now and, either way, when it is (or
// was) scheduled. A remembered failure with unchanged inputs waits for its retry
// time, whatever else wakes the reconciler.
func (d dueCheck) isDue(now time.Time) (bool, time.Time) {
	switch {
	case d.Retry != nil:
		return !now.Before(d.Retry.NotBefore), d.Retry.NotBefore
	case d.Changed:
		return true, d.Scheduled
	case d.Failing:
		return !now.Before(d.FailingRetry), d.FailingRetry
	}
	return !now.Before(d.Scheduled), d.Scheduled
}

// failingRetry is when a credential whose last attempt failed is tried again
// when that attempt is not remembered: the manager restarted, or the leader
// changed, right after it. It is the transient backoff of the failedAttempts-th
// failure, counted from lastFailure, so that a restart or a hand-over in the
// middle of an outage does not retry at once. The status keeps neither the kind
// of the failure nor a Retry-After, so the shortest schedule (transient) is
// assumed; lastFailure has second precision, so counting starts at the end of
// its second and never comes early. A zero lastFailure gives the zero time: now.
func failingRetry(attempts int32, lastFailure time.Time, validUntil *time.Time, uid types.UID) time.Time {
	if lastFailure.IsZero() {
		return time.Time{}
	}
	from := lastFailure.Add(time.Second)
	d, _ := retryDelay(Transient, attempts, 0, validUntil, from, uid)
	return from.Add(d)
}

// accessKeyCheckTime is when an accesskey is checked next: interval after its
// last validation, or right after its known expiry if that comes first and no
// check has run since (sameKey: the status describes the key in the Secret).
func accessKeyCheckTime(st *v1alpha1.AccessKeyStatus, sameKey bool, interval time.Duration) time.Time {
	next := timeOf(st.LastValidatedTime).Add(interval)
	lastCheck := timeOf(st.LastValidatedTime)
	if st.FailedAttempts > 0 && timeOf(st.LastFailureTime).After(lastCheck) {
		lastCheck = st.LastFailureTime.Time
	}
	if exp := timeOf(st.ExpiresAt); sameKey && !exp.IsZero() && lastCheck.Before(exp) {
		next = earliest(next, exp.Add(expiryMargin))
	}
	return next
}
