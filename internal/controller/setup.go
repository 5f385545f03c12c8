package controller

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

// SetupWithManager registers the reconciler with mgr; secrets is the watch of
// input Secrets.
//
// What wakes a VoipbinCredential:
//   - a change of its spec or annotations (not its status: the reconciler's own
//     status patches would wake it for nothing);
//   - any change of its managed Secret, mapped by the credential label, so that a
//     retained Secret without an owner reference is watched too;
//   - any change of a Secret it names (login, accesskey, CA, or one in the way of
//     its managed Secret), through a metadata watch that stores nothing, mapped by
//     name with an index;
//   - its own schedule (RequeueAfter).
func (r *VoipbinCredentialReconciler) SetupWithManager(mgr ctrl.Manager, secrets *secretWatch, maxConcurrent int) error {
	secrets.credentialsNaming, secrets.credentialsIn = r.secretToCredentials, r.credentialsIn
	if err := indexCredentials(context.Background(), mgr.GetFieldIndexer()); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.VoipbinCredential{}, builder.WithPredicates(
			predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(managedSecretToCredential)).
		WatchesRawSource(secrets).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(maxConcurrent, 1)}).
		Named("voipbincredential").
		Complete(r)
}

// managedSecretToCredential maps a managed Secret to the VoipbinCredential its
// credential label names.
func managedSecretToCredential(_ context.Context, obj client.Object) []reconcile.Request {
	name := obj.GetLabels()[v1alpha1.LabelCredential]
	if name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: name}}}
}

// secretToCredentials maps a Secret to the VoipbinCredentials of its namespace that
// name it.
func (r *VoipbinCredentialReconciler) secretToCredentials(ctx context.Context, obj *metav1.PartialObjectMetadata) []reconcile.Request {
	list := &v1alpha1.VoipbinCredentialList{}
	if err := r.List(ctx, list, client.InNamespace(obj.GetNamespace()),
		client.MatchingFields{indexSecretNames: obj.GetName()}); err != nil {
		logf.FromContext(ctx).Error(err, "listing VoipbinCredentials for a Secret")
		return nil
	}
	return requestsFor(list.Items)
}

// credentialsIn returns a request for every VoipbinCredential of namespace.
func (r *VoipbinCredentialReconciler) credentialsIn(ctx context.Context, namespace string) []reconcile.Request {
	list := &v1alpha1.VoipbinCredentialList{}
	if err := r.List(ctx, list, client.InNamespace(namespace)); err != nil {
		logf.FromContext(ctx).Error(err, "listing VoipbinCredentials")
		return nil
	}
	return requestsFor(list.Items)
}

func requestsFor(items []v1alpha1.VoipbinCredential) []reconcile.Request {
	requests := make([]reconcile.Request, 0, len(items))
	for _, vbc := range items {
		requests = append(requests, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: vbc.Namespace, Name: vbc.Name}})
	}
	return requests
}
