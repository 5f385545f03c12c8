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

// reconcileAccessKey keeps spec.accessKey's key validated: it lists the accesskeys
// with the key itself when a check is due, and records the outcome in
// status.accessKey and the AccessKeyValid condition. A key is published only once
// valid; a key that turns invalid stays in the Secret (removing it helps no pod)
// while AccessKeyValid says what is wrong.
func (r *VoipbinCredentialReconciler) reconcileAccessKey(ctx context.Context, vbc *v1alpha1.VoipbinCredential,
	in inputs, existing *corev1.Secret, now time.Time) partResult {
	st := vbc.Status.AccessKey
	if inErr := firstInputError(in.EndpointErr, in.AccessKeyErr); inErr != nil {
		setCondition(vbc, v1alpha1.ConditionAccessKeyValid, metav1.ConditionFalse, inErr.Reason, inErr.Message, now)
		return partResult{}
	}

	stored := storedAccessKey(vbc, existing)
	validated := st.LastValidatedTime != nil
	sameKey := validated && st.SecretVersion == in.AccessKey.Version && st.EndpointHash == in.Endpoint.Hash
	interval := checkIntervalOf(vbc)
	inputsNow := attemptInputs(vbc, in.AccessKey.Version, in.Endpoint.Hash, stored.present)
	due, wake := dueCheck{
		Retry:        r.memory.retry(vbc, partAccessKey, inputsNow),
		Failing:      st.FailedAttempts > 0,
		FailingRetry: failingRetry(st.FailedAttempts, timeOf(st.LastFailureTime), stored.knownExpiry(), vbc.UID),
		Changed: !sameKey || (validated && !stored.present) || refreshRequested(vbc) ||
			(st.FailedAttempts > 0 && specChangedSince(vbc, v1alpha1.ConditionAccessKeyValid)),
		Scheduled: accessKeyCheckTime(st, sameKey, interval),
	}.isDue(now)
	if !due {
		if st.FailedAttempts == 0 && sameKey {
			setCondition(vbc, v1alpha1.ConditionAccessKeyValid, metav1.ConditionTrue, v1alpha1.ReasonValidated,
				accessKeyMessage(st), now)
		}
		return partResult{Wake: wake}
	}
	if stopping(ctx) {
		return partResult{Wake: now, Deferred: true}
	}

	client, err := r.clients.get(in.Endpoint)
	if err != nil {
		return r.accessKeyFailed(ctx, vbc, sameKey, stored, inputsNow, failure{Kind: failurePermanent,
			Reason: v1alpha1.ReasonUnexpectedResponse, Description: "invalid apiURL"}, now)
	}
	info, err := client.ValidateAccessKey(ctx, in.AccessKey.Key)
	if err != nil {
		if wait, ok := deferredBy(err); ok {
			return deferred(ctx, vbc, v1alpha1.ConditionAccessKeyValid, sameKey && stored.valid(now), now.Add(wait), now)
		}
		return r.accessKeyFailed(ctx, vbc, sameKey, stored, inputsNow, classifyAccessKeyFailure(err, st, sameKey, now), now)
	}

	return r.accessKeyValidated(ctx, vbc, in, info, now)
}

// classifyAccessKeyFailure classifies a failed check: a key refused (401) at
// or after the known expiry of the same key is AccessKeyExpired, before it
// InvalidCredentials.
func classifyAccessKeyFailure(err error, st *v1alpha1.AccessKeyStatus, sameKey bool, now time.Time) failure {
	f := classify(err, "accesskey")
	if f.Reason == v1alpha1.ReasonInvalidCredentials && sameKey && st.ExpiresAt != nil && !now.Before(st.ExpiresAt.Time) {
		f.Reason = v1alpha1.ReasonAccessKeyExpired
		f.Description = fmt.Sprintf("the accesskey expired at %s", timestamp(st.ExpiresAt.Time))
	}
	return f
}

// accessKeyValidated records a successful check and publishes the key.
func (r *VoipbinCredentialReconciler) accessKeyValidated(ctx context.Context, vbc *v1alpha1.VoipbinCredential,
	in inputs, info voipbin.AccessKeyInfo, now time.Time) partResult {
	st := vbc.Status.AccessKey
	r.memory.succeeded(vbc, partAccessKey)
	wasValid := isTrue(vbc, v1alpha1.ConditionAccessKeyValid)
	st.ID, st.Name, st.Prefix = info.ID, info.Name, info.Prefix
	st.ExpiresAt = nil
	if !info.ExpiresAt.IsZero() {
		st.ExpiresAt = metaTime(info.ExpiresAt)
	}
	st.LastValidatedTime = metaTime(now)
	st.SecretVersion, st.EndpointHash = in.AccessKey.Version, in.Endpoint.Hash
	st.FailedAttempts = 0
	setCondition(vbc, v1alpha1.ConditionAccessKeyValid, metav1.ConditionTrue, v1alpha1.ReasonValidated, accessKeyMessage(st), now)
	logf.FromContext(ctx).Info("accesskey validated", "prefix", st.Prefix, "found", info.Found)
	if !wasValid {
		r.event(vbc, corev1.EventTypeNormal, v1alpha1.EventAccessKeyValidated, "Validate", "%s", accessKeyMessage(st))
	}
	return partResult{AccessKey: in.AccessKey.Key, Wake: accessKeyCheckTime(st, true, checkIntervalOf(vbc))}
}

// accessKeyFailed records a failed check. A key that was valid and has not
// expired stays True (RefreshFailing) through transient trouble; a 401 or 403
// turns it False.
func (r *VoipbinCredentialReconciler) accessKeyFailed(ctx context.Context, vbc *v1alpha1.VoipbinCredential,
	sameKey bool, stored storedCredential, inputsNow string, f failure, now time.Time) partResult {
	st := vbc.Status.AccessKey
	wasValid := isTrue(vbc, v1alpha1.ConditionAccessKeyValid)
	st.FailedAttempts++
	st.LastFailureTime = metaTime(now)
	st.LastFailureMessage = failureMessage("accesskey check", f)

	keyRejected := f.Reason == v1alpha1.ReasonInvalidCredentials || f.Reason == v1alpha1.ReasonAccessKeyExpired ||
		f.Reason == v1alpha1.ReasonAccountDisabled
	var validUntil *time.Time // nil: plain backoff
	if sameKey && stored.valid(now) && !keyRejected {
		validUntil = stored.knownExpiry()
	}
	wake := nextAttempt(f, st.FailedAttempts, validUntil, now, vbc.UID)
	r.memory.failed(vbc, partAccessKey, inputsNow, wake)

	logf.FromContext(ctx).Info("accesskey check failed", "reason", f.Reason, "failedAttempts", st.FailedAttempts,
		"nextAttempt", timestamp(wake))
	if sameKey && stored.valid(now) && !keyRejected {
		msg := st.LastFailureMessage + "; the stored accesskey was valid at " + timestamp(st.LastValidatedTime.Time)
		setCondition(vbc, v1alpha1.ConditionAccessKeyValid, metav1.ConditionTrue, v1alpha1.ReasonRefreshFailing, msg, now)
		return partResult{Wake: wake}
	}
	setCondition(vbc, v1alpha1.ConditionAccessKeyValid, metav1.ConditionFalse, f.Reason, st.LastFailureMessage, now)
	if wasValid || st.FailedAttempts == 1 {
		r.event(vbc, corev1.EventTypeWarning, v1alpha1.EventAccessKeyInvalid, "Validate", "%s", st.LastFailureMessage)
	}
	return partResult{Wake: wake}
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

// storedAccessKey is the accesskey of the managed Secret, if it is as the operator wrote it.
func storedAccessKey(vbc *v1alpha1.VoipbinCredential, existing *corev1.Secret) storedCredential {
	if !intactPart(existing, vbc, partAccessKey) || len(existing.Data[v1alpha1.SecretKeyAccessKey]) == 0 {
		return storedCredential{}
	}
	return storedCredential{present: true, expiresAt: timeOf(vbc.Status.AccessKey.ExpiresAt)}
}

func checkIntervalOf(vbc *v1alpha1.VoipbinCredential) time.Duration {
	if d := vbc.Spec.AccessKeyCheckInterval; d != nil && d.Duration >= time.Minute {
		return d.Duration
	}
	return time.Hour
}
