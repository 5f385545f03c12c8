package v1alpha1_test

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func keyOf(obj client.Object) client.ObjectKey { return client.ObjectKeyFromObject(obj) }

func createRaw(obj map[string]any) error {
	return k8sClient.Create(ctx, &unstructured.Unstructured{Object: obj})
}
