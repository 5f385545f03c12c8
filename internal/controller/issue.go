package controller

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/internal/plan"
	"github.com/voipbin/credential-operator/internal/voipbin"
)

// The accesskey calls of accessKey.issue: create, list by name, delete, each
// with the login token the plan names.

// issueToken is the login token plan p uses ("" when it is not at hand).
func issueToken(p plan.Plan, obs *plan.Observed) string {
	switch p.TokenFrom {
	case plan.TokenHeld:
		if obs.Memory.Token != nil {
			return obs.Memory.Token.JWT
		}
	case plan.TokenStored:
		if obs.Secret != nil {
			return string(obs.Secret.Data[v1alpha1.SecretKeyToken])
		}
	}
	return ""
}

// mint creates an accesskey.
func (r *VoipbinCredentialReconciler) mint(ctx context.Context, p plan.Plan, obs *plan.Observed, in inputs) *plan.MintOutcome {
	out := &plan.MintOutcome{}
	api, f := r.issueClient(in)
	if f != nil {
		out.At, out.Failure = r.Clock.Now(), f
		return out
	}
	k, err := api.CreateAccessKey(ctx, issueToken(p, obs), p.KeyName, p.KeyDetail, p.KeyLifetime)
	out.At = r.Clock.Now()
	log := logf.FromContext(ctx)
	if err == nil {
		created := k.CreatedAt
		if created.IsZero() || created.After(out.At) {
			created = out.At
		}
		out.Key = &plan.HeldKey{Key: k.Key, ValidatedAt: created,
			Info: plan.KeyInfo{ID: k.ID, Name: p.KeyName, Prefix: k.Prefix, ExpiresAt: k.ExpiresAt}}
		log.Info("accesskey created", "id", k.ID, "prefix", k.Prefix, "expiresAt", k.ExpiresAt.UTC())
		return out
	}
	out.DeferredUntil, out.Failure = failedCall(ctx, err, out.At, issueErr("create the accesskey"), "creating an accesskey failed")
	return out
}

// listKeys lists the live accesskeys named p.KeyName.
func (r *VoipbinCredentialReconciler) listKeys(ctx context.Context, p plan.Plan, obs *plan.Observed, in inputs) *plan.ListOutcome {
	out := &plan.ListOutcome{}
	api, f := r.issueClient(in)
	if f != nil {
		out.At, out.Failure = r.Clock.Now(), f
		return out
	}
	entries, err := api.ListAccessKeysNamed(ctx, issueToken(p, obs), p.KeyName)
	out.At = r.Clock.Now()
	if err == nil {
		for _, e := range entries {
			out.Keys = append(out.Keys, plan.KeyInfo{ID: e.ID, Name: e.Name, Prefix: e.TokenPrefix, ExpiresAt: e.TMExpire})
		}
		return out
	}
	out.DeferredUntil, out.Failure = failedCall(ctx, err, out.At, issueErr("list the accesskeys"), "listing the accesskeys failed")
	return out
}

// revoke deletes p.RevokeKeys in turn, stopping at the first failure; a key
// that is gone already (404, 409) counts as deleted.
func (r *VoipbinCredentialReconciler) revoke(ctx context.Context, p plan.Plan, obs *plan.Observed, in inputs) *plan.RevokeOutcome {
	out := &plan.RevokeOutcome{}
	api, f := r.issueClient(in)
	if f != nil {
		out.At, out.Failure = r.Clock.Now(), f
		return out
	}
	log := logf.FromContext(ctx)
	for _, k := range p.RevokeKeys {
		if stopping(ctx) {
			break
		}
		err := api.DeleteAccessKey(ctx, issueToken(p, obs), k.ID)
		out.At = r.Clock.Now()
		if err == nil || errors.Is(err, voipbin.ErrAccessKeyGone) {
			out.Revoked = append(out.Revoked, k)
			log.Info("accesskey deleted", "id", k.ID, "prefix", k.Prefix, "goneAlready", err != nil)
			continue
		}
		out.DeferredUntil, out.Failure = failedCall(ctx, err, out.At, issueErr("delete the accesskey"),
			"deleting an accesskey failed", "id", k.ID)
		break
	}
	if out.At.IsZero() {
		out.At = r.Clock.Now()
	}
	return out
}

// issueClient returns the API client of the CR's endpoint.
func (r *VoipbinCredentialReconciler) issueClient(in inputs) (*voipbin.Client, *plan.Failure) {
	api, err := r.clients.get(in.Endpoint.URL, in.CAPEM, in.InsecureSkipVerify)
	if err != nil {
		return nil, tlsSettingsFailure()
	}
	return api, nil
}

// tlsSettingsFailure is the failure of a call whose client cannot be built: the
// CA was checked while gathering, so this cannot normally happen.
func tlsSettingsFailure() *plan.Failure {
	return &plan.Failure{Kind: plan.Permanent, Reason: v1alpha1.ReasonTLSError, Description: "the TLS settings cannot be used"}
}

// issueErr sorts the errors of an accesskey call that was to do what.
func issueErr(what string) func(error) plan.Failure {
	return func(err error) plan.Failure { return classifyIssue(err, what) }
}

// classifyIssue sorts an error of an accesskey call made with the login token:
// a 400 or 403 to a create is VoIPBIN refusing keys to this account (a person
// must act); a 401 is the token refused (logged in again at its renewal, so
// retried with backoff); the rest as any call.
func classifyIssue(err error, what string) plan.Failure {
	var apiErr *voipbin.APIError
	if errors.As(err, &apiErr) {
		switch {
		case apiErr.Operation == voipbin.OperationCreateAccessKey &&
			(apiErr.StatusCode == 400 || apiErr.StatusCode == 403):
			return plan.Failure{Kind: plan.Permanent, Reason: v1alpha1.ReasonAccessKeyCreateFailed,
				Description: fmt.Sprintf("VoIPBIN refused to %s (%s): the agent needs customer-admin rights, "+
					"and the account must allow accesskeys", what, statusText(err))}
		case apiErr.StatusCode == 401:
			return plan.Failure{Kind: plan.Transient, Reason: v1alpha1.ReasonAPIUnavailable,
				Description: fmt.Sprintf("the API refused the login token when asked to %s (%s)", what, statusText(err))}
		}
	}
	return classify(err, "accesskey")
}

// setFinalizer adds or removes the operator's finalizer with an optimistic
// lock (another controller may be changing the list), and updates vbc.
func (r *VoipbinCredentialReconciler) setFinalizer(ctx context.Context, vbc *v1alpha1.VoipbinCredential, add bool) error {
	original := vbc.DeepCopy()
	if add {
		controllerutil.AddFinalizer(vbc, v1alpha1.FinalizerRevokeAccessKeys)
	} else {
		controllerutil.RemoveFinalizer(vbc, v1alpha1.FinalizerRevokeAccessKeys)
	}
	err := r.Patch(ctx, vbc, client.MergeFromWithOptions(original, client.MergeFromWithOptimisticLock{}))
	if err != nil {
		if apierrors.IsNotFound(err) && !add {
			return nil
		}
		return fmt.Errorf("patching the finalizers: %w", err)
	}
	r.statusWrites.wrote(keyOf(vbc), vbc.ResourceVersion)
	logf.FromContext(ctx).V(1).Info("finalizer changed", "added", add)
	return nil
}
