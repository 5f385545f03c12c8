package plan

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

// partDecision is what one credential needs: a call now (fresh: no shared
// token), or a look again at wake.
type partDecision struct {
	call, fresh bool
	wake        time.Time
	// action is the call, when it is not a login or a check; with its
	// details.
	action Action
	detail Plan
}

// plan is the Plan of the accesskey part's call: a Check unless action says otherwise.
func (p partDecision) plan() Plan {
	if p.action == Finish {
		return Plan{Action: Check}
	}
	out := p.detail
	out.Action = p.action
	return out
}

// storedToken is the token the managed Secret holds, if it is usable for this CR.
type storedToken struct {
	present             bool
	issuedAt, expiresAt time.Time
}

// knownExpiry is the stored token's expiry, or nil when none is stored.
func (s storedToken) knownExpiry() *time.Time {
	if !s.present {
		return nil
	}
	return &s.expiresAt
}

// storedToken returns the token of the managed Secret when it is as the operator
// wrote it and was issued for the current login: the same apiURL and, from the
// JWT's agent.username, the same username. A token the operator cannot vouch
// for (a retained Secret of another account, a hand edit) is not stored as far
// as any decision goes: it is replaced by a fresh login.
func (d *decision) storedToken() storedToken {
	s, in, st := d.o.Secret, d.o.Inputs, d.vbc.Status.Token
	if s == nil || in.Login == nil || st == nil || !belongsTo(s, d.vbc) || !intactPart(s, d.vbc, partLogin) ||
		len(s.Data[v1alpha1.SecretKeyToken]) == 0 || string(s.Data[v1alpha1.SecretKeyAPIURL]) != in.Endpoint.URL {
		return storedToken{}
	}
	expiresAt, err := time.Parse(time.RFC3339, string(s.Data[v1alpha1.SecretKeyExpiresAt]))
	if err != nil {
		return storedToken{}
	}
	switch user := d.storedTokenUsername(); {
	case user != "" && user != in.Login.Username:
		return storedToken{}
	case user == "" && st.LoginSecretVersion == "":
		// No username to compare and no record of this CR storing it.
		return storedToken{}
	}
	issuedAt, err := time.Parse(time.RFC3339, s.Annotations[v1alpha1.AnnotationTokenIssuedAt])
	if err != nil || !issuedAt.Before(expiresAt) {
		issuedAt = expiresAt.Add(-defaultTokenLifetime)
	}
	return storedToken{present: true, issuedAt: issuedAt, expiresAt: expiresAt}
}

// defaultTokenLifetime is VoIPBIN's token lifetime, assumed for a stored token
// whose issue time is not recorded.
const defaultTokenLifetime = 7 * 24 * time.Hour

// heldToken returns the token in memory if it was obtained with the current
// inputs and has not expired; otherwise it forgets it.
func (d *decision) heldToken() *HeldToken {
	h, in := d.mem.Token, d.o.Inputs
	if h == nil {
		return nil
	}
	if in.Login == nil || h.LoginVersion != in.Login.Version || h.EndpointHash != in.Endpoint.Hash ||
		!d.now.Before(h.ExpiresAt) {
		d.mem.Token = nil
		return nil
	}
	return h
}

// loginAnswered reports whether the Secret holds a token stored for refresh
// request req.
func (d *decision) loginAnswered(req string) bool {
	stored := d.storedToken()
	return d.mem.RefreshLogin == req && stored.present && stored.expiresAt.Equal(d.mem.RefreshLoginExpiry)
}

func (d *decision) loginInputErr() *InputError {
	if d.o.Inputs.EndpointErr != nil {
		return d.o.Inputs.EndpointErr
	}
	return d.o.Inputs.LoginErr
}

func (d *decision) renewal(issuedAt, expiresAt time.Time) renewal {
	var renewBefore *time.Duration
	if rb := d.vbc.Spec.RenewBefore; rb != nil {
		renewBefore = &rb.Duration
	}
	return renewalTime(issuedAt, expiresAt, renewBefore, d.vbc.UID)
}

// loginAttemptInputs identifies what a login depends on now.
func (d *decision) loginAttemptInputs() string {
	return attemptInputs(d.vbc, d.o.Inputs.Login.Version, d.o.Inputs.Endpoint.Hash)
}

// loginPart decides whether a login is due. Triggers: nothing usable stored, the
// renewal time, changed inputs, a refresh request. A token in memory that answers
// the trigger is stored instead (by writePart): a trigger costs one login, however
// many reconciles follow. A remembered failure waits for its retry time.
func (d *decision) loginPart() partDecision {
	if d.vbc.Spec.Login == nil || d.loginInputErr() != nil {
		return partDecision{}
	}
	st, in := d.vbc.Status.Token, d.o.Inputs
	req := d.refreshRequest()
	needRefresh := req != "" && !d.loginAnswered(req)
	if answered, wake := d.heldAnswers(needRefresh, req); answered {
		return partDecision{wake: wake}
	}
	stored := d.storedToken()
	valid := stored.present && d.now.Before(stored.expiresAt)
	inputsChanged := stored.present && (st.LoginSecretVersion != in.Login.Version || st.EndpointHash != in.Endpoint.Hash)
	render := stored.present && d.tokenMustRender()
	due, wake := dueCheck{
		Retry:        d.mem.Login.remembered(d.loginAttemptInputs(), stored.present),
		Failing:      st.FailedAttempts > 0,
		FailingRetry: failingRetry(st.FailedAttempts, timeOf(st.LastFailureTime), stored.knownExpiry(), d.vbc.UID),
		Changed: !valid || needRefresh || inputsChanged || render ||
			(st.FailedAttempts > 0 && specChangedSince(d.vbc, v1alpha1.ConditionTokenReady)),
		Scheduled: d.renewal(stored.issuedAt, stored.expiresAt).Time,
	}.isDue(d.now)
	if !due {
		return partDecision{wake: wake}
	}
	switch {
	case d.o.Stopping:
		return partDecision{} // no call while stopping: the next manager makes it
	case d.o.Outcome.Login != nil:
		// Never two logins in a row: the outcome of one is stored first. Due
		// again already (a Retry-After that ended while the call waited):
		// look again at once, not at some later wake.
		return partDecision{wake: d.now}
	}
	// A stored token that went missing (the Secret deleted, or edited by hand) is
	// replaced by a new login, not by a token shared from memory: deleting the
	// Secret is how people force a refresh.
	// So is a token the Secret holds as its fingerprint only, to be rendered again.
	fresh := needRefresh || render || (st.ExpiresAt != nil && !stored.present)
	return partDecision{call: true, fresh: fresh}
}

// heldAnswers reports whether the token in memory answers the trigger (it is
// then stored by writePart, not obtained again), and until when.
func (d *decision) heldAnswers(needRefresh bool, req string) (bool, time.Time) {
	h := d.heldToken()
	if h == nil || (needRefresh && h.Refresh != req) {
		return false, time.Time{}
	}
	if renew := d.renewal(h.IssuedAt, h.ExpiresAt); d.now.Before(renew.Time) {
		return true, renew.Time
	}
	// Past its renewal time: while the write is what fails, another login would
	// only be held too; the token in hand serves until it expires.
	return d.mem.Write.Failure != nil, time.Time{}
}

// foldLogin records the outcome of a login: a token to hold until it is stored,
// or a failure with its retry time. A token that expired on arrival is a failure.
func (d *decision) foldLogin(out *CallOutcome) {
	if d.vbc.Spec.Login == nil || d.o.Inputs.Login == nil {
		return
	}
	stored := d.storedToken()
	inputs := d.loginAttemptInputs()
	switch {
	case !out.DeferredUntil.IsZero():
		d.mem.Login = Attempt{Inputs: inputs, NotBefore: out.DeferredUntil, HadStored: stored.present}
	case out.Token != nil && !out.Token.ExpiresAt.After(out.At):
		d.loginFailed(expiredOnArrival(*out.Token, out.At), stored, inputs, out.At)
	case out.Token != nil:
		h := *out.Token
		h.IssuedAt, h.ExpiresAt = h.IssuedAt.Truncate(time.Second), h.ExpiresAt.Truncate(time.Second)
		h.LoginVersion, h.EndpointHash, h.Refresh = d.o.Inputs.Login.Version, d.o.Inputs.Endpoint.Hash, d.refreshRequest()
		d.mem.Token, d.mem.Login = &h, Attempt{}
		d.vbc.Status.Token.FailedAttempts = 0
	case out.Failure != nil:
		d.loginFailed(*out.Failure, stored, inputs, out.At)
	}
}

func (d *decision) loginFailed(f Failure, stored storedToken, inputs string, at time.Time) {
	st := d.vbc.Status.Token
	st.FailedAttempts++
	st.LastFailureTime = metaTime(at)
	st.LastFailureMessage = failureMessage("login", f)
	st.LastFailureReason = f.Reason
	var validUntil *time.Time
	if stored.present && at.Before(stored.expiresAt) {
		validUntil = &stored.expiresAt
	}
	d.mem.Login = Attempt{Inputs: inputs, NotBefore: nextAttempt(f, st.FailedAttempts, validUntil, at, d.vbc.UID),
		Failure: &f, HadStored: stored.present}
	if st.FailedAttempts == 1 {
		d.event(corev1.EventTypeWarning, v1alpha1.EventLoginFailed, "Login", st.LastFailureMessage)
	}
}

// absorbToken updates status.token once the Secret holds the token in memory (the
// write succeeded) and announces it; and adopts a token the status has no record
// of (a Secret retained by a deleted CR of the same name, same account).
func (d *decision) absorbToken() {
	if d.vbc.Spec.Login == nil || d.o.Inputs.Login == nil {
		return
	}
	st, s := d.vbc.Status.Token, d.o.Secret
	if h := d.mem.Token; h != nil && s != nil && sameValue(s.Data[v1alpha1.SecretKeyToken], h.JWT) &&
		belongsTo(s, d.vbc) && intactPart(s, d.vbc, partLogin) {
		first := d.o.CR.Status.Token == nil || d.o.CR.Status.Token.ExpiresAt == nil
		st.IssuedAt, st.ExpiresAt = metaTime(h.IssuedAt), metaTime(h.ExpiresAt)
		st.LoginSecretVersion, st.EndpointHash = h.LoginVersion, h.EndpointHash
		d.mem.Token = nil
		if h.Refresh != "" {
			d.mem.RefreshLogin, d.mem.RefreshLoginExpiry = h.Refresh, h.ExpiresAt
		}
		if first {
			d.event(corev1.EventTypeNormal, v1alpha1.EventLoggedIn, "Login",
				"Logged in; the token is valid until "+timestamp(h.ExpiresAt))
		} else {
			d.event(corev1.EventTypeNormal, v1alpha1.EventTokenRefreshed, "Login",
				"Token refreshed; the new token is valid until "+timestamp(h.ExpiresAt))
		}
		return
	}
	if st.LoginSecretVersion == "" {
		if stored := d.storedToken(); stored.present {
			st.IssuedAt, st.ExpiresAt = metaTime(stored.issuedAt), metaTime(stored.expiresAt)
			st.LoginSecretVersion, st.EndpointHash = d.o.Inputs.Login.Version, d.o.Inputs.Endpoint.Hash
		}
	}
}

// tokenCondition sets TokenReady from the Secret as it is now and the last
// attempts, and returns what stalls the token, if anything.
func (d *decision) tokenCondition() *stall {
	set := d.conditionSetter(v1alpha1.ConditionTokenReady)
	if e := d.loginInputErr(); e != nil {
		return inputStall(set, e)
	}
	st := d.vbc.Status.Token
	stored := d.storedToken()
	valid := stored.present && d.now.Before(stored.expiresAt)
	var renew renewal
	if stored.present {
		renew = d.renewal(stored.issuedAt, stored.expiresAt)
		st.RenewalTime = metaTime(renew.Time)
	}
	writeFailing := d.mem.Token != nil && d.mem.Write.Failure != nil
	deferred := d.deferred(d.mem.Login)
	failing := st.FailedAttempts > 0
	validUntil := "; the stored token is valid until " + timestamp(stored.expiresAt)
	switch {
	case failing && (!valid || st.LastFailureReason == v1alpha1.ReasonAccountDisabled):
		set(metav1.ConditionFalse, reasonOr(st.LastFailureReason, v1alpha1.ReasonAPIUnavailable), st.LastFailureMessage)
	case failing:
		set(metav1.ConditionTrue, v1alpha1.ReasonRefreshFailing, st.LastFailureMessage+validUntil)
	case !valid && writeFailing:
		set(metav1.ConditionFalse, v1alpha1.ReasonSecretWriteFailed, writeFailedMessage(d.mem.Write.Failure, "token"))
	case !valid && deferred:
		set(metav1.ConditionFalse, v1alpha1.ReasonRateLimited,
			"waiting for the API's Retry-After (HTTP 429 seen by another request) until "+timestamp(d.mem.Login.NotBefore))
	case !valid && stored.present:
		set(metav1.ConditionUnknown, v1alpha1.ReasonPending, "the stored token expired at "+timestamp(stored.expiresAt)+
			"; a login is due")
	case !valid:
		set(metav1.ConditionUnknown, v1alpha1.ReasonPending, "waiting for the first login")
	case writeFailing:
		set(metav1.ConditionTrue, v1alpha1.ReasonRefreshFailing, writeFailedMessage(d.mem.Write.Failure, "token")+validUntil)
	default:
		set(metav1.ConditionTrue, v1alpha1.ReasonLoggedIn, tokenMessage(stored.expiresAt, renew))
	}
	if !failing {
		return nil
	}
	c := findCondition(&d.vbc.Status, v1alpha1.ConditionTokenReady)
	return stallOf(c.Reason, c.Message, st.LastFailureReason)
}

// writeFailedMessage says that a new credential could not be stored.
func writeFailedMessage(f *Failure, what string) string {
	return fmt.Sprintf("a new %s could not be stored: %s", what, f.Description)
}

func reasonOr(reason, fallback string) string {
	if reason == "" {
		return fallback
	}
	return reason
}

// tokenMessage is TokenReady's message while the token is good.
func tokenMessage(expiresAt time.Time, renew renewal) string {
	msg := fmt.Sprintf("token valid until %s, renewal at %s", timestamp(expiresAt), timestamp(renew.Time))
	if renew.RenewBeforeIgnored {
		msg += " (renewBefore exceeds 90% of the token's lifetime: a third of the lifetime is used)"
	}
	return msg
}
