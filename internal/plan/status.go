package plan

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

// setCondition sets a condition of vbc with the generation it was computed from.
// The transition time changes only when the status does.
func setCondition(vbc *v1alpha1.VoipbinCredential, condType string, status metav1.ConditionStatus,
	reason, message string, now time.Time) {
	meta.SetStatusCondition(&vbc.Status.Conditions, metav1.Condition{
		Type:               condType,
		Status:             status,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: vbc.Generation,
		LastTransitionTime: metav1.NewTime(now.Truncate(time.Second)),
	})
}

// specChangedSince reports whether vbc's spec changed since condition condType
// was last set: for a failing credential, since its last attempt (a failure
// sets the condition), so that an edit of the spec (another usernameKey,
// passwordKey or key) brings an attempt at once, also after a restart.
func specChangedSince(vbc *v1alpha1.VoipbinCredential, condType string) bool {
	c := meta.FindStatusCondition(vbc.Status.Conditions, condType)
	return c != nil && c.ObservedGeneration != vbc.Generation
}

// isTrue reports whether condition condType of vbc is True.
func isTrue(vbc *v1alpha1.VoipbinCredential, condType string) bool {
	return meta.IsStatusConditionTrue(vbc.Status.Conditions, condType)
}

// isTrueIn reports whether condition condType of status is True.
func isTrueIn(status *v1alpha1.VoipbinCredentialStatus, condType string) bool {
	return meta.IsStatusConditionTrue(status.Conditions, condType)
}

// findCondition returns condition condType of status, or nil.
func findCondition(status *v1alpha1.VoipbinCredentialStatus, condType string) *metav1.Condition {
	return meta.FindStatusCondition(status.Conditions, condType)
}

// pruneStatus removes the status of spec sections that are no longer set.
func pruneStatus(vbc *v1alpha1.VoipbinCredential) {
	if vbc.Spec.Login == nil {
		vbc.Status.Token = nil
		meta.RemoveStatusCondition(&vbc.Status.Conditions, v1alpha1.ConditionTokenReady)
	} else if vbc.Status.Token == nil {
		vbc.Status.Token = &v1alpha1.TokenStatus{}
	}
	if vbc.Spec.AccessKey == nil {
		vbc.Status.AccessKey = nil
		meta.RemoveStatusCondition(&vbc.Status.Conditions, v1alpha1.ConditionAccessKeyValid)
	} else if vbc.Status.AccessKey == nil {
		vbc.Status.AccessKey = &v1alpha1.AccessKeyStatus{}
	}
}

// partConditions returns the condition types of the credentials vbc asks for.
func partConditions(vbc *v1alpha1.VoipbinCredential) []string {
	var types []string
	if vbc.Spec.Login != nil {
		types = append(types, v1alpha1.ConditionTokenReady)
	}
	if vbc.Spec.AccessKey != nil {
		types = append(types, v1alpha1.ConditionAccessKeyValid)
	}
	return types
}

// setAllFalse sets every credential's condition and Ready to False with reason:
// for what blocks the whole VoipbinCredential (APIURLNotAllowed, SecretConflict).
func setAllFalse(vbc *v1alpha1.VoipbinCredential, reason, message string, now time.Time) {
	for _, t := range partConditions(vbc) {
		setCondition(vbc, t, metav1.ConditionFalse, reason, message, now)
	}
	setCondition(vbc, v1alpha1.ConditionReady, metav1.ConditionFalse, reason, message, now)
}

// setReady computes Ready from TokenReady and AccessKeyValid: False
// with the first failing reason in the order SecretNotFound/SecretKeyMissing,
// then TokenReady's, then AccessKeyValid's; else True, with RefreshFailing when
// a refresh is failing, else Ready.
func setReady(vbc *v1alpha1.VoipbinCredential, now time.Time) {
	types := partConditions(vbc)
	parts := make([]*metav1.Condition, 0, len(types))
	for _, t := range types {
		c := meta.FindStatusCondition(vbc.Status.Conditions, t)
		if c == nil {
			c = &metav1.Condition{Type: t, Status: metav1.ConditionUnknown, Reason: v1alpha1.ReasonPending, Message: "not checked yet"}
		}
		parts = append(parts, c)
	}
	for _, c := range parts {
		if c.Status != metav1.ConditionTrue &&
			(c.Reason == v1alpha1.ReasonSecretNotFound || c.Reason == v1alpha1.ReasonSecretKeyMissing) {
			setCondition(vbc, v1alpha1.ConditionReady, metav1.ConditionFalse, c.Reason, c.Message, now)
			return
		}
	}
	for _, c := range parts {
		if c.Status != metav1.ConditionTrue {
			setCondition(vbc, v1alpha1.ConditionReady, metav1.ConditionFalse, c.Reason, c.Message, now)
			return
		}
	}
	reason, message := v1alpha1.ReasonReady, ""
	for _, c := range parts {
		if c.Reason == v1alpha1.ReasonRefreshFailing {
			reason = v1alpha1.ReasonRefreshFailing
		}
		message = joinMessage(message, c.Message)
	}
	setCondition(vbc, v1alpha1.ConditionReady, metav1.ConditionTrue, reason, message, now)
}

func joinMessage(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// timestamp formats t for condition messages: RFC 3339, UTC, whole seconds.
func timestamp(t time.Time) string {
	return t.UTC().Truncate(time.Second).Format(time.RFC3339)
}

// metaTime returns t as a status time, whole seconds as the API server stores it.
func metaTime(t time.Time) *metav1.Time {
	mt := metav1.NewTime(t.Truncate(time.Second))
	return &mt
}

// timeOf returns the time of a status field, or the zero time.
func timeOf(t *metav1.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.Time
}

// setKStatus sets the kstatus conditions from Ready and the parts: Stalled True
// with the reason of a failure only a person can fix (also while Ready stays
// True on a still-valid token), else Reconciling True while Ready is not True;
// the other one removed. So kstatus computes Current for a Ready CR, Failed for
// a stalled one and InProgress otherwise.
func setKStatus(vbc *v1alpha1.VoipbinCredential, stallReason, stallMessage string, now time.Time) {
	conds := &vbc.Status.Conditions
	if stallReason != "" {
		setCondition(vbc, v1alpha1.ConditionStalled, metav1.ConditionTrue, stallReason, stallMessage, now)
		meta.RemoveStatusCondition(conds, v1alpha1.ConditionReconciling)
		return
	}
	meta.RemoveStatusCondition(conds, v1alpha1.ConditionStalled)
	ready := meta.FindStatusCondition(*conds, v1alpha1.ConditionReady)
	if ready == nil || ready.Status == metav1.ConditionTrue {
		meta.RemoveStatusCondition(conds, v1alpha1.ConditionReconciling)
		return
	}
	setCondition(vbc, v1alpha1.ConditionReconciling, metav1.ConditionTrue, ready.Reason, ready.Message, now)
}
