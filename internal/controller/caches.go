package controller

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
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
func ManagerCacheOptions(namespaces []string) cache.Options {
	managed, _ := labels.NewRequirement(v1alpha1.LabelCredential, selection.Exists, nil)
	return cache.Options{
		DefaultNamespaces: namespaceConfigs(namespaces),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {Label: labels.NewSelector().Add(*managed)},
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

// indexCredentials registers indexSecretNames.
func indexCredentials(ctx context.Context, indexer client.FieldIndexer) error {
	return indexer.IndexField(ctx, &v1alpha1.VoipbinCredential{}, indexSecretNames, secretNamesOf)
}
