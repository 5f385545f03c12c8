package controller

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/internal/plan"
)

// Rollout restarts: the act part of plan.DecideRestarts (docs/architecture.md,
// "Rollout restarts"). After the reconcile's last step, the targets are read
// straight from the API server (APIReader: no informer, so no cache of every
// Deployment of the cluster, and only get and patch are needed), and patched
// with a JSON merge patch under their resourceVersion and the field manager
// RestartFieldManager: the restarted-for annotation on the workload's metadata
// and, for a restart, kubectl.kubernetes.io/restartedAt on its pod template, as
// kubectl rollout restart does. A merge patch sets just those two keys: it takes
// no ownership of anything else (server-side apply would, and a later kubectl
// rollout restart would then conflict with it).

// RestartFieldManager is the field manager of the operator's patches of rollout
// restart targets.
const RestartFieldManager = "voipbin-credential-operator-restarts"

// RestartObserver counts rollout restarts by the target's kind and the result
// (restarted, failed); internal/metrics implements it.
type RestartObserver interface {
	ObserveRestart(kind, result string)
}

// Results of RestartObserver.ObserveRestart.
const (
	RestartResultRestarted = "restarted"
	RestartResultFailed    = "failed"
)

// restartPatchRounds bounds the patch rounds of one reconcile: a patch that meets
// a conflict (the workload changed since it was read) is read and decided again.
const restartPatchRounds = 3

// maxRestartMessage bounds the API server's message quoted for a refused patch.
const maxRestartMessage = 200

// rolloutRestarts decides and makes the rollout restarts of vbc once the
// reconcile is over: status is the status the reconcile decided, secret the
// managed Secret as it now is, previousHash its data-hash when the reconcile
// began. It returns the status with the targets described, the events, and when
// to look again.
func (r *VoipbinCredentialReconciler) rolloutRestarts(ctx context.Context, vbc *v1alpha1.VoipbinCredential,
	status v1alpha1.VoipbinCredentialStatus, secret *corev1.Secret, previousHash string) plan.RestartPlan {
	o := plan.RestartObserved{CR: vbc, Status: status, Enabled: r.EnableRolloutRestarts,
		Hash: plan.SecretHash(secret, vbc), PreviousHash: previousHash}
	if !r.EnableRolloutRestarts || len(vbc.Spec.RolloutRestartTargets) == 0 {
		return plan.DecideRestarts(o, r.Clock.Now())
	}
	for _, t := range vbc.Spec.RolloutRestartTargets {
		o.Targets = append(o.Targets, r.readTarget(ctx, vbc, t.Kind, t.Name))
	}
	for round := 1; ; round++ {
		p := plan.DecideRestarts(o, r.Clock.Now())
		if len(p.Patches) == 0 || round > restartPatchRounds {
			r.countRestarts(o.Targets)
			return p
		}
		// Decide again with the outcomes in (no patch), or with the targets
		// that met a conflict read again.
		for _, patch := range p.Patches {
			i := targetIndex(o.Targets, patch.Kind, patch.Name)
			o.Targets[i] = r.patchTarget(ctx, vbc, o.Targets[i], patch, round == restartPatchRounds)
		}
	}
}

// readTarget reads a workload from the API server.
func (r *VoipbinCredentialReconciler) readTarget(ctx context.Context, vbc *v1alpha1.VoipbinCredential,
	kind v1alpha1.RolloutRestartKind, name string) plan.RestartTarget {
	t := plan.RestartTarget{Kind: kind, Name: name}
	obj, template := workloadOf(kind)
	if obj == nil {
		t.Problem = "kind " + string(kind) + " cannot be restarted"
		return t
	}
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: vbc.Namespace, Name: name}, obj)
	switch {
	case apierrors.IsNotFound(err):
		return t
	case apierrors.IsForbidden(err):
		t.Problem = "the operator may not read it (Forbidden); it needs get and patch on " + resourceOf(kind)
		return t
	case err != nil:
		t.Problem = "it could not be read (" + string(apierrors.ReasonForError(err)) + ")"
		return t
	}
	t.Found = true
	t.RestartedFor = obj.GetAnnotations()[v1alpha1.RestartedForAnnotation(vbc.Name)]
	if at, err := time.Parse(time.RFC3339, template().Annotations[v1alpha1.AnnotationRestartedAt]); err == nil {
		t.RestartedAt = at
	}
	t.Version = obj.GetResourceVersion()
	return t
}

// patchTarget makes patch and returns the target with its outcome. A conflict
// (the workload changed since it was read) is read again and left without an
// outcome, to be decided again, unless last: then it is retried soon.
func (r *VoipbinCredentialReconciler) patchTarget(ctx context.Context, vbc *v1alpha1.VoipbinCredential,
	t plan.RestartTarget, patch plan.RestartPatch, last bool) plan.RestartTarget {
	obj, _ := workloadOf(patch.Kind)
	obj.SetNamespace(vbc.Namespace)
	obj.SetName(patch.Name)
	body := mergePatch(vbc.Name, t.Version, patch)
	err := r.Patch(ctx, obj, client.RawPatch(types.MergePatchType, body), client.FieldOwner(RestartFieldManager))
	log := logf.FromContext(ctx).WithValues("kind", patch.Kind, "workload", patch.Name)
	switch {
	case err == nil:
		t.RestartedFor = patch.RestartedFor
		if !patch.RestartAt.IsZero() {
			t.RestartedAt = patch.RestartAt
			log.Info("rollout restart")
		} else {
			log.V(1).Info("rollout restart target recorded")
		}
		t.Version = obj.GetResourceVersion()
		t.Outcome = &plan.RestartOutcome{Restarted: !patch.RestartAt.IsZero()}
	case apierrors.IsConflict(err) && !last:
		log.V(1).Info("rollout restart target changed under the patch; reading it again")
		return r.readTarget(ctx, vbc, t.Kind, t.Name)
	case apierrors.IsConflict(err):
		t.Outcome = &plan.RestartOutcome{Retry: true}
	case apierrors.IsNotFound(err):
		t.Found = false
		t.Outcome = &plan.RestartOutcome{Failure: "not found in this namespace"}
	case apierrors.IsForbidden(err):
		t.Outcome = &plan.RestartOutcome{Failure: "the operator may not patch it (Forbidden); it needs get and patch on " +
			resourceOf(patch.Kind)}
	default:
		t.Outcome = &plan.RestartOutcome{Failure: patchRefusal(err)}
	}
	if t.Outcome.Failure != "" || t.Outcome.Retry {
		log.Info("rollout restart patch failed", "reason", string(apierrors.ReasonForError(err)))
	}
	return t
}

// mergePatch is the JSON merge patch of a target: the restarted-for annotation
// of credential name on its metadata and, for a restart, restartedAt on its pod
// template; with the resourceVersion it was read at, so that it changes nothing
// if the workload changed since (two credentials restarting one workload at once
// then restart it once).
func mergePatch(name, resourceVersion string, p plan.RestartPatch) []byte {
	type meta struct {
		ResourceVersion string            `json:"resourceVersion,omitempty"`
		Annotations     map[string]string `json:"annotations"`
	}
	body := map[string]any{"metadata": meta{ResourceVersion: resourceVersion,
		Annotations: map[string]string{v1alpha1.RestartedForAnnotation(name): p.RestartedFor}}}
	if !p.RestartAt.IsZero() {
		body["spec"] = map[string]any{"template": map[string]any{"metadata": meta{
			Annotations: map[string]string{v1alpha1.AnnotationRestartedAt: p.RestartAt.UTC().Format(time.RFC3339)}}}}
	}
	data, err := json.Marshal(body)
	if err != nil { // maps of strings always marshal
		panic(err)
	}
	return data
}

// patchRefusal says why the API server refused a patch: its reason and, bounded,
// its message (an admission policy's explanation). The patch holds no secret, so
// neither can the message.
func patchRefusal(err error) string {
	msg := err.Error()
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		msg = status.Status().Message
	}
	if len(msg) > maxRestartMessage {
		msg = msg[:maxRestartMessage] + "…"
	}
	return "the API server refused the patch (" + string(apierrors.ReasonForError(err)) + "): " + msg
}

// countRestarts counts the reconcile's restarts and failed targets.
func (r *VoipbinCredentialReconciler) countRestarts(targets []plan.RestartTarget) {
	if r.RestartObserver == nil {
		return
	}
	for _, t := range targets {
		switch {
		case t.Outcome != nil && t.Outcome.Restarted:
			r.RestartObserver.ObserveRestart(string(t.Kind), RestartResultRestarted)
		case t.Problem != "" || !t.Found || (t.Outcome != nil && t.Outcome.Failure != ""):
			r.RestartObserver.ObserveRestart(string(t.Kind), RestartResultFailed)
		}
	}
}

// workloadOf returns an empty object of kind and a function returning its pod
// template; nil for a kind that cannot be restarted.
func workloadOf(kind v1alpha1.RolloutRestartKind) (client.Object, func() *corev1.PodTemplateSpec) {
	switch kind {
	case v1alpha1.RolloutRestartDeployment:
		o := &appsv1.Deployment{}
		return o, func() *corev1.PodTemplateSpec { return &o.Spec.Template }
	case v1alpha1.RolloutRestartStatefulSet:
		o := &appsv1.StatefulSet{}
		return o, func() *corev1.PodTemplateSpec { return &o.Spec.Template }
	case v1alpha1.RolloutRestartDaemonSet:
		o := &appsv1.DaemonSet{}
		return o, func() *corev1.PodTemplateSpec { return &o.Spec.Template }
	}
	return nil, nil
}

// resourceOf names the resource of kind for an RBAC hint: deployments.apps.
func resourceOf(kind v1alpha1.RolloutRestartKind) string {
	switch kind {
	case v1alpha1.RolloutRestartStatefulSet:
		return "statefulsets.apps"
	case v1alpha1.RolloutRestartDaemonSet:
		return "daemonsets.apps"
	}
	return "deployments.apps"
}

func targetIndex(targets []plan.RestartTarget, kind v1alpha1.RolloutRestartKind, name string) int {
	for i, t := range targets {
		if t.Kind == kind && t.Name == name {
			return i
		}
	}
	panic("a patch of a target that was not read")
}

// earlier returns the earlier of two wake times, zero meaning none.
func earlier(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}
