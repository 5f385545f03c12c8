package plan

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

func testCond(condType string, status metav1.ConditionStatus, reason, message string) metav1.Condition {
	return metav1.Condition{Type: condType, Status: status, Reason: reason, Message: message,
		LastTransitionTime: metav1.NewTime(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))}
}

func tokenCond(status metav1.ConditionStatus, reason string) metav1.Condition {
	return testCond(v1alpha1.ConditionTokenReady, status, reason, "token: "+reason)
}

func keyCond(status metav1.ConditionStatus, reason string) metav1.Condition {
	return testCond(v1alpha1.ConditionAccessKeyValid, status, reason, "accesskey: "+reason)
}

func TestSetReady(t *testing.T) {
	const (
		tru = metav1.ConditionTrue
		fls = metav1.ConditionFalse
		unk = metav1.ConditionUnknown
	)
	now := time.Date(2025, 3, 1, 12, 0, 0, 700_000_000, time.UTC)
	tests := []struct {
		name        string
		login, key  bool
		conditions  []metav1.Condition
		wantStatus  metav1.ConditionStatus
		wantReason  string // "" with False: any reason but a True one
		wantMessage string // "" means not checked
	}{
		{name: "login ok", login: true,
			conditions: []metav1.Condition{tokenCond(tru, v1alpha1.ReasonLoggedIn)},
			wantStatus: tru, wantReason: v1alpha1.ReasonReady},
		{name: "both ok", login: true, key: true,
			conditions: []metav1.Condition{tokenCond(tru, v1alpha1.ReasonLoggedIn), keyCond(tru, v1alpha1.ReasonValidated)},
			wantStatus: tru, wantReason: v1alpha1.ReasonReady},
		{name: "accesskey refresh failing", login: true, key: true,
			conditions: []metav1.Condition{tokenCond(tru, v1alpha1.ReasonLoggedIn),
				keyCond(tru, v1alpha1.ReasonRefreshFailing)},
			wantStatus: tru, wantReason: v1alpha1.ReasonRefreshFailing},
		{name: "token refresh failing", login: true, key: true,
			conditions: []metav1.Condition{tokenCond(tru, v1alpha1.ReasonRefreshFailing),
				keyCond(tru, v1alpha1.ReasonValidated)},
			wantStatus: tru, wantReason: v1alpha1.ReasonRefreshFailing,
			wantMessage: "token: RefreshFailing; accesskey: Validated"},
		{name: "token refresh failing, login only", login: true,
			conditions: []metav1.Condition{tokenCond(tru, v1alpha1.ReasonRefreshFailing)},
			wantStatus: tru, wantReason: v1alpha1.ReasonRefreshFailing, wantMessage: "token: RefreshFailing"},
		{name: "accesskey only, ok", key: true,
			conditions: []metav1.Condition{keyCond(tru, v1alpha1.ReasonValidated)},
			wantStatus: tru, wantReason: v1alpha1.ReasonReady},
		{name: "accesskey only, a stale TokenReady does not count", key: true,
			conditions: []metav1.Condition{tokenCond(fls, v1alpha1.ReasonInvalidCredentials),
				keyCond(tru, v1alpha1.ReasonValidated)},
			wantStatus: tru, wantReason: v1alpha1.ReasonReady},
		{name: "login only, a stale AccessKeyValid does not count", login: true,
			conditions: []metav1.Condition{tokenCond(tru, v1alpha1.ReasonLoggedIn),
				keyCond(fls, v1alpha1.ReasonSecretNotFound)},
			wantStatus: tru, wantReason: v1alpha1.ReasonReady},
		{name: "accesskey only, expired", key: true,
			conditions: []metav1.Condition{keyCond(fls, v1alpha1.ReasonAccessKeyExpired)},
			wantStatus: fls, wantReason: v1alpha1.ReasonAccessKeyExpired, wantMessage: "accesskey: AccessKeyExpired"},
		{name: "SecretNotFound of the accesskey beats TokenReady's reason", login: true, key: true,
			conditions: []metav1.Condition{tokenCond(fls, v1alpha1.ReasonInvalidCredentials),
				keyCond(fls, v1alpha1.ReasonSecretNotFound)},
			wantStatus: fls, wantReason: v1alpha1.ReasonSecretNotFound, wantMessage: "accesskey: SecretNotFound"},
		{name: "SecretKeyMissing of the accesskey beats TokenReady's reason", login: true, key: true,
			conditions: []metav1.Condition{tokenCond(fls, v1alpha1.ReasonAPIUnavailable),
				keyCond(fls, v1alpha1.ReasonSecretKeyMissing)},
			wantStatus: fls, wantReason: v1alpha1.ReasonSecretKeyMissing},
		{name: "SecretKeyMissing of the accesskey beats a True token", login: true, key: true,
			conditions: []metav1.Condition{tokenCond(tru, v1alpha1.ReasonRefreshFailing),
				keyCond(fls, v1alpha1.ReasonSecretKeyMissing)},
			wantStatus: fls, wantReason: v1alpha1.ReasonSecretKeyMissing},
		{name: "both Secret problems: TokenReady's first", login: true, key: true,
			conditions: []metav1.Condition{tokenCond(fls, v1alpha1.ReasonSecretKeyMissing),
				keyCond(fls, v1alpha1.ReasonSecretNotFound)},
			wantStatus: fls, wantReason: v1alpha1.ReasonSecretKeyMissing, wantMessage: "token: SecretKeyMissing"},
		{name: "TokenReady's reason before AccessKeyValid's", login: true, key: true,
			conditions: []metav1.Condition{tokenCond(fls, v1alpha1.ReasonAccountDisabled),
				keyCond(fls, v1alpha1.ReasonInvalidCredentials)},
			wantStatus: fls, wantReason: v1alpha1.ReasonAccountDisabled, wantMessage: "token: AccountDisabled"},
		{name: "TokenReady's reason before AccessKeyValid's, conditions listed the other way", login: true, key: true,
			conditions: []metav1.Condition{keyCond(fls, v1alpha1.ReasonRateLimited),
				tokenCond(fls, v1alpha1.ReasonTLSError)},
			wantStatus: fls, wantReason: v1alpha1.ReasonTLSError},
		{name: "token ok, accesskey invalid", login: true, key: true,
			conditions: []metav1.Condition{tokenCond(tru, v1alpha1.ReasonLoggedIn),
				keyCond(fls, v1alpha1.ReasonInvalidCredentials)},
			wantStatus: fls, wantReason: v1alpha1.ReasonInvalidCredentials},
		{name: "token refresh failing, accesskey expired", login: true, key: true,
			conditions: []metav1.Condition{tokenCond(tru, v1alpha1.ReasonRefreshFailing),
				keyCond(fls, v1alpha1.ReasonAccessKeyExpired)},
			wantStatus: fls, wantReason: v1alpha1.ReasonAccessKeyExpired},
		{name: "token failing with no stored token", login: true,
			conditions: []metav1.Condition{tokenCond(fls, v1alpha1.ReasonAPIUnavailable)},
			wantStatus: fls, wantReason: v1alpha1.ReasonAPIUnavailable},
		{name: "TokenReady Unknown", login: true, key: true,
			conditions: []metav1.Condition{tokenCond(unk, "Pending"), keyCond(tru, v1alpha1.ReasonValidated)},
			wantStatus: fls, wantReason: "Pending"},
		{name: "TokenReady missing: not Ready", login: true, key: true,
			conditions: []metav1.Condition{keyCond(tru, v1alpha1.ReasonValidated)},
			wantStatus: fls},
		{name: "no conditions at all: not Ready", login: true, key: true, wantStatus: fls},
		{name: "AccessKeyValid missing: not Ready", login: true, key: true,
			conditions: []metav1.Condition{tokenCond(tru, v1alpha1.ReasonLoggedIn)},
			wantStatus: fls},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vbc := testCredential(tt.login, tt.key)
			vbc.Generation = 7
			vbc.Status.Conditions = append([]metav1.Condition(nil), tt.conditions...)
			setReady(vbc, now)
			ready := meta.FindStatusCondition(vbc.Status.Conditions, v1alpha1.ConditionReady)
			if ready == nil {
				t.Fatal("no Ready condition")
			}
			if ready.Status != tt.wantStatus {
				t.Errorf("Ready = %s (%s: %q), want %s", ready.Status, ready.Reason, ready.Message, tt.wantStatus)
			}
			switch {
			case tt.wantReason != "" && ready.Reason != tt.wantReason:
				t.Errorf("Ready reason = %q, want %q", ready.Reason, tt.wantReason)
			case tt.wantReason == "" && (ready.Reason == "" || ready.Reason == v1alpha1.ReasonReady ||
				ready.Reason == v1alpha1.ReasonRefreshFailing):
				t.Errorf("Ready reason = %q, want a reason for not being ready", ready.Reason)
			}
			if tt.wantMessage != "" && ready.Message != tt.wantMessage {
				t.Errorf("Ready message = %q, want %q", ready.Message, tt.wantMessage)
			}
			if ready.ObservedGeneration != 7 {
				t.Errorf("ObservedGeneration = %d, want 7", ready.ObservedGeneration)
			}
			if want := now.Truncate(time.Second); !ready.LastTransitionTime.Time.Equal(want) {
				t.Errorf("LastTransitionTime = %s, want %s", ready.LastTransitionTime.Time, want)
			}
			// setReady only writes Ready.
			for _, c := range tt.conditions {
				got := meta.FindStatusCondition(vbc.Status.Conditions, c.Type)
				if got == nil || got.Status != c.Status || got.Reason != c.Reason || got.Message != c.Message {
					t.Errorf("setReady changed %s: %+v", c.Type, got)
				}
			}
		})
	}
}

func TestSetReadyKeepsTransitionTime(t *testing.T) {
	earlier := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	vbc := testCredential(true, false)
	vbc.Status.Conditions = []metav1.Condition{tokenCond(metav1.ConditionTrue, v1alpha1.ReasonLoggedIn)}
	setReady(vbc, earlier)
	// Still True, now with RefreshFailing: the status did not change, so the
	// transition time stays.
	vbc.Status.Conditions[0] = tokenCond(metav1.ConditionTrue, v1alpha1.ReasonRefreshFailing)
	setReady(vbc, earlier.Add(time.Hour))
	ready := meta.FindStatusCondition(vbc.Status.Conditions, v1alpha1.ConditionReady)
	if ready.Reason != v1alpha1.ReasonRefreshFailing || !ready.LastTransitionTime.Time.Equal(earlier) {
		t.Errorf("Ready = %s %s since %s, want True RefreshFailing since %s",
			ready.Status, ready.Reason, ready.LastTransitionTime.Time, earlier)
	}
	// False now: the transition time moves.
	vbc.Status.Conditions[0] = tokenCond(metav1.ConditionFalse, v1alpha1.ReasonAccountDisabled)
	setReady(vbc, earlier.Add(2*time.Hour))
	ready = meta.FindStatusCondition(vbc.Status.Conditions, v1alpha1.ConditionReady)
	if ready.Status != metav1.ConditionFalse || !ready.LastTransitionTime.Time.Equal(earlier.Add(2*time.Hour)) {
		t.Errorf("Ready = %s since %s, want False since %s", ready.Status, ready.LastTransitionTime.Time,
			earlier.Add(2*time.Hour))
	}
}

func TestPruneStatus(t *testing.T) {
	issued := metav1.NewTime(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
	fullStatus := func() v1alpha1.VoipbinCredentialStatus {
		return v1alpha1.VoipbinCredentialStatus{
			SecretName: "billing-voipbin",
			Conditions: []metav1.Condition{
				testCond(v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady, ""),
				tokenCond(metav1.ConditionTrue, v1alpha1.ReasonLoggedIn),
				keyCond(metav1.ConditionTrue, v1alpha1.ReasonValidated),
			},
			Token:     &v1alpha1.TokenStatus{IssuedAt: &issued, FailedAttempts: 2},
			AccessKey: &v1alpha1.AccessKeyStatus{Prefix: "vb_AbCdEfGh"},
		}
	}
	tests := []struct {
		name       string
		login, key bool
		status     v1alpha1.VoipbinCredentialStatus
		wantToken  bool
		wantKey    bool
		wantConds  []string
		// wantKept: the existing token/accesskey status is kept as it was.
		wantKept bool
	}{
		{name: "both set: nothing removed", login: true, key: true, status: fullStatus(),
			wantToken: true, wantKey: true, wantKept: true,
			wantConds: []string{v1alpha1.ConditionReady, v1alpha1.ConditionTokenReady, v1alpha1.ConditionAccessKeyValid}},
		{name: "login removed", key: true, status: fullStatus(), wantKey: true, wantKept: true,
			wantConds: []string{v1alpha1.ConditionReady, v1alpha1.ConditionAccessKeyValid}},
		{name: "accessKey removed", login: true, status: fullStatus(), wantToken: true, wantKept: true,
			wantConds: []string{v1alpha1.ConditionReady, v1alpha1.ConditionTokenReady}},
		{name: "new CR: empty status sections made", login: true, key: true,
			status: v1alpha1.VoipbinCredentialStatus{}, wantToken: true, wantKey: true},
		{name: "new CR, accesskey only", key: true,
			status: v1alpha1.VoipbinCredentialStatus{}, wantKey: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vbc := testCredential(tt.login, tt.key)
			vbc.Status = tt.status
			pruneStatus(vbc)
			if (vbc.Status.Token != nil) != tt.wantToken {
				t.Errorf("status.token = %+v, want present: %t", vbc.Status.Token, tt.wantToken)
			}
			if (vbc.Status.AccessKey != nil) != tt.wantKey {
				t.Errorf("status.accessKey = %+v, want present: %t", vbc.Status.AccessKey, tt.wantKey)
			}
			if tt.wantKept {
				if tt.wantToken && (vbc.Status.Token.FailedAttempts != 2 || vbc.Status.Token.IssuedAt == nil) {
					t.Errorf("status.token changed: %+v", vbc.Status.Token)
				}
				if tt.wantKey && vbc.Status.AccessKey.Prefix != "vb_AbCdEfGh" {
					t.Errorf("status.accessKey changed: %+v", vbc.Status.AccessKey)
				}
			}
			var got []string
			for _, c := range vbc.Status.Conditions {
				got = append(got, c.Type)
			}
			if !sameStringSet(got, tt.wantConds) {
				t.Errorf("conditions = %q, want %q", got, tt.wantConds)
			}
			if vbc.Status.SecretName != tt.status.SecretName {
				t.Errorf("status.secretName = %q, want %q", vbc.Status.SecretName, tt.status.SecretName)
			}
		})
	}
}
