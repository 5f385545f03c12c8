package plan

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

// Rollout restarts (spec.rolloutRestartTargets; docs/architecture.md, "Rollout
// restarts"). Everything a decision needs lives in the cluster, none of it in
// the process: the credential's version is the managed Secret's data-hash
// annotation, which only the operator's own write of a credential changes; what
// a target was last restarted for is an annotation on the target's metadata
// (one per VoipbinCredential); when it was last restarted is its pod template's
// kubectl.kubernetes.io/restartedAt. So a restarted operator decides exactly as
// the one before it, and a reconcile that changed nothing restarts nothing.

// RestartTarget is a rollout restart target as the controller found it.
type RestartTarget struct {
	Kind v1alpha1.RolloutRestartKind
	Name string
	// Found reports that the workload exists.
	Found bool
	// Problem says why the workload could not be read ("" none): "the operator
	// may not read it (Forbidden)". It holds nothing secret.
	Problem string
	// RestartedFor is the value of this credential's restarted-for annotation on
	// the workload's metadata ("" none: the operator has not seen it before).
	RestartedFor string
	// RestartedAt is its pod template's kubectl.kubernetes.io/restartedAt (zero:
	// none, or not a time).
	RestartedAt time.Time
	// Outcome is what this reconcile's patch of it gave (nil: not patched).
	Outcome *RestartOutcome
	// Version is the resourceVersion it was read at: the controller's, for the
	// patch's precondition; no decision reads it.
	Version string
}

// RestartOutcome is the result of a patch of a target. On success the controller
// also updates the target's RestartedFor and RestartedAt to what it wrote.
type RestartOutcome struct {
	// Restarted: the patch restarted the pods (else it recorded a baseline).
	Restarted bool
	// Failure says why the API server refused the patch ("" none), sanitized.
	Failure string
	// Retry: the target changed under the patch (a conflict); look again soon.
	Retry bool
}

// RestartObserved is everything a restart decision needs.
type RestartObserved struct {
	// CR is the VoipbinCredential as read at the start of the reconcile: its spec,
	// and the status the cluster holds (for transitions).
	CR *v1alpha1.VoipbinCredential
	// Status is the status Decide decided; the restart's fields are set in a copy.
	Status v1alpha1.VoipbinCredentialStatus
	// Enabled is the operator's --enable-rollout-restarts.
	Enabled bool
	// Hash is the managed Secret's data-hash annotation when the Secret belongs
	// to the CR ("" none yet).
	Hash string
	// PreviousHash is Hash as it was when the reconcile began, before it wrote a
	// credential: the credential the pods of a target seen for the first time
	// may hold.
	PreviousHash string
	// Targets are the targets of the spec as found (none when not Enabled).
	Targets []RestartTarget
}

// RestartPatch is a patch of a target: record RestartedFor on its metadata and,
// unless RestartAt is zero, set its pod template's restartedAt to RestartAt,
// which restarts its pods.
type RestartPatch struct {
	Kind         v1alpha1.RolloutRestartKind
	Name         string
	RestartedFor string
	RestartAt    time.Time
}

// RestartPlan is what DecideRestarts decided.
type RestartPlan struct {
	// Patches are to be made now; none once every outcome is in.
	Patches []RestartPatch
	// Status is RestartObserved.Status with status.rolloutRestarts and the
	// RolloutRestartTargetsReady condition set.
	Status v1alpha1.VoipbinCredentialStatus
	// Events are to be recorded on the CR.
	Events []Event
	// Wake is when a restart held back by minInterval is due, or a failed target
	// is looked at again (zero: never).
	Wake time.Time
}

// defaultMinInterval is minInterval when the spec leaves it out (the CRD defaults it).
const defaultMinInterval = 5 * time.Minute

// actionRolloutRestart is the action of the restarts' events.
const actionRolloutRestart = "RolloutRestart"

// retrySoon is how soon a target that changed under a patch is looked at again.
const retrySoon = time.Second

// DecideRestarts decides, for each target, what to do (nothing, record a
// baseline, restart, or wait for minInterval) and describes the targets in the
// status. It is called once with the targets as read, then, once the controller
// made the patches and put their outcomes into the targets, once more for the
// status and events (that call asks for no patch). The rules:
//   - no restart without a credential change: a target is restarted only when it
//     records another hash than the Secret's; a target seen for the first time
//     gets the Secret's hash recorded, and no restart, unless this reconcile
//     has just written a new credential (its pods hold the previous one);
//   - at most one restart per minInterval: a change within minInterval of the
//     last restart waits until minInterval has passed (Wake), so changes in a
//     burst give one restart, for the last of them;
//   - the last credential is always restarted for: a waiting restart is never
//     dropped, and a failed one is retried.
func DecideRestarts(o RestartObserved, now time.Time) RestartPlan {
	now = now.Truncate(time.Second) // restartedAt holds whole seconds
	vbc := o.CR.DeepCopy()
	vbc.Status = *o.Status.DeepCopy()
	p := RestartPlan{}
	targets := vbc.Spec.RolloutRestartTargets
	if len(targets) == 0 {
		vbc.Status.RolloutRestarts = nil
		meta.RemoveStatusCondition(&vbc.Status.Conditions, v1alpha1.ConditionRolloutRestartTargetsReady)
		p.Status = vbc.Status
		return p
	}
	if !o.Enabled {
		p.Events = restartsDisabled(o, vbc, now)
		p.Status = vbc.Status
		return p
	}

	found := map[string]RestartTarget{}
	for _, t := range o.Targets {
		found[targetName(t.Kind, t.Name)] = t
	}
	var failures, scheduled []string
	var wakes []time.Time
	statuses := make([]v1alpha1.RolloutRestartStatus, 0, len(targets))
	for _, spec := range targets {
		name := targetName(spec.Kind, spec.Name)
		interval := minIntervalOf(spec)
		t, ok := found[name]
		st := v1alpha1.RolloutRestartStatus{Kind: spec.Kind, Name: spec.Name}
		if ok && !t.RestartedAt.IsZero() {
			st.LastRestartTime = metaTime(t.RestartedAt)
		}
		d := decideTarget(t, ok, o.Hash, o.PreviousHash, interval, now)
		if d.patch != nil {
			p.Patches = append(p.Patches, *d.patch)
		}
		switch {
		case d.problem != "":
			st.Message = d.problem
			failures = append(failures, name+": "+d.problem)
			if prev := previousRestartStatus(o.CR, spec); prev == nil || prev.Message != d.problem {
				p.Events = append(p.Events, Event{Type: corev1.EventTypeWarning, Reason: v1alpha1.EventRolloutRestartFailed,
					Action: actionRolloutRestart, Note: name + ": " + d.problem})
			}
		case !d.due.IsZero():
			st.NextRestartTime = metaTime(d.due)
			scheduled = append(scheduled, fmt.Sprintf("%s restarts at %s (minInterval %s)", name, timestamp(d.due), interval))
		}
		if ok && t.Outcome != nil && t.Outcome.Restarted {
			p.Events = append(p.Events, Event{Type: corev1.EventTypeNormal, Reason: v1alpha1.EventRolloutRestarted,
				Action: actionRolloutRestart, Note: "restarted " + name + " for the new credential in Secret \"" +
					vbc.Spec.SecretName + "\""})
		}
		if !d.wake.IsZero() {
			wakes = append(wakes, d.wake)
		}
		statuses = append(statuses, st)
	}
	vbc.Status.RolloutRestarts = statuses
	setRestartCondition(vbc, failures, scheduled, o.Hash, len(p.Patches) > 0, now)
	p.Status = vbc.Status
	p.Wake = earliest(wakes...)
	return p
}

// restartsDisabled reports that the operator runs without
// --enable-rollout-restarts, with a Warning event on the transition.
func restartsDisabled(o RestartObserved, vbc *v1alpha1.VoipbinCredential, now time.Time) []Event {
	vbc.Status.RolloutRestarts = nil
	msg := "the operator runs without --enable-rollout-restarts: no workload is restarted"
	var events []Event
	if c := findCondition(&o.CR.Status, v1alpha1.ConditionRolloutRestartTargetsReady); c == nil ||
		c.Reason != v1alpha1.ReasonRolloutRestartsDisabled {
		events = append(events, Event{Type: corev1.EventTypeWarning, Reason: v1alpha1.EventRolloutRestartFailed,
			Action: actionRolloutRestart, Note: msg})
	}
	setCondition(vbc, v1alpha1.ConditionRolloutRestartTargetsReady, metav1.ConditionFalse,
		v1alpha1.ReasonRolloutRestartsDisabled, msg, now)
	return events
}

// setRestartCondition sets RolloutRestartTargetsReady from the targets'
// failures and scheduled restarts, the credential and the patches to make.
func setRestartCondition(vbc *v1alpha1.VoipbinCredential, failures, scheduled []string, hash string, patching bool,
	now time.Time) {
	set := func(status metav1.ConditionStatus, reason, message string) {
		setCondition(vbc, v1alpha1.ConditionRolloutRestartTargetsReady, status, reason, message, now)
	}
	switch {
	case len(failures) > 0:
		set(metav1.ConditionFalse, v1alpha1.ReasonRolloutRestartFailed, strings.Join(failures, "; "))
	case len(scheduled) > 0:
		set(metav1.ConditionTrue, v1alpha1.ReasonRestartScheduled, "the credential changed; "+strings.Join(scheduled, "; "))
	case hash == "":
		set(metav1.ConditionUnknown, v1alpha1.ReasonPending, "no credential stored yet")
	case patching:
		set(metav1.ConditionUnknown, v1alpha1.ReasonPending, "restarting")
	default:
		set(metav1.ConditionTrue, v1alpha1.ReasonUpToDate,
			"every target was restarted for the stored credential, or has run since before the operator first saw it")
	}
}

// targetDecision is what one target needs: a patch now, a restart at due, or a
// problem to report; and when to look again.
type targetDecision struct {
	patch   *RestartPatch
	due     time.Time
	problem string
	wake    time.Time
}

// decideTarget decides for one target (ok: the controller looked at it).
func decideTarget(t RestartTarget, ok bool, hash, previous string, interval time.Duration, now time.Time) targetDecision {
	switch {
	case !ok:
		return targetDecision{} // not looked at: nothing known, nothing to do
	case t.Outcome != nil && t.Outcome.Retry:
		return targetDecision{wake: now.Add(retrySoon)}
	case t.Outcome != nil && t.Outcome.Failure != "":
		return targetDecision{problem: t.Outcome.Failure, wake: now.Add(interval)}
	case t.Problem != "":
		return targetDecision{problem: t.Problem, wake: now.Add(interval)}
	case !t.Found:
		return targetDecision{problem: "not found in this namespace", wake: now.Add(interval)}
	case hash == "" || t.RestartedFor == hash:
		return targetDecision{}
	}
	held := t.RestartedFor
	if held == "" {
		if previous == "" || previous == hash {
			// First sighting: its pods run with what the Secret holds (or
			// wait for it); only a change from now on restarts them.
			return targetDecision{patch: &RestartPatch{Kind: t.Kind, Name: t.Name, RestartedFor: hash}}
		}
		// First seen by the reconcile that just wrote a new credential: its
		// pods started before the write, with the previous one.
		held = previous
	}
	last := t.RestartedAt
	if last.After(now) {
		last = time.Time{} // a restart time in the future is not one to wait for
	}
	if due := last.Add(interval); !last.IsZero() && now.Before(due) {
		d := targetDecision{due: due, wake: due}
		if t.RestartedFor == "" {
			// Record what its pods hold, so that the restart is not forgotten.
			d.patch = &RestartPatch{Kind: t.Kind, Name: t.Name, RestartedFor: held}
		}
		return d
	}
	return targetDecision{patch: &RestartPatch{Kind: t.Kind, Name: t.Name, RestartedFor: hash, RestartAt: now}}
}

// previousRestartStatus is the status of target spec the cluster holds, or nil.
func previousRestartStatus(vbc *v1alpha1.VoipbinCredential, spec v1alpha1.RolloutRestartTarget) *v1alpha1.RolloutRestartStatus {
	for i := range vbc.Status.RolloutRestarts {
		if s := &vbc.Status.RolloutRestarts[i]; s.Kind == spec.Kind && s.Name == spec.Name {
			return s
		}
	}
	return nil
}

// minIntervalOf is the target's minInterval, default 5m.
func minIntervalOf(t v1alpha1.RolloutRestartTarget) time.Duration {
	if t.MinInterval == nil || t.MinInterval.Duration <= 0 {
		return defaultMinInterval
	}
	return t.MinInterval.Duration
}

// targetName names a target in messages: Deployment "api".
func targetName(kind v1alpha1.RolloutRestartKind, name string) string {
	return string(kind) + " \"" + name + "\""
}

// SecretHash is the managed Secret's data-hash annotation when the Secret
// belongs to vbc: the version of the credentials it holds, which changes only
// when the operator writes a credential ("" when there is no such Secret).
func SecretHash(secret *corev1.Secret, vbc *v1alpha1.VoipbinCredential) string {
	if secret == nil || !belongsTo(secret, vbc) {
		return ""
	}
	return secret.Annotations[v1alpha1.AnnotationDataHash]
}
