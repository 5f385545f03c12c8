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
	"sigs.k8s.io/controller-runtime/pkg/event"
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
	secrets.ownWrite = func(req reconcile.Request, rv string) bool { return r.secretWrites.is(req.NamespacedName, rv) }
	if err := indexCredentials(context.Background(), mgr.GetCache()); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.VoipbinCredential{}, builder.WithPredicates(
			predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(managedSecretToCredential),
			builder.WithPredicates(r.notOwnSecretWrite())).
		WatchesRawSource(secrets).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(maxConcurrent, 1)}).
		Named("voipbincredential").
		Complete(r)
}

// managedSecretToCredential maps a managed Secret to the VoipbinCredential its
// credential label names.
// notOwnSecretWrite drops the event of a managed Secret's version that the
// operator itself wrote, or read back right after its write: the reconcile that
// wrote it has already decided on that version, so waking the CR again would
// only repeat its reads and decide to do nothing. Deletions always pass. The
// metadata watch of the Secrets a credential names drops the same events
// (secretWatch.ownWrite): it sees the managed Secret too.
func (r *VoipbinCredentialReconciler) notOwnSecretWrite() predicate.Predicate {
	own := func(obj client.Object) bool {
		name := obj.GetLabels()[v1alpha1.LabelCredential]
		return name != "" &&
			r.secretWrites.is(types.NamespacedName{Namespace: obj.GetNamespace(), Name: name}, obj.GetResourceVersion())
	}
	return predicate.Funcs{
		CreateFunc: func(e event.CreateEvent) bool { return !own(e.Object) },
		UpdateFunc: func(e event.UpdateEvent) bool { return !own(e.ObjectNew) },
	}
}

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
	// Only the names are read: no deep copies (a login Secret may be named by
	// hundreds of credentials).
	if err := r.List(ctx, list, client.InNamespace(obj.GetNamespace()),
		client.MatchingFields{indexSecretNames: obj.GetName()}, client.UnsafeDisableDeepCopy); err != nil {
		logf.FromContext(ctx).Error(err, "listing VoipbinCredentials for a Secret")
		return nil
	}
	return requestsFor(list.Items)
}

// credentialsIn returns a request for every VoipbinCredential of namespace.
func (r *VoipbinCredentialReconciler) credentialsIn(ctx context.Context, namespace string) []reconcile.Request {
	list := &v1alpha1.VoipbinCredentialList{}
	if err := r.List(ctx, list, client.InNamespace(namespace), client.UnsafeDisableDeepCopy); err != nil {
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
