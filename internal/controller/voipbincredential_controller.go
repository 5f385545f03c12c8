// Package controller holds the VoipbinCredential reconciler: it gathers what a
// decision needs, asks internal/plan what to do, and does it: VoIPBIN calls, the
// managed Secret's write, the status patch, events. See docs/architecture.md,
// "The shape of a reconcile".
package controller

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/internal/plan"
	"github.com/voipbin/credential-operator/internal/voipbin"
)

// VoipbinCredentialReconciler turns a VoipbinCredential into a managed Secret that
// holds a fresh VoIPBIN token and/or a validated accesskey.
type VoipbinCredentialReconciler struct {
	// Client writes the managed Secret and the status. It never caches Secrets.
	client.Client
	// APIReader reads input Secrets (and a managed Secret the cache does not hold)
	// straight from the API server.
	APIReader client.Reader
	// ManagedSecrets is the label-selected cache of managed Secrets.
	ManagedSecrets client.Reader
	// Recorder records events on VoipbinCredentials.
	Recorder events.EventRecorder
	// Clock is the time source; tests may set it.
	Clock clock.PassiveClock
	// AllowedURLs are the API URLs credentials may be sent to.
	AllowedURLs AllowedURLs
	// EnableRolloutRestarts lets the operator restart spec.rolloutRestartTargets
	// (--enable-rollout-restarts); RestartObserver counts the restarts (may be nil).
	EnableRolloutRestarts bool
	RestartObserver       RestartObserver

	clients  *apiClients
	sharing  *loginSharing
	memories *memories
	// statusWrites and secretWrites are the versions of the operator's own writes
	// of each VoipbinCredential's status and managed Secret, by VoipbinCredential.
	statusWrites, secretWrites *writtenVersions
}

// NewReconciler returns a reconciler whose VoIPBIN clients follow api.
func NewReconciler(c client.Client, apiReader, managedSecrets client.Reader, recorder events.EventRecorder,
	allowed AllowedURLs, api APIOptions) *VoipbinCredentialReconciler {
	return &VoipbinCredentialReconciler{
		Client:         c,
		APIReader:      apiReader,
		ManagedSecrets: managedSecrets,
		Recorder:       recorder,
		Clock:          clock.RealClock{},
		AllowedURLs:    allowed,
		clients:        newAPIClients(api),
		sharing:        newLoginSharing(),
		memories:       newMemories(),
		statusWrites:   newWrittenVersions(),
		secretWrites:   newWrittenVersions(),
	}
}

// maxSteps bounds the actions of one reconcile: a login, a check, a write, a
// write retried after a Secret appeared in between; with issued accesskeys a
// finalizer, a listing, deletions, a create and a write; with room to spare.
const maxSteps = 16

// Reconcile gathers, decides and acts: it reads the CR, the managed Secret and
// the input Secrets, then asks plan.Decide for the next action (a login, an
// accesskey check, a Secret write), does it, feeds the outcome back, and repeats
// until the plan is to finish; then it patches the status once, records the
// events, and requeues at the plan's wake time. Every retry comes from that
// schedule: an error is returned only when the Kubernetes API fails.
func (r *VoipbinCredentialReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ctx = detach(ctx)
	vbc := &v1alpha1.VoipbinCredential{}
	if err := r.Get(ctx, req.NamespacedName, vbc); err != nil {
		if apierrors.IsNotFound(err) {
			r.memories.forget(req.NamespacedName)
			r.statusWrites.forget(req.NamespacedName)
			r.secretWrites.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if r.statusWrites.stale(req.NamespacedName, vbc.ResourceVersion) {
		// The cache has not seen our last status patch yet. Deciding on the old
		// status would repeat what was just done; look again in a moment.
		return ctrl.Result{RequeueAfter: staleCacheRetry}, nil
	}
	if vbc.DeletionTimestamp != nil && !controllerutil.ContainsFinalizer(vbc, v1alpha1.FinalizerRevokeAccessKeys) {
		// Hands off: the garbage collector decides about the Secret.
		return ctrl.Result{}, nil
	}

	obs, in, err := r.gather(ctx, vbc)
	if err != nil {
		return ctrl.Result{}, err
	}
	previousHash := plan.SecretHash(obs.Secret, vbc)
	var recorded []plan.Event
	for step := 1; ; step++ {
		obs.Stopping = stopping(ctx)
		p := plan.Decide(obs, r.Clock.Now())
		r.memories.set(vbc, p.Memory)
		recorded = append(recorded, p.Events...)
		if p.Action == plan.HandsOff {
			return ctrl.Result{}, nil
		}
		if p.Action == plan.Finish || step == maxSteps {
			restarts := r.rolloutRestarts(ctx, vbc, p.Status, obs.Secret, previousHash)
			recorded = append(recorded, restarts.Events...)
			err := r.patchStatus(ctx, vbc, restarts.Status)
			r.record(vbc, recorded)
			return r.requeueAt(ctx, earlier(p.Wake, restarts.Wake)), err
		}
		obs.Status, obs.Memory, obs.Outcome = &p.Status, p.Memory, plan.Outcome{}
		if err := r.act(ctx, vbc, p, &obs, in); err != nil {
			r.record(vbc, recorded)
			return ctrl.Result{}, err
		}
	}
}

// gather reads what a decision needs: the managed Secret as the API server holds
// it, the input Secrets, and what this process remembers of the CR.
func (r *VoipbinCredentialReconciler) gather(ctx context.Context, vbc *v1alpha1.VoipbinCredential) (plan.Observed, inputs, error) {
	obs := plan.Observed{CR: vbc, Allowed: r.AllowedURLs, Memory: r.memories.get(vbc)}
	in, err := readInputs(ctx, r.APIReader, vbc)
	if err != nil {
		return obs, in, err
	}
	obs.Inputs = in.Inputs
	if err := r.readManagedSecret(ctx, vbc, &obs); err != nil {
		return obs, in, err
	}
	return obs, in, nil
}

// readManagedSecret puts the Secret named secretName into obs, nil if there is
// none. The cache holds only Secrets with the credential label; one it does not
// hold, or holds older than our last write, is read from the API server.
func (r *VoipbinCredentialReconciler) readManagedSecret(ctx context.Context, vbc *v1alpha1.VoipbinCredential, obs *plan.Observed) error {
	secret := &corev1.Secret{}
	err := r.ManagedSecrets.Get(ctx, client.ObjectKey{Namespace: vbc.Namespace, Name: vbc.Spec.SecretName}, secret)
	if apierrors.IsNotFound(err) || (err == nil && r.secretWrites.stale(keyOf(vbc), secret.ResourceVersion)) {
		return r.readManagedSecretFromAPI(ctx, vbc, obs)
	}
	if err != nil {
		return fmt.Errorf("reading the managed Secret: %w", err)
	}
	obs.Secret = secret
	obs.SecretTokenUsername = voipbin.TokenUsername(string(secret.Data[v1alpha1.SecretKeyToken]))
	return nil
}

// staleCacheRetry is how soon a reconcile that found the cache behind the
// operator's own last write looks again: the cache catches up within milliseconds.
const staleCacheRetry = 250 * time.Millisecond

// requeueAt turns the plan's wake time into a RequeueAfter.
func (r *VoipbinCredentialReconciler) requeueAt(ctx context.Context, next time.Time) ctrl.Result {
	if next.IsZero() {
		return ctrl.Result{}
	}
	d := next.Sub(r.Clock.Now())
	if d < time.Second {
		// Never spin: what is due now was just attempted or is waiting on a wait.
		d = time.Second
	}
	logf.FromContext(ctx).V(1).Info("next reconcile scheduled", "after", d.Round(time.Second).String())
	return ctrl.Result{RequeueAfter: d}
}

// patchStatus patches the status subresource to status, once and only if it changed.
func (r *VoipbinCredentialReconciler) patchStatus(ctx context.Context, vbc *v1alpha1.VoipbinCredential,
	status v1alpha1.VoipbinCredentialStatus) error {
	if equality.Semantic.DeepEqual(vbc.Status, status) {
		return nil
	}
	original := vbc.DeepCopy()
	vbc.Status = status
	if err := r.Status().Patch(ctx, vbc, client.MergeFrom(original)); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("patching status: %w", err)
	}
	r.statusWrites.wrote(keyOf(vbc), vbc.ResourceVersion)
	return nil
}

// record records the plan's events on vbc. Their notes are built by plan from
// sanitized parts only.
func (r *VoipbinCredentialReconciler) record(vbc *v1alpha1.VoipbinCredential, planned []plan.Event) {
	if r.Recorder == nil {
		return
	}
	for _, e := range planned {
		r.Recorder.Eventf(vbc, nil, e.Type, e.Reason, e.Action, "%s", e.Note)
	}
}
