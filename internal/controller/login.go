package controller

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/internal/voipbin"
)

// partResult is what reconciling one credential produced.
type partResult struct {
	// Token is a token obtained now, to be stored.
	Token *voipbin.Token
	// AccessKey is an accesskey validated now, to be stored.
	AccessKey string
	// Wake is when this credential next needs the reconciler (zero: only on change).
	Wake time.Time
	// Deferred reports that a due attempt was not made: a 429 still holds, or
	// the manager is stopping.
	Deferred bool
}

// reconcileLogin keeps spec.login's token: it logs in when a login is due and
// records the outcome in status.token and the TokenReady condition. The managed
// Secret is written by the caller; on failure the stored token stays.
func (r *VoipbinCredentialReconciler) reconcileLogin(ctx context.Context, vbc *v1alpha1.VoipbinCredential,
	in inputs, existing *corev1.Secret, now time.Time) partResult {
	st := vbc.Status.Token
	if inErr := firstInputError(in.EndpointErr, in.LoginErr); inErr != nil {
		setCondition(vbc, v1alpha1.ConditionTokenReady, metav1.ConditionFalse, inErr.Reason, inErr.Message, now)
		return partResult{}
	}

	if st.ExpiresAt == nil {
		adoptToken(ctx, vbc, existing, in)
	}
	stored := storedToken(vbc, existing)
	refresh := refreshRequested(vbc)
	// A stored token that went missing (the Secret deleted, or edited by hand) is
	// replaced by a new login, not by a token shared from memory: deleting the
	// Secret is how people force a refresh.
	fresh := refresh || (st.ExpiresAt != nil && !stored.present)
	inputsNow := attemptInputs(vbc, in.Login.Version, in.Endpoint.Hash, stored.present)
	renew := renewalTime(timeOf(st.IssuedAt), timeOf(st.ExpiresAt), renewBeforeOf(vbc), vbc.UID)
	due, wake := dueCheck{
		Retry:        r.memory.retry(vbc, partLogin, inputsNow),
		Failing:      st.FailedAttempts > 0,
		FailingRetry: failingRetry(st.FailedAttempts, timeOf(st.LastFailureTime), stored.knownExpiry(), vbc.UID),
		Changed: !stored.present || refresh ||
			st.LoginSecretVersion != in.Login.Version || st.EndpointHash != in.Endpoint.Hash ||
			(st.FailedAttempts > 0 && specChangedSince(vbc, v1alpha1.ConditionTokenReady)),
		Scheduled: renew.Time,
	}.isDue(now)
	if !due {
		if st.FailedAttempts == 0 && stored.valid(now) {
			st.RenewalTime = metaTime(renew.Time)
			setCondition(vbc, v1alpha1.ConditionTokenReady, metav1.ConditionTrue, v1alpha1.ReasonLoggedIn,
				tokenMessage(st, renew), now)
		}
		return partResult{Wake: wake}
	}
	if stopping(ctx) {
		return partResult{Wake: now, Deferred: true}
	}

	client, err := r.clients.get(in.Endpoint)
	if err != nil { // the URL passed CRD validation; this cannot normally happen
		return r.loginFailed(ctx, vbc, stored, inputsNow, failure{Kind: failurePermanent,
			Reason: v1alpha1.ReasonUnexpectedResponse, Description: "invalid apiURL"}, now)
	}
	tok, sharedCall, err := r.sharing.login(ctx, r.sharing.sharedLoginKey(in.Endpoint, in.Login.Username, in.Login.Password),
		fresh, now,
		func(t voipbin.Token) bool {
			return now.Before(renewalTime(t.IssuedAt, t.ExpiresAt, renewBeforeOf(vbc), vbc.UID).Time)
		},
		func(ctx context.Context) (voipbin.Token, error) {
			return client.Login(ctx, in.Login.Username, in.Login.Password)
		})
	if err != nil {
		if wait, ok := deferredBy(err); ok {
			return deferred(ctx, vbc, v1alpha1.ConditionTokenReady, stored.valid(now), now.Add(wait), now)
		}
		return r.loginFailed(ctx, vbc, stored, inputsNow, classify(err, "login"), now)
	}

	r.memory.succeeded(vbc, partLogin)
	first := st.ExpiresAt == nil
	st.IssuedAt, st.ExpiresAt = metaTime(tok.IssuedAt), metaTime(tok.ExpiresAt)
	st.LoginSecretVersion, st.EndpointHash = in.Login.Version, in.Endpoint.Hash
	st.FailedAttempts = 0
	renew = renewalTime(st.IssuedAt.Time, st.ExpiresAt.Time, renewBeforeOf(vbc), vbc.UID)
	st.RenewalTime = metaTime(renew.Time)
	setCondition(vbc, v1alpha1.ConditionTokenReady, metav1.ConditionTrue, v1alpha1.ReasonLoggedIn, tokenMessage(st, renew), now)
	logf.FromContext(ctx).Info("logged in", "expiresAt", timestamp(tok.ExpiresAt), "renewalTime", timestamp(renew.Time),
		"sharedCall", sharedCall)
	if first {
		r.event(vbc, corev1.EventTypeNormal, v1alpha1.EventLoggedIn, "Login",
			"Logged in; the token is valid until %s", timestamp(tok.ExpiresAt))
	} else {
		r.event(vbc, corev1.EventTypeNormal, v1alpha1.EventTokenRefreshed, "Login",
			"Token refreshed; the new token is valid until %s", timestamp(tok.ExpiresAt))
	}
	return partResult{Token: &tok, Wake: renew.Time}
}

// loginFailed records a failed login: the stored token stays, the failure is
// counted and described, and the next attempt is scheduled.
func (r *VoipbinCredentialReconciler) loginFailed(ctx context.Context, vbc *v1alpha1.VoipbinCredential,
	stored storedCredential, inputsNow string, f failure, now time.Time) partResult {
	st := vbc.Status.Token
	st.FailedAttempts++
	st.LastFailureTime = metaTime(now)
	st.LastFailureMessage = failureMessage("login", f)

	var validUntil *time.Time
	if stored.valid(now) {
		validUntil = &stored.expiresAt
	}
	wake := nextAttempt(f, st.FailedAttempts, validUntil, now, vbc.UID)
	r.memory.failed(vbc, partLogin, inputsNow, wake)

	logf.FromContext(ctx).Info("login failed", "reason", f.Reason, "failedAttempts", st.FailedAttempts,
		"nextAttempt", timestamp(wake))
	if validUntil != nil && f.Reason != v1alpha1.ReasonAccountDisabled {
		setCondition(vbc, v1alpha1.ConditionTokenReady, metav1.ConditionTrue, v1alpha1.ReasonRefreshFailing,
			fmt.Sprintf("%s; the stored token is valid until %s", st.LastFailureMessage, timestamp(*validUntil)), now)
	} else {
		setCondition(vbc, v1alpha1.ConditionTokenReady, metav1.ConditionFalse, f.Reason, st.LastFailureMessage, now)
	}
	if st.FailedAttempts == 1 {
		r.event(vbc, corev1.EventTypeWarning, v1alpha1.EventLoginFailed, "Login", "%s", st.LastFailureMessage)
	}
	return partResult{Wake: wake}
}

// tokenMessage is TokenReady's message while the token is good.
func tokenMessage(st *v1alpha1.TokenStatus, renew renewal) string {
	msg := fmt.Sprintf("token valid until %s, renewal at %s", timestamp(st.ExpiresAt.Time), timestamp(renew.Time))
	if renew.RenewBeforeIgnored {
		msg += " (renewBefore is not shorter than the token's lifetime: a third of the lifetime is used)"
	}
	return msg
}

// storedCredential is what the managed Secret holds of one credential.
type storedCredential struct {
	// present: the Secret holds the credential as the operator wrote it.
	present bool
	// expiresAt is its known expiry (zero: unknown).
	expiresAt time.Time
}

// valid reports whether the stored credential can be used now.
func (s storedCredential) valid(now time.Time) bool {
	return s.present && (s.expiresAt.IsZero() || now.Before(s.expiresAt))
}

// knownExpiry is the expiry of a stored credential, or nil when none is stored
// or its expiry is unknown.
func (s storedCredential) knownExpiry() *time.Time {
	if !s.present || s.expiresAt.IsZero() {
		return nil
	}
	return &s.expiresAt
}

// storedToken is the token of the managed Secret, if it is as the operator wrote it.
func storedToken(vbc *v1alpha1.VoipbinCredential, existing *corev1.Secret) storedCredential {
	if !intactPart(existing, vbc, partLogin) || len(existing.Data[v1alpha1.SecretKeyToken]) == 0 || vbc.Status.Token.ExpiresAt == nil {
		return storedCredential{}
	}
	return storedCredential{present: true, expiresAt: vbc.Status.Token.ExpiresAt.Time}
}

func renewBeforeOf(vbc *v1alpha1.VoipbinCredential) *time.Duration {
	if vbc.Spec.RenewBefore == nil {
		return nil
	}
	return &vbc.Spec.RenewBefore.Duration
}

// refreshRequested reports whether the refresh-requested-at annotation holds a
// value not yet handled.
func refreshRequested(vbc *v1alpha1.VoipbinCredential) bool {
	v := vbc.Annotations[v1alpha1.AnnotationRefreshRequestedAt]
	return v != "" && v != vbc.Status.LastHandledRefreshRequest
}

func firstInputError(errs ...*inputError) *inputError {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// adoptToken fills an empty status.token from a managed Secret left by a deleted
// VoipbinCredential of the same name (deletionPolicy Retain): the stored token is
// used until its renewal, as if this VoipbinCredential had obtained it from the
// current inputs, instead of logging in again.
func adoptToken(ctx context.Context, vbc *v1alpha1.VoipbinCredential, existing *corev1.Secret, in inputs) {
	if !intactFor(existing, vbc) || len(existing.Data[v1alpha1.SecretKeyToken]) == 0 ||
		string(existing.Data[v1alpha1.SecretKeyAPIURL]) != in.Endpoint.URL {
		return
	}
	expiresAt, err := time.Parse(time.RFC3339, string(existing.Data[v1alpha1.SecretKeyExpiresAt]))
	if err != nil {
		return
	}
	issuedAt, err := time.Parse(time.RFC3339, existing.Annotations[v1alpha1.AnnotationTokenIssuedAt])
	if err != nil || !issuedAt.Before(expiresAt) {
		issuedAt = expiresAt.Add(-voipbin.DefaultTokenLifetime)
	}
	st := vbc.Status.Token
	st.IssuedAt, st.ExpiresAt = metaTime(issuedAt), metaTime(expiresAt)
	st.LoginSecretVersion, st.EndpointHash = in.Login.Version, in.Endpoint.Hash
	logf.FromContext(ctx).Info("adopted the token of a retained Secret", "expiresAt", timestamp(expiresAt))
}

// deferred handles a due call refused on this side because a 429's Retry-After
// (seen by any worker) still holds: not an attempt, only a wait until until. A
// credential with nothing usable stored reports RateLimited meanwhile.
func deferred(ctx context.Context, vbc *v1alpha1.VoipbinCredential, condType string, storedValid bool,
	until, now time.Time) partResult {
	logf.FromContext(ctx).V(1).Info("call deferred: the API asked to wait", "condition", condType, "until", timestamp(until))
	if !storedValid && !isTrue(vbc, condType) {
		setCondition(vbc, condType, metav1.ConditionFalse, v1alpha1.ReasonRateLimited,
			"waiting for the API's Retry-After (HTTP 429 seen by another request) until "+timestamp(until), now)
	}
	return partResult{Wake: until, Deferred: true}
}
