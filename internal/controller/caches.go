package controller

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

// Memory stays bounded however many Secrets a cluster has (design.md, "Bounded
// memory"):
//   - the client never caches Secrets, so no read can start a cluster-wide
//     informer of full Secrets;
//   - the manager's cache holds Secrets only with the credential label: the
//     managed Secrets, one per VoipbinCredential;
//   - input Secrets are read with the API reader when needed and watched through a
//     second cache of their metadata only, stripped by a transform to name,
//     namespace, UID and resourceVersion before it is stored (a Secret's metadata
//     can be as large as its data: kubectl apply leaves the whole Secret in an
//     annotation).

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

// NewInputSecretCache returns the cache that watches the metadata of every Secret
// (name, namespace, UID and resourceVersion only), to notice changes of input
// Secrets and of Secrets in the way of a managed one. Add it to the manager.
func NewInputSecretCache(cfg *rest.Config, scheme *runtime.Scheme, namespaces []string) (cache.Cache, error) {
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	mapper, err := apiutil.NewDynamicRESTMapper(cfg, httpClient)
	if err != nil {
		return nil, err
	}
	return cache.New(cfg, cache.Options{
		HTTPClient:                  httpClient,
		Scheme:                      scheme,
		Mapper:                      mapper,
		DefaultNamespaces:           namespaceConfigs(namespaces),
		DefaultTransform:            stripToIdentity,
		ReaderFailOnMissingInformer: true,
	})
}

// stripToIdentity keeps only what tells one version of an object from another.
func stripToIdentity(obj any) (any, error) {
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return obj, nil
	}
	return &metav1.PartialObjectMetadata{
		TypeMeta: m.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion,
		},
	}, nil
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

// secretMetadata is the watched form of an input Secret.
func secretMetadata() *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
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
