package plan

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

// storedKey is the accesskey the managed Secret holds, if it is the one the
// accesskey Secret names, as the operator wrote it.
type storedKey struct {
	present bool
	// validated: the status vouches for it (validated with the current inputs).
	validated bool
	// expiresAt is its known expiry (zero: unknown).
	expiresAt time.Time
}

func (s storedKey) valid(now time.Time) bool {
	return s.present && s.validated && (s.expiresAt.IsZero() || now.Before(s.expiresAt))
}

// knownExpiry is the expiry of a stored, vouched-for key, or nil.
func (s storedKey) knownExpiry() *time.Time {
	if !s.present || !s.validated || s.expiresAt.IsZero() {
		return nil
	}
	return &s.expiresAt
}

func (d *decision) storedKey() storedKey {
	if issuing(d.vbc) {
		k := d.storedIssued()
		return storedKey{present: k.present, validated: k.present, expiresAt: k.expiresAt}
	}
	s, in, st := d.o.Secret, d.o.Inputs, d.vbc.Status.AccessKey
	if s == nil || in.AccessKey == nil || st == nil || !belongsTo(s, d.vbc) || !intactPart(s, d.vbc, partAccessKey) ||
		!sameValue(s.Data[v1alpha1.SecretKeyAccessKey], in.AccessKey.Key) ||
		string(s.Data[v1alpha1.SecretKeyAPIURL]) != in.Endpoint.URL {
		return storedKey{}
	}
	return storedKey{present: true, validated: d.sameKey(), expiresAt: timeOf(st.ExpiresAt)}
}

// sameKey reports whether the status describes a validation of the current
// accesskey Secret at the current endpoint.
func (d *decision) sameKey() bool {
	st, in := d.vbc.Status.AccessKey, d.o.Inputs
	return st != nil && in.AccessKey != nil && st.LastValidatedTime != nil &&
		st.SecretVersion == in.AccessKey.Version && st.EndpointHash == in.Endpoint.Hash
}

// heldKey returns the key validated in memory if it was validated with the
// current inputs; otherwise it forgets it.
func (d *decision) heldKey() *HeldKey {
	h, in := d.mem.Key, d.o.Inputs
	if h == nil {
		return nil
	}
	if in.AccessKey == nil || h.SecretVersion != in.AccessKey.Version || h.EndpointHash != in.Endpoint.Hash {
		d.mem.Key = nil
		return nil
	}
	return h
}

// keyAnswered reports whether the Secret holds the key validated for refresh
// request req.
func (d *decision) keyAnswered(req string) bool {
	return d.mem.RefreshKey == req && d.storedKey().valid(d.now)
}

func (d *decision) keyInputErr() *InputError {
	if d.o.Inputs.EndpointErr != nil {
		return d.o.Inputs.EndpointErr
	}
	return d.o.Inputs.AccessKeyErr
}

func (d *decision) checkAttemptInputs() string {
	return attemptInputs(d.vbc, d.o.Inputs.AccessKey.Version, d.o.Inputs.Endpoint.Hash)
}

// keyPart decides whether an accesskey check is due: a new key, the periodic
// check, right after the key's expiry, a refresh request, or the stored key gone.
func (d *decision) keyPart() partDecision {
	if d.vbc.Spec.AccessKey == nil || d.keyInputErr() != nil {
		return partDecision{}
	}
	if issuing(d.vbc) {
		return d.issuePart()
	}
	st := d.vbc.Status.AccessKey
	req := d.refreshRequest()
	needRefresh := req != "" && !d.keyAnswered(req)
	if h := d.heldKey(); h != nil && (!needRefresh || h.Refresh == req) {
		return partDecision{}
	}
	stored := d.storedKey()
	validated, same := st.LastValidatedTime != nil, d.sameKey()
	due, wake := dueCheck{
		Retry:        d.mem.Check.remembered(d.checkAttemptInputs(), stored.present),
		Failing:      st.FailedAttempts > 0,
		FailingRetry: failingRetry(st.FailedAttempts, timeOf(st.LastFailureTime), stored.knownExpiry(), d.vbc.UID),
		Changed: !same || (validated && !stored.present) || needRefresh ||
			(st.FailedAttempts > 0 && specChangedSince(d.vbc, v1alpha1.ConditionAccessKeyValid)),
		Scheduled: accessKeyCheckTime(st, same, checkIntervalOf(d.vbc)),
	}.isDue(d.now)
	if !due {
		return partDecision{wake: wake}
	}
	switch {
	case d.o.Stopping:
		return partDecision{}
	case d.o.Outcome.Check != nil:
		return partDecision{wake: d.now} // one check per reconcile; due again already: look again at once
	}
	return partDecision{call: true}
}

// foldCheck records the outcome of an accesskey check.
func (d *decision) foldCheck(out *CallOutcome) {
	in := d.o.Inputs.AccessKey
	if d.vbc.Spec.AccessKey == nil || in == nil {
		return
	}
	st := d.vbc.Status.AccessKey
	stored := d.storedKey()
	inputs := d.checkAttemptInputs()
	switch {
	case !out.DeferredUntil.IsZero():
		d.mem.Check = Attempt{Inputs: inputs, NotBefore: out.DeferredUntil, HadStored: stored.present}
	case out.Key != nil:
		d.mem.Key = &HeldKey{Key: in.Key, Info: *out.Key, ValidatedAt: out.At.Truncate(time.Second),
			SecretVersion: in.Version, EndpointHash: d.o.Inputs.Endpoint.Hash, Refresh: d.refreshRequest()}
		d.mem.Check = Attempt{}
		st.FailedAttempts = 0
	case out.Failure != nil:
		f := *out.Failure
		same := d.sameKey()
		// A key refused at or after its known expiry has expired.
		if f.Reason == v1alpha1.ReasonInvalidCredentials && same && st.ExpiresAt != nil && !out.At.Before(st.ExpiresAt.Time) {
			f.Reason = v1alpha1.ReasonAccessKeyExpired
			f.Description = "the accesskey expired at " + timestamp(st.ExpiresAt.Time)
		}
		st.FailedAttempts++
		st.LastFailureTime = metaTime(out.At)
		st.LastFailureMessage = failureMessage("accesskey check", f)
		st.LastFailureReason = f.Reason
		keepsValid := stored.valid(out.At) && !keyRejected(f.Reason)
		var validUntil *time.Time
		if keepsValid {
			validUntil = stored.knownExpiry()
		}
		d.mem.Check = Attempt{Inputs: inputs, NotBefore: nextAttempt(f, st.FailedAttempts, validUntil, out.At, d.vbc.UID),
			Failure: &f, HadStored: stored.present}
		if !keepsValid && (isTrueIn(&d.o.CR.Status, v1alpha1.ConditionAccessKeyValid) || st.FailedAttempts == 1) {
			d.event(corev1.EventTypeWarning, v1alpha1.EventAccessKeyInvalid, "Validate", st.LastFailureMessage)
		}
	}
}

// keyRejected reports whether a failure says the key itself is refused.
func keyRejected(reason string) bool {
	return reason == v1alpha1.ReasonInvalidCredentials || reason == v1alpha1.ReasonAccessKeyExpired ||
		reason == v1alpha1.ReasonAccountDisabled
}

// absorbKey updates status.accessKey once the Secret holds the key validated in
// memory (at once for a periodic check of the key already stored).
func (d *decision) absorbKey() {
	if issuing(d.vbc) {
		d.absorbIssued()
		return
	}
	h, s := d.mem.Key, d.o.Secret
	if d.vbc.Spec.AccessKey == nil || h == nil || s == nil || !sameValue(s.Data[v1alpha1.SecretKeyAccessKey], h.Key) ||
		string(s.Data[v1alpha1.SecretKeyAPIURL]) != d.o.Inputs.Endpoint.URL ||
		!belongsTo(s, d.vbc) || !intactPart(s, d.vbc, partAccessKey) {
		return
	}
	st := d.vbc.Status.AccessKey
	st.ID, st.Name, st.Prefix = h.Info.ID, h.Info.Name, h.Info.Prefix
	st.ExpiresAt = nil
	if !h.Info.ExpiresAt.IsZero() {
		st.ExpiresAt = metaTime(h.Info.ExpiresAt)
	}
	st.LastValidatedTime = metaTime(h.ValidatedAt)
	st.SecretVersion, st.EndpointHash = h.SecretVersion, h.EndpointHash
	st.IssuedAt, st.Previous = nil, nil
	d.mem.Key = nil
	if h.Refresh != "" {
		d.mem.RefreshKey = h.Refresh
	}
}

// keyCondition sets AccessKeyValid and returns what stalls the key, if anything.
func (d *decision) keyCondition() *stall {
	if issuing(d.vbc) {
		return d.issuedCondition()
	}
	set := d.conditionSetter(v1alpha1.ConditionAccessKeyValid)
	if e := d.keyInputErr(); e != nil {
		return inputStall(set, e)
	}
	st := d.vbc.Status.AccessKey
	stored := d.storedKey()
	valid := stored.valid(d.now)
	failing := st.FailedAttempts > 0
	writeFailing := d.mem.Key != nil && d.mem.Write.Failure != nil
	deferred := d.deferred(d.mem.Check)
	switch {
	case failing && (!valid || keyRejected(st.LastFailureReason)):
		set(metav1.ConditionFalse, reasonOr(st.LastFailureReason, v1alpha1.ReasonAPIUnavailable), st.LastFailureMessage)
	case failing:
		set(metav1.ConditionTrue, v1alpha1.ReasonRefreshFailing,
			st.LastFailureMessage+"; the stored accesskey was valid at "+timestamp(timeOf(st.LastValidatedTime)))
	case !valid && writeFailing:
		set(metav1.ConditionFalse, v1alpha1.ReasonSecretWriteFailed, writeFailedMessage(d.mem.Write.Failure, "accesskey"))
	case !valid && deferred:
		set(metav1.ConditionFalse, v1alpha1.ReasonRateLimited,
			"waiting for the API's Retry-After (HTTP 429 seen by another request) until "+timestamp(d.mem.Check.NotBefore))
	case !valid && stored.present && stored.validated:
		set(metav1.ConditionFalse, v1alpha1.ReasonAccessKeyExpired, "the accesskey expired at "+timestamp(stored.expiresAt))
	case !valid:
		set(metav1.ConditionUnknown, v1alpha1.ReasonPending, "waiting for the accesskey's validation")
	case writeFailing:
		set(metav1.ConditionTrue, v1alpha1.ReasonRefreshFailing, writeFailedMessage(d.mem.Write.Failure, "accesskey")+
			"; the stored accesskey was valid at "+timestamp(timeOf(st.LastValidatedTime)))
	default:
		set(metav1.ConditionTrue, v1alpha1.ReasonValidated, accessKeyMessage(st))
	}
	c := findCondition(&d.vbc.Status, v1alpha1.ConditionAccessKeyValid)
	if failing {
		return stallOf(c.Reason, c.Message, st.LastFailureReason)
	}
	return stallOf(c.Reason, c.Message, "")
}

// accessKeyMessage is AccessKeyValid's message while the key is good.
func accessKeyMessage(st *v1alpha1.AccessKeyStatus) string {
	who := "accesskey " + st.Prefix + "…"
	if st.Name != "" {
		who += fmt.Sprintf(" (%s)", st.Name)
	}
	if st.ExpiresAt == nil {
		return who + " is valid; its expiry is unknown (not found in the accesskey list)"
	}
	return fmt.Sprintf("%s is valid until %s", who, timestamp(st.ExpiresAt.Time))
}

func checkIntervalOf(vbc *v1alpha1.VoipbinCredential) time.Duration {
	if d := vbc.Spec.AccessKeyCheckInterval; d != nil && d.Duration >= time.Minute {
		return d.Duration
	}
	return time.Hour
}
