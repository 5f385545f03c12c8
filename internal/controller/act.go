package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	"k8s.io/client-go/util/csaupgrade"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/internal/plan"
	"github.com/voipbin/credential-operator/internal/voipbin"
)

// act carries out the plan's action and puts its outcome into obs for the next
// Decide. It returns an error only when the Kubernetes API fails in a way the
// plan cannot describe (reading the Secret back).
func (r *VoipbinCredentialReconciler) act(ctx context.Context, vbc *v1alpha1.VoipbinCredential, p plan.Plan,
	obs *plan.Observed, in inputs) error {
	switch p.Action {
	case plan.Login:
		obs.Outcome.Login = r.login(ctx, vbc, p.Fresh, in)
	case plan.Check:
		obs.Outcome.Check = r.check(ctx, in)
	case plan.Write:
		return r.write(ctx, vbc, p, obs, in)
	}
	return nil
}

// login logs in, or joins an identical login of another credential (the same
// URL, TLS settings, username and password) in flight or just made.
func (r *VoipbinCredentialReconciler) login(ctx context.Context, vbc *v1alpha1.VoipbinCredential, fresh bool,
	in inputs) *plan.CallOutcome {
	api, err := r.clients.get(in.Endpoint.URL, in.CAPEM, in.InsecureSkipVerify)
	if err != nil { // the CA was checked while gathering; this cannot normally happen
		return &plan.CallOutcome{At: r.Clock.Now(), Failure: &plan.Failure{Kind: plan.Permanent,
			Reason: v1alpha1.ReasonTLSError, Description: "the TLS settings cannot be used"}}
	}
	now := r.Clock.Now()
	var renewBefore *time.Duration
	if rb := vbc.Spec.RenewBefore; rb != nil {
		renewBefore = &rb.Duration
	}
	key := r.sharing.sharedLoginKey(in.Endpoint.URL, in.InsecureSkipVerify, in.CAPEM, in.Login.Username, in.Password)
	tok, shared, err := r.sharing.login(ctx, key, fresh, now,
		func(t voipbin.Token) bool {
			return now.Before(plan.RenewalTime(t.IssuedAt, t.ExpiresAt, renewBefore, vbc.UID))
		},
		func(ctx context.Context) (voipbin.Token, error) {
			return api.Login(ctx, in.Login.Username, in.Password)
		})
	out := &plan.CallOutcome{At: r.Clock.Now()}
	log := logf.FromContext(ctx)
	if err == nil {
		username := voipbin.TokenUsername(tok.JWT)
		if username == "" {
			username = in.Login.Username
		}
		out.Token = &plan.HeldToken{JWT: tok.JWT, Username: username, IssuedAt: tok.IssuedAt, ExpiresAt: tok.ExpiresAt}
		log.Info("logged in", "expiresAt", tok.ExpiresAt.UTC().Format(time.RFC3339), "sharedCall", shared)
		return out
	}
	if wait, ok := deferredBy(err); ok {
		out.DeferredUntil = out.At.Add(wait)
		log.V(1).Info("login deferred: the API asked to wait", "until", out.DeferredUntil.UTC().Format(time.RFC3339))
		return out
	}
	f := classify(err, "login")
	out.Failure = &f
	log.Info("login failed", "reason", f.Reason)
	return out
}

// check validates the accesskey by listing the accesskeys with it.
func (r *VoipbinCredentialReconciler) check(ctx context.Context, in inputs) *plan.CallOutcome {
	out := &plan.CallOutcome{}
	api, err := r.clients.get(in.Endpoint.URL, in.CAPEM, in.InsecureSkipVerify)
	if err != nil {
		out.At = r.Clock.Now()
		out.Failure = &plan.Failure{Kind: plan.Permanent, Reason: v1alpha1.ReasonTLSError,
			Description: "the TLS settings cannot be used"}
		return out
	}
	info, err := api.ValidateAccessKey(ctx, in.AccessKey.Key)
	out.At = r.Clock.Now()
	log := logf.FromContext(ctx)
	if err == nil {
		out.Key = &plan.KeyInfo{ID: info.ID, Name: info.Name, Prefix: info.Prefix, ExpiresAt: info.ExpiresAt}
		log.Info("accesskey validated", "prefix", info.Prefix, "found", info.Found)
		return out
	}
	if wait, ok := deferredBy(err); ok {
		out.DeferredUntil = out.At.Add(wait)
		return out
	}
	f := classify(err, "accesskey")
	out.Failure = &f
	log.Info("accesskey check failed", "reason", f.Reason)
	return out
}

// write creates the managed Secret, or changes it with a precondition on the UID
// the decision saw, so that a Secret someone else created in between is never
// written: a Create that finds one, or a change whose precondition fails, reads
// the Secret again and lets the next decision judge it. After a write, the Secret
// is read back, so that the next decision sees it as the API server holds it.
func (r *VoipbinCredentialReconciler) write(ctx context.Context, vbc *v1alpha1.VoipbinCredential, p plan.Plan,
	obs *plan.Observed, in inputs) error {
	var err error
	if p.SecretUID == "" {
		created := p.Secret.DeepCopy()
		if err = r.Create(ctx, created, client.FieldOwner(v1alpha1.FieldManager)); err == nil {
			// At once, not only after the read-back: the watch event of the
			// Create may come first, and notOwnSecretWrite must know it.
			r.secretWrites.wrote(keyOf(vbc), created.ResourceVersion)
		}
	} else {
		if obs.Secret != nil && obs.Secret.UID == p.SecretUID && createdByUs(obs.Secret) {
			r.handOverToApply(ctx, obs.Secret.DeepCopy())
		}
		ac := applyConfiguration(p.Secret).WithUID(p.SecretUID)
		err = r.Apply(ctx, ac, client.FieldOwner(v1alpha1.FieldManager), client.ForceOwnership)
	}
	switch {
	case err == nil:
		logf.FromContext(ctx).V(1).Info("managed Secret written", "secret", vbc.Spec.SecretName, "created", p.SecretUID == "")
	case apierrors.IsAlreadyExists(err) || apierrors.IsConflict(err):
		// Someone else's Secret appeared, or ours was replaced: look again.
		logf.FromContext(ctx).V(1).Info("managed Secret changed under the write; reading it again")
	default:
		obs.Outcome.Write = &plan.WriteOutcome{Message: writeFailure(err, in, obs.Memory)}
		logf.FromContext(ctx).Info("managed Secret write failed", "reason", string(apierrors.ReasonForError(err)))
		return nil
	}
	if err := r.readManagedSecretFromAPI(ctx, vbc, obs); err != nil {
		return err
	}
	if obs.Secret != nil {
		r.secretWrites.wrote(keyOf(vbc), obs.Secret.ResourceVersion)
	}
	return nil
}

// createdByUs reports whether the operator's Create still owns fields of secret
// (a managed-fields entry of its field manager with operation Update).
func createdByUs(secret *corev1.Secret) bool {
	for _, mf := range secret.ManagedFields {
		if mf.Manager == v1alpha1.FieldManager && mf.Operation == metav1.ManagedFieldsOperationUpdate && mf.Subresource == "" {
			return true
		}
	}
	return false
}

// handOverToApply turns the field ownership the Create recorded (operation
// Update) into the operator's server-side apply ownership, as kubectl does when it
// moves an object to server-side apply, so that the apply that follows owns every
// field it sets and removes a label dropped from secretTemplate, or the owner
// reference dropped with deletionPolicy Retain. It is done before the first apply
// of a created Secret, not at the Create, so that reaching Ready costs two writes
// (the Create and the status), not three. The patch carries the Secret's
// resourceVersion, so it changes nothing if someone wrote in between; a failure
// is only logged (the apply still writes what it must).
func (r *VoipbinCredentialReconciler) handOverToApply(ctx context.Context, created *corev1.Secret) {
	patch, err := csaupgrade.UpgradeManagedFieldsPatch(created, sets.New(v1alpha1.FieldManager), v1alpha1.FieldManager)
	if err == nil && patch != nil {
		err = r.Patch(ctx, created, client.RawPatch(types.JSONPatchType, patch))
	}
	if err != nil {
		logf.FromContext(ctx).Info("could not hand the created Secret's fields over to server-side apply",
			"reason", string(apierrors.ReasonForError(err)))
	}
}

// readManagedSecretFromAPI reads the managed Secret from the API server into obs.
func (r *VoipbinCredentialReconciler) readManagedSecretFromAPI(ctx context.Context, vbc *v1alpha1.VoipbinCredential,
	obs *plan.Observed) error {
	secret := &corev1.Secret{}
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: vbc.Namespace, Name: vbc.Spec.SecretName}, secret)
	switch {
	case apierrors.IsNotFound(err):
		obs.Secret, obs.SecretTokenUsername = nil, ""
	case err != nil:
		return fmt.Errorf("reading the managed Secret: %w", err)
	default:
		obs.Secret = secret
		obs.SecretTokenUsername = voipbin.TokenUsername(string(secret.Data[v1alpha1.SecretKeyToken]))
	}
	return nil
}

// maxWriteMessage bounds the API server's message quoted in the status: enough
// for an admission policy's reason, not a page of text.
const maxWriteMessage = 300

// writeFailure quotes why the API server refused the write, with every
// credential this reconcile holds cut out (an admission message could echo a
// field), bounded in length.
func writeFailure(err error, in inputs, mem plan.Memory) string {
	msg := err.Error()
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		msg = status.Status().Message
	}
	secrets := []string{in.Password}
	if in.AccessKey != nil {
		secrets = append(secrets, in.AccessKey.Key)
	}
	if mem.Token != nil {
		secrets = append(secrets, mem.Token.JWT)
	}
	if mem.Key != nil {
		secrets = append(secrets, mem.Key.Key)
	}
	for _, s := range secrets {
		if len(s) >= 4 {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	if len(msg) > maxWriteMessage {
		msg = msg[:maxWriteMessage] + "…"
	}
	return fmt.Sprintf("the API server refused it (%s): %s", apierrors.ReasonForError(err), msg)
}

// applyConfiguration returns s as a server-side apply request: data (never
// stringData), labels, annotations and the owner reference.
func applyConfiguration(s *corev1.Secret) *corev1ac.SecretApplyConfiguration {
	ac := corev1ac.Secret(s.Name, s.Namespace).
		WithType(s.Type).
		WithLabels(s.Labels).
		WithAnnotations(s.Annotations).
		WithData(s.Data)
	for _, ref := range s.OwnerReferences {
		ac.WithOwnerReferences(metav1ac.OwnerReference().
			WithAPIVersion(ref.APIVersion).WithKind(ref.Kind).WithName(ref.Name).WithUID(ref.UID).
			WithController(ref.Controller != nil && *ref.Controller).
			WithBlockOwnerDeletion(ref.BlockOwnerDeletion != nil && *ref.BlockOwnerDeletion))
	}
	return ac
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
