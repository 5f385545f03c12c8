// Package controller holds the VoipbinCredential reconciler: it logs in to VoIPBIN,
// validates accesskeys, and keeps the results in a managed Secret.
package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
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

	clients *apiClients
	sharing *loginSharing
	memory  *attemptMemory
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
		memory:         newAttemptMemory(),
		statusWrites:   newWrittenVersions(),
		secretWrites:   newWrittenVersions(),
	}
}

// Reconcile brings one VoipbinCredential's managed Secret and status up to date.
// It makes VoIPBIN calls only when one is due, writes the Secret only when its
// content changes, patches the status once and only when it changed, and owns
// its timing: failures are retried through RequeueAfter from its own schedule,
// never by returning an error (which would hand timing to the workqueue and
// ignore Retry-After). Errors are returned only for Kubernetes API failures.
func (r *VoipbinCredentialReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	ctx = detach(ctx)
	vbc := &v1alpha1.VoipbinCredential{}
	if err := r.Get(ctx, req.NamespacedName, vbc); err != nil {
		if apierrors.IsNotFound(err) {
			r.memory.forget(req.NamespacedName)
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
	now := r.Clock.Now()
	original := vbc.DeepCopy()
	defer func() {
		retErr = errors.Join(retErr, r.patchStatus(ctx, original, vbc))
	}()
	vbc.Status.ObservedGeneration = vbc.Generation
	pruneStatus(vbc)

	if !r.AllowedURLs.Allows(apiURLOf(vbc)) {
		r.block(vbc, v1alpha1.ReasonAPIURLNotAllowed, v1alpha1.EventAPIURLNotAllowed,
			fmt.Sprintf("apiURL is not allowed by the operator's --allowed-api-urls (%v)", []string(r.AllowedURLs)), now)
		return ctrl.Result{}, nil
	}
	existing, err := r.managedSecret(ctx, vbc)
	if errors.Is(err, errSecretConflict) {
		r.block(vbc, v1alpha1.ReasonSecretConflict, v1alpha1.EventSecretConflict,
			fmt.Sprintf("Secret %q exists and does not belong to this VoipbinCredential; it is left untouched", vbc.Spec.SecretName), now)
		return ctrl.Result{}, nil
	} else if err != nil {
		return ctrl.Result{}, err
	}
	if vbc.Spec.Suspend {
		return r.requeueAt(ctx, suspend(vbc, existing, now), now), nil
	}

	in, err := readInputs(ctx, r.APIReader, vbc)
	if err != nil {
		return ctrl.Result{}, err
	}
	var login, key partResult
	if vbc.Spec.Login != nil {
		login = r.reconcileLogin(ctx, vbc, in, existing, now)
	}
	if vbc.Spec.AccessKey != nil {
		key = r.reconcileAccessKey(ctx, vbc, in, existing, now)
	}
	if err := r.applySecret(ctx, vbc, existing, in.Endpoint, login, key); err != nil {
		// The Secret does not hold what the new status would describe (a token it
		// does not have, a renewal far away): keep the old status and let the
		// workqueue retry. A retried login reuses the token just obtained.
		vbc.Status = *original.Status.DeepCopy()
		return ctrl.Result{}, err
	}
	if refreshRequested(vbc) && !login.Deferred && !key.Deferred {
		vbc.Status.LastHandledRefreshRequest = vbc.Annotations[v1alpha1.AnnotationRefreshRequestedAt]
	}
	setReady(vbc, now)
	return r.requeueAt(ctx, earliest(login.Wake, key.Wake), now), nil
}

// detach returns the context of one reconcile. A reconcile in flight when the
// manager stops (a rolling update, a leader hand-over) runs to its end:
// VoIPBIN may already have issued a token that only this reconcile can store,
// and a canceled write would lose it and make the next leader log in again. So
// the stop does not cancel it; it only keeps the reconcile from starting a new
// API call (see stopping). Every call is bounded anyway (the API timeout; the
// manager's graceful shutdown timeout), and the lease is held until the
// reconcilers have stopped.
func detach(ctx context.Context) context.Context {
	return context.WithValue(context.WithoutCancel(ctx), stopSignal{}, ctx.Done())
}

// stopSignal is the context key of the manager's stop channel (see detach).
type stopSignal struct{}

// stopping reports whether the manager is stopping: a reconcile then finishes
// what it has in hand but starts no new API call; the next manager makes it.
func stopping(ctx context.Context) bool {
	done, _ := ctx.Value(stopSignal{}).(<-chan struct{})
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// staleCacheRetry is how soon a reconcile that found the cache behind the
// operator's own last write looks again: the cache catches up within milliseconds.
const staleCacheRetry = 250 * time.Millisecond

// errSecretConflict: a Secret named secretName exists and does not belong to the CR.
var errSecretConflict = errors.New("secret conflict")

// managedSecret returns the managed Secret, nil if it does not exist, or
// errSecretConflict if a Secret of that name does not belong to vbc. The cache
// holds only Secrets with the credential label; one it does not hold is looked
// up in the API server before anything is written, so that a Secret of someone
// else's is never overwritten.
func (r *VoipbinCredentialReconciler) managedSecret(ctx context.Context, vbc *v1alpha1.VoipbinCredential) (*corev1.Secret, error) {
	key := types.NamespacedName{Namespace: vbc.Namespace, Name: vbc.Spec.SecretName}
	secret := &corev1.Secret{}
	err := r.ManagedSecrets.Get(ctx, key, secret)
	if apierrors.IsNotFound(err) || (err == nil && r.secretWrites.stale(keyOf(vbc), secret.ResourceVersion)) {
		// Not in the label-selected cache (maybe someone else's Secret), or the
		// cache has not seen our last write: ask the API server.
		err = r.APIReader.Get(ctx, key, secret)
	}
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading the managed Secret: %w", err)
	case !belongsTo(secret, vbc):
		return nil, errSecretConflict
	}
	vbc.Status.SecretName = secret.Name
	return secret, nil
}

// applySecret writes the managed Secret with server-side apply when its content
// must change. Keys are replaced, never removed, except when their spec section
// is removed; a Secret edited by hand is left as it is until a fresh credential
// replaces the edit. No Secret is created before one credential is usable.
func (r *VoipbinCredentialReconciler) applySecret(ctx context.Context, vbc *v1alpha1.VoipbinCredential,
	existing *corev1.Secret, ep endpoint, login, key partResult) error {
	fresh := login.Token != nil || key.AccessKey != ""
	if existing != nil && !intactFor(existing, vbc) && !fresh {
		return nil
	}
	old := map[string][]byte{}
	if existing != nil {
		old = existing.Data
	}
	data := map[string][]byte{}
	issuedAt := ""
	if vbc.Spec.Login != nil {
		if t := login.Token; t != nil {
			data[v1alpha1.SecretKeyToken] = []byte(t.JWT)
			data[v1alpha1.SecretKeyExpiresAt] = []byte(timestamp(t.ExpiresAt))
			issuedAt = timestamp(t.IssuedAt)
		} else if _, ok := old[v1alpha1.SecretKeyToken]; ok {
			data[v1alpha1.SecretKeyToken] = old[v1alpha1.SecretKeyToken]
			data[v1alpha1.SecretKeyExpiresAt] = old[v1alpha1.SecretKeyExpiresAt]
			issuedAt = existing.Annotations[v1alpha1.AnnotationTokenIssuedAt]
		}
	}
	if vbc.Spec.AccessKey != nil {
		if key.AccessKey != "" {
			data[v1alpha1.SecretKeyAccessKey] = []byte(key.AccessKey)
		} else if v, ok := old[v1alpha1.SecretKeyAccessKey]; ok {
			data[v1alpha1.SecretKeyAccessKey] = v
		}
	}
	if len(data) == 0 && existing == nil {
		return nil
	}
	data[v1alpha1.SecretKeyAPIURL] = []byte(ep.URL)
	if v, ok := old[v1alpha1.SecretKeyAPIURL]; ok && !fresh {
		data[v1alpha1.SecretKeyAPIURL] = v // the URL the stored credentials came from
	}

	desired := newDesiredSecret(vbc, data)
	desired.Annotations[v1alpha1.AnnotationDataHash] = vouchedHash(existing, vbc, data, login.Token != nil, key.AccessKey != "")
	if issuedAt != "" {
		desired.Annotations[v1alpha1.AnnotationTokenIssuedAt] = issuedAt
	}
	if desired.upToDate(existing, vbc) {
		return nil
	}
	ac := desired.applyConfiguration(vbc)
	if err := r.Apply(ctx, ac, client.FieldOwner(v1alpha1.FieldManager), client.ForceOwnership); err != nil {
		return fmt.Errorf("applying the managed Secret: %w", err)
	}
	if ac.ResourceVersion != nil {
		r.secretWrites.wrote(keyOf(vbc), *ac.ResourceVersion)
	}
	logf.FromContext(ctx).V(1).Info("managed Secret applied", "secret", vbc.Spec.SecretName)
	vbc.Status.SecretName = vbc.Spec.SecretName
	return nil
}

// suspend reports a suspended VoipbinCredential: no API call and no write; Ready
// stays True until a stored credential expires. It returns when to look again.
func suspend(vbc *v1alpha1.VoipbinCredential, existing *corev1.Secret, now time.Time) time.Time {
	var expiries []time.Time
	usable := existing != nil
	if vbc.Spec.Login != nil {
		tok := storedToken(vbc, existing)
		usable = usable && tok.valid(now)
		expiries = append(expiries, tok.expiresAt)
		if !tok.valid(now) {
			setCondition(vbc, v1alpha1.ConditionTokenReady, metav1.ConditionFalse, v1alpha1.ReasonSuspended,
				"suspended, and no valid token is stored", now)
		}
	}
	if vbc.Spec.AccessKey != nil {
		key := storedAccessKey(vbc, existing)
		usable = usable && key.valid(now)
		expiries = append(expiries, key.expiresAt)
		if !key.valid(now) {
			setCondition(vbc, v1alpha1.ConditionAccessKeyValid, metav1.ConditionFalse, v1alpha1.ReasonSuspended,
				"suspended, and no valid accesskey is stored", now)
		}
	}
	if !usable {
		setCondition(vbc, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonSuspended,
			"suspended: no API calls are made, and a stored credential has expired or is missing", now)
		return time.Time{}
	}
	next := earliest(expiries...)
	msg := "suspended: no API calls are made; the stored credentials stay usable"
	if !next.IsZero() {
		msg += " until " + timestamp(next)
		next = next.Add(expiryMargin)
	}
	setCondition(vbc, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonSuspended, msg, now)
	return next
}

// block reports what stops the whole VoipbinCredential (a URL not allowed, a
// Secret that is not its own): every condition False, and an event on the
// transition only. A watch brings the CR back when something changes.
func (r *VoipbinCredentialReconciler) block(vbc *v1alpha1.VoipbinCredential, reason, eventReason, message string, now time.Time) {
	if c := findCondition(vbc, v1alpha1.ConditionReady); c == nil || c.Reason != reason {
		r.event(vbc, corev1.EventTypeWarning, eventReason, "Reconcile", "%s", message)
	}
	setAllFalse(vbc, reason, message, now)
}

// requeueAt turns the next scheduled action into a RequeueAfter.
func (r *VoipbinCredentialReconciler) requeueAt(ctx context.Context, next time.Time, now time.Time) ctrl.Result {
	if next.IsZero() {
		return ctrl.Result{}
	}
	d := next.Sub(now)
	if d < time.Second {
		// Never spin: what is due now was just attempted or is waiting on a wait.
		d = time.Second
	}
	logf.FromContext(ctx).V(1).Info("next reconcile scheduled", "after", d.Round(time.Second).String())
	return ctrl.Result{RequeueAfter: d}
}

// patchStatus patches the status subresource, once and only if it changed.
func (r *VoipbinCredentialReconciler) patchStatus(ctx context.Context, original, vbc *v1alpha1.VoipbinCredential) error {
	if equality.Semantic.DeepEqual(original.Status, vbc.Status) {
		return nil
	}
	if err := r.Status().Patch(ctx, vbc, client.MergeFrom(original)); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("patching status: %w", err)
	}
	r.statusWrites.wrote(keyOf(vbc), vbc.ResourceVersion)
	return nil
}

// event records an event on vbc. Notes are built by the reconciler from
// sanitized parts only.
func (r *VoipbinCredentialReconciler) event(vbc *v1alpha1.VoipbinCredential, eventType, reason, action, note string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(vbc, nil, eventType, reason, action, note, args...)
	}
}

func findCondition(vbc *v1alpha1.VoipbinCredential, condType string) *metav1.Condition {
	for i := range vbc.Status.Conditions {
		if vbc.Status.Conditions[i].Type == condType {
			return &vbc.Status.Conditions[i]
		}
	}
	return nil
}
