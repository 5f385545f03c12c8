package plan

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

// The table tests of DecideRestarts, one rule each; restart_property_test.go
// checks the rules over random histories.

const (
	hashA = "sha256:aaaa"
	hashB = "sha256:bbbb"
)

// restartCR is a Ready VoipbinCredential with one target, Deployment "api", of
// minInterval interval.
func restartCR(interval time.Duration) *v1alpha1.VoipbinCredential {
	cr := &v1alpha1.VoipbinCredential{
		ObjectMeta: metav1.ObjectMeta{Name: "billing", Namespace: "apps", UID: "uid-1", Generation: 1},
		Spec: v1alpha1.VoipbinCredentialSpec{SecretName: "billing-voipbin",
			Login: &v1alpha1.LoginSpec{SecretRef: v1alpha1.LoginSecretRef{Name: "login"}},
			RolloutRestartTargets: []v1alpha1.RolloutRestartTarget{{Kind: v1alpha1.RolloutRestartDeployment, Name: "api",
				MinInterval: &metav1.Duration{Duration: interval}}},
		},
	}
	setCondition(cr, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady, "", t0.Add(-time.Hour))
	return cr
}

func api(restartedFor string, restartedAt time.Time) RestartTarget {
	return RestartTarget{Kind: v1alpha1.RolloutRestartDeployment, Name: "api", Found: true,
		RestartedFor: restartedFor, RestartedAt: restartedAt}
}

// restartRound does what the controller does in one reconcile: decide, make the
// patches (refused with failure when it is set), decide again with the outcomes.
// It returns the first plan and the final one, and the targets as patched.
func restartRound(t *testing.T, cr *v1alpha1.VoipbinCredential, hash string, targets []RestartTarget, now time.Time,
	failure string) (first, final RestartPlan, after []RestartTarget) {
	t.Helper()
	o := RestartObserved{CR: cr, Status: cr.Status, Enabled: true, Hash: hash, Targets: targets}
	first = DecideRestarts(o, now)
	after = applyRestartPatches(targets, first.Patches, failure)
	o.Targets = after
	final = DecideRestarts(o, now)
	if len(final.Patches) > 0 {
		t.Fatalf("the second decision, with every outcome in, asks for patches: %+v", final.Patches)
	}
	return first, final, after
}

// applyRestartPatches returns targets with patches made, as the controller does.
func applyRestartPatches(targets []RestartTarget, patches []RestartPatch, failure string) []RestartTarget {
	out := make([]RestartTarget, len(targets))
	copy(out, targets)
	for _, p := range patches {
		for i := range out {
			if out[i].Kind != p.Kind || out[i].Name != p.Name {
				continue
			}
			if failure != "" {
				out[i].Outcome = &RestartOutcome{Failure: failure}
				continue
			}
			out[i].RestartedFor = p.RestartedFor
			if !p.RestartAt.IsZero() {
				out[i].RestartedAt = p.RestartAt
			}
			out[i].Outcome = &RestartOutcome{Restarted: !p.RestartAt.IsZero()}
		}
	}
	return out
}

func restartCondition(s v1alpha1.VoipbinCredentialStatus) *metav1.Condition {
	return meta.FindStatusCondition(s.Conditions, v1alpha1.ConditionRolloutRestartTargetsReady)
}

func eventReasons(events []Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.Type+"/"+e.Reason)
	}
	return out
}

func TestRestartFirstSightingRecordsABaselineWithoutRestart(t *testing.T) {
	cr := restartCR(5 * time.Minute)
	first, final, after := restartRound(t, cr, hashA, []RestartTarget{api("", time.Time{})}, t0, "")
	if len(first.Patches) != 1 || !first.Patches[0].RestartAt.IsZero() || first.Patches[0].RestartedFor != hashA {
		t.Fatalf("want one baseline patch recording %s and no restart, got %+v", hashA, first.Patches)
	}
	if after[0].RestartedFor != hashA {
		t.Fatalf("baseline not recorded: %+v", after[0])
	}
	if len(final.Events) != 0 {
		t.Errorf("events on a first sighting: %v", eventReasons(final.Events))
	}
	if c := restartCondition(final.Status); c == nil || c.Reason != v1alpha1.ReasonUpToDate || c.Status != metav1.ConditionTrue {
		t.Errorf("condition %+v, want True/UpToDate", c)
	}
}

func TestRestartOnlyWhenTheCredentialChanged(t *testing.T) {
	cr := restartCR(5 * time.Minute)
	last := t0.Add(-time.Hour)
	// Nothing changed: an operator restart or a no-op reconcile.
	first, final, _ := restartRound(t, cr, hashA, []RestartTarget{api(hashA, last)}, t0, "")
	if len(first.Patches) != 0 || len(final.Events) != 0 || !final.Wake.IsZero() {
		t.Fatalf("nothing changed, yet patches %+v, events %v, wake %v", first.Patches, eventReasons(final.Events), final.Wake)
	}
	if st := final.Status.RolloutRestarts; len(st) != 1 || !st[0].LastRestartTime.Time.Equal(last) {
		t.Errorf("status %+v, want the last restart time %v", st, last)
	}

	// A new credential: restarted at once, and the new hash recorded.
	first, final, after := restartRound(t, cr, hashB, []RestartTarget{api(hashA, last)}, t0, "")
	if len(first.Patches) != 1 || !first.Patches[0].RestartAt.Equal(t0) || first.Patches[0].RestartedFor != hashB {
		t.Fatalf("want a restart at %v for %s, got %+v", t0, hashB, first.Patches)
	}
	if got := eventReasons(final.Events); len(got) != 1 || got[0] != "Normal/"+v1alpha1.EventRolloutRestarted {
		t.Errorf("events %v, want one RolloutRestarted", got)
	}
	if st := final.Status.RolloutRestarts[0]; !st.LastRestartTime.Time.Equal(t0) || st.NextRestartTime != nil || st.Message != "" {
		t.Errorf("status %+v after the restart", st)
	}
	// The next reconcile, after the restart: nothing more.
	first, _, _ = restartRound(t, cr, hashB, after, t0.Add(time.Second), "")
	if len(first.Patches) != 0 {
		t.Errorf("a second restart for the same credential: %+v", first.Patches)
	}
}

func TestRestartsInABurstWaitForMinIntervalAndRestartForTheLast(t *testing.T) {
	cr := restartCR(5 * time.Minute)
	last := t0.Add(-time.Minute) // restarted a minute ago for hashA
	first, final, _ := restartRound(t, cr, hashB, []RestartTarget{api(hashA, last)}, t0, "")
	if len(first.Patches) != 0 {
		t.Fatalf("restarted within minInterval: %+v", first.Patches)
	}
	due := last.Add(5 * time.Minute)
	if !final.Wake.Equal(due) {
		t.Errorf("wake %v, want the end of minInterval %v", final.Wake, due)
	}
	if c := restartCondition(final.Status); c == nil || c.Reason != v1alpha1.ReasonRestartScheduled || c.Status != metav1.ConditionTrue {
		t.Errorf("condition %+v, want True/RestartScheduled", c)
	}
	if st := final.Status.RolloutRestarts[0]; st.NextRestartTime == nil || !st.NextRestartTime.Time.Equal(due) {
		t.Errorf("nextRestartTime %+v, want %v", st.NextRestartTime, due)
	}
	// Another change before the due time: still one restart, at the due time, for the last.
	const hashC = "sha256:cccc"
	first, _, _ = restartRound(t, cr, hashC, []RestartTarget{api(hashA, last)}, due.Add(-time.Second), "")
	if len(first.Patches) != 0 {
		t.Fatalf("restarted within minInterval: %+v", first.Patches)
	}
	first, _, _ = restartRound(t, cr, hashC, []RestartTarget{api(hashA, last)}, due, "")
	if len(first.Patches) != 1 || first.Patches[0].RestartedFor != hashC || !first.Patches[0].RestartAt.Equal(due) {
		t.Errorf("at the due time, want a restart for %s, got %+v", hashC, first.Patches)
	}
}

func TestMissingTargetIsAWarningAndLeavesReadyAlone(t *testing.T) {
	cr := restartCR(5 * time.Minute)
	missing := RestartTarget{Kind: v1alpha1.RolloutRestartDeployment, Name: "api"}
	_, final, _ := restartRound(t, cr, hashA, []RestartTarget{missing}, t0, "")
	c := restartCondition(final.Status)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.ReasonRolloutRestartFailed ||
		c.Message != `Deployment "api": not found in this namespace` {
		t.Errorf("condition %+v", c)
	}
	if !meta.IsStatusConditionTrue(final.Status.Conditions, v1alpha1.ConditionReady) {
		t.Error("Ready is no longer True")
	}
	if got := eventReasons(final.Events); len(got) != 1 || got[0] != "Warning/"+v1alpha1.EventRolloutRestartFailed {
		t.Errorf("events %v, want one RolloutRestartFailed", got)
	}
	if !final.Wake.Equal(t0.Add(5 * time.Minute)) {
		t.Errorf("wake %v, want a look again after minInterval", final.Wake)
	}
	// The next reconcile, with the status written: no second event.
	cr.Status = final.Status
	_, again, _ := restartRound(t, cr, hashA, []RestartTarget{missing}, t0.Add(5*time.Minute), "")
	if len(again.Events) != 0 {
		t.Errorf("the same failure reported again: %v", eventReasons(again.Events))
	}
	// A refused patch is a failure too, with the controller's message.
	cr = restartCR(5 * time.Minute)
	_, final, _ = restartRound(t, cr, hashB, []RestartTarget{api(hashA, time.Time{})}, t0,
		"the operator may not patch it (Forbidden)")
	if c := restartCondition(final.Status); c == nil || c.Message != `Deployment "api": the operator may not patch it (Forbidden)` {
		t.Errorf("condition %+v", c)
	}
}

func TestRestartsDisabledPatchNothingAndSaySo(t *testing.T) {
	cr := restartCR(5 * time.Minute)
	o := RestartObserved{CR: cr, Status: cr.Status, Enabled: false, Hash: hashB}
	p := DecideRestarts(o, t0)
	if len(p.Patches) != 0 {
		t.Fatalf("patches while disabled: %+v", p.Patches)
	}
	c := restartCondition(p.Status)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.ReasonRolloutRestartsDisabled {
		t.Errorf("condition %+v", c)
	}
	if got := eventReasons(p.Events); len(got) != 1 || got[0] != "Warning/"+v1alpha1.EventRolloutRestartFailed {
		t.Errorf("events %v", got)
	}
	cr.Status = p.Status
	if again := DecideRestarts(RestartObserved{CR: cr, Status: cr.Status, Hash: hashB}, t0.Add(time.Minute)); len(again.Events) != 0 {
		t.Errorf("the disabled warning repeated: %v", eventReasons(again.Events))
	}
}

func TestNoTargetsNoRestartStatus(t *testing.T) {
	cr := restartCR(5 * time.Minute)
	cr.Status.RolloutRestarts = []v1alpha1.RolloutRestartStatus{{Kind: v1alpha1.RolloutRestartDeployment, Name: "api"}}
	setCondition(cr, v1alpha1.ConditionRolloutRestartTargetsReady, metav1.ConditionTrue, v1alpha1.ReasonUpToDate, "", t0)
	cr.Spec.RolloutRestartTargets = nil
	p := DecideRestarts(RestartObserved{CR: cr, Status: cr.Status, Enabled: true, Hash: hashA}, t0)
	if p.Status.RolloutRestarts != nil || restartCondition(p.Status) != nil {
		t.Errorf("status of removed targets kept: %+v", p.Status)
	}
	if !meta.IsStatusConditionTrue(p.Status.Conditions, v1alpha1.ConditionReady) {
		t.Error("Ready removed with the targets")
	}
}

func TestNoCredentialYetNoPatch(t *testing.T) {
	cr := restartCR(5 * time.Minute)
	first, final, _ := restartRound(t, cr, "", []RestartTarget{api("", time.Time{})}, t0, "")
	if len(first.Patches) != 0 {
		t.Fatalf("a baseline without a credential: %+v", first.Patches)
	}
	if c := restartCondition(final.Status); c == nil || c.Status != metav1.ConditionUnknown {
		t.Errorf("condition %+v, want Unknown", c)
	}
}

func TestRestartTimeInTheFutureDoesNotHoldARestartBack(t *testing.T) {
	cr := restartCR(5 * time.Minute)
	first, _, _ := restartRound(t, cr, hashB, []RestartTarget{api(hashA, t0.Add(365*24*time.Hour))}, t0, "")
	if len(first.Patches) != 1 || first.Patches[0].RestartAt.IsZero() {
		t.Errorf("a restart time a year ahead held the restart back: %+v", first.Patches)
	}
}

func TestConflictLooksAgainSoonWithoutAFailure(t *testing.T) {
	cr := restartCR(5 * time.Minute)
	target := api(hashA, time.Time{})
	target.Outcome = &RestartOutcome{Retry: true}
	p := DecideRestarts(RestartObserved{CR: cr, Status: cr.Status, Enabled: true, Hash: hashB, Targets: []RestartTarget{target}}, t0)
	if len(p.Patches) != 0 || len(p.Events) != 0 || !p.Wake.Equal(t0.Add(retrySoon)) {
		t.Errorf("patches %+v, events %v, wake %v", p.Patches, eventReasons(p.Events), p.Wake)
	}
}

func TestSecretHashOnlyOfTheCRsOwnSecret(t *testing.T) {
	cr := restartCR(5 * time.Minute)
	own := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "billing-voipbin", Namespace: "apps",
		Labels:      map[string]string{v1alpha1.LabelCredential: "billing"},
		Annotations: map[string]string{v1alpha1.AnnotationDataHash: hashA}}}
	if got := SecretHash(own, cr); got != hashA {
		t.Errorf("own Secret: %q", got)
	}
	other := own.DeepCopy()
	other.Labels[v1alpha1.LabelCredential] = "someone-else"
	if got := SecretHash(other, cr); got != "" {
		t.Errorf("another credential's Secret: %q", got)
	}
	if got := SecretHash(nil, cr); got != "" {
		t.Errorf("no Secret: %q", got)
	}
}
