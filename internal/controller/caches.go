package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

// Memory stays bounded however many Secrets a cluster has (docs/architecture.md, "Bounded
// memory"):
//   - the client never caches Secrets, so no read can start a cluster-wide
//     informer of full Secrets;
//   - the manager's cache holds Secrets only with the credential label: the
//     managed Secrets, one per VoipbinCredential;
//   - input Secrets are read with the API reader when needed, and their changes
//     come from a metadata watch that stores nothing (secretWatch): not even a
//     stripped copy of each Secret's metadata, which would still grow with every
//     unrelated Secret in the cluster (a Secret's metadata can be as large as its
//     data, too: kubectl apply leaves the whole Secret in an annotation).

// ManagerCacheOptions returns the manager's cache options: VoipbinCredentials, and
// Secrets only with the credential label. namespaces limits both (nil: all).
// The cached VoipbinCredentials lose their managedFields, which nothing reads
// (about 1 KiB of heap per credential). The managed Secrets keep theirs: the
// hand-over to server-side apply and the owned keys read them. The strings
// every cached object repeats are shared (intern.go).
func ManagerCacheOptions(namespaces []string) cache.Options {
	managed, _ := labels.NewRequirement(v1alpha1.LabelCredential, selection.Exists, nil)
	return cache.Options{
		DefaultNamespaces: namespaceConfigs(namespaces),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}:              {Label: labels.NewSelector().Add(*managed), Transform: internSecret},
			&v1alpha1.VoipbinCredential{}: {Transform: stripAndInternCredential(cache.TransformStripManagedFields())},
		},
	}
}

// ClientOptions returns the manager's client options: Secrets are never read
// from a cache.
func ClientOptions() client.Options {
	return client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}}
}

func namespaceConfigs(namespaces []string) map[string]cache.Config {
	if len(namespaces) == 0 {
		return nil
	}
	m := make(map[string]cache.Config, len(namespaces))
	for _, ns := range namespaces {
		m[ns] = cache.Config{}
	}
	return m
}

// indexSecretNames indexes VoipbinCredentials by the names of the Secrets they
// read or write.
const indexSecretNames = ".spec.secretNames"

func secretNamesOf(obj client.Object) []string {
	vbc, ok := obj.(*v1alpha1.VoipbinCredential)
	if !ok {
		return nil
	}
	return append(inputSecretNames(vbc), vbc.Spec.SecretName)
}

// indexCredentials registers indexSecretNames on the VoipbinCredential
// informer of c. Not with the cache's IndexField: that indexes every value
// twice, in its namespace and across all namespaces (for a List without a
// namespace), and the only lookup (secretToCredentials) lists in the Secret's
// namespace. Each credential's managed Secret name is a key of its own, a set
// of one, so the second copy cost about 0.3 KiB of heap per credential. The
// index is registered under the name and with the keys the cache's List looks
// up (FieldIndexName, KeyToNamespacedKey of controller-runtime's cache), so a
// List with client.InNamespace and client.MatchingFields reads it; a List by
// this field without a namespace finds nothing.
func indexCredentials(ctx context.Context, c cache.Cache) error {
	informer, err := c.GetInformer(ctx, &v1alpha1.VoipbinCredential{})
	if err != nil {
		return fmt.Errorf("getting the VoipbinCredential informer: %w", err)
	}
	return informer.AddIndexers(toolscache.Indexers{"field:" + indexSecretNames: secretNameKeys})
}

// secretNameKeys are the index keys of a VoipbinCredential: namespace/name of
// each Secret it names.
func secretNameKeys(obj any) ([]string, error) {
	vbc, ok := obj.(*v1alpha1.VoipbinCredential)
	if !ok {
		return nil, nil
	}
	names := secretNamesOf(vbc)
	keys := make([]string, len(names))
	for i, name := range names {
		keys[i] = vbc.Namespace + "/" + name
	}
	return keys, nil
}
