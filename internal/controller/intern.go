package controller

import (
	"unique"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

// The cached objects repeat the same strings in every copy: the credential
// label's key, the operator's annotation keys, the owner reference's API
// version and kind, the field manager's name, the CR's API version and kind.
// Each decoded object holds its own copy of each (about 0.3 KiB per credential
// between its VoipbinCredential and its managed Secret). The cache transforms
// below replace them with one shared copy (Go's unique package: a string
// nothing refers to any more is dropped). Only strings that are the same in
// many objects are interned: names, UIDs, versions and values are not, as an
// interned unique string would only cost more.

func intern(s string) string {
	if s == "" {
		return s
	}
	return unique.Make(s).Value()
}

// internKeys interns the keys of m in place: no new map, so that the initial
// list after a start does not leave a discarded map beside each cached object.
// A key re-inserted during the range may be visited again; interning it again
// changes nothing.
func internKeys[V any](m map[string]V) {
	for k, v := range m {
		if i := intern(k); !sameString(i, k) {
			delete(m, k)
			m[i] = v
		}
	}
}

// sameString reports whether a and b share their bytes.
func sameString(a, b string) bool {
	return len(a) == len(b) && (len(a) == 0 || unsafe.StringData(a) == unsafe.StringData(b))
}

func internObjectMeta(m *metav1.ObjectMeta) {
	m.Namespace = intern(m.Namespace)
	internKeys(m.Labels)
	internKeys(m.Annotations)
	for i := range m.OwnerReferences {
		ref := &m.OwnerReferences[i]
		ref.APIVersion, ref.Kind = intern(ref.APIVersion), intern(ref.Kind)
	}
	for i := range m.ManagedFields {
		mf := &m.ManagedFields[i]
		mf.Manager, mf.APIVersion, mf.FieldsType = intern(mf.Manager), intern(mf.APIVersion), intern(mf.FieldsType)
		mf.Operation = metav1.ManagedFieldsOperationType(intern(string(mf.Operation)))
		mf.Subresource = intern(mf.Subresource)
	}
}

func internTypeMeta(t *metav1.TypeMeta) {
	t.APIVersion, t.Kind = intern(t.APIVersion), intern(t.Kind)
}

// internSecret is the transform of the managed Secrets' cache.
func internSecret(obj any) (any, error) {
	if s, ok := obj.(*corev1.Secret); ok {
		internTypeMeta(&s.TypeMeta)
		internObjectMeta(&s.ObjectMeta)
		s.Type = corev1.SecretType(intern(string(s.Type)))
	}
	return obj, nil
}

// stripAndInternCredential is the transform of the VoipbinCredentials' cache:
// their managedFields go (nothing reads them), the repeated strings are shared.
func stripAndInternCredential(strip toolscache.TransformFunc) toolscache.TransformFunc {
	return func(obj any) (any, error) {
		obj, err := strip(obj)
		if err != nil {
			return obj, err
		}
		if vbc, ok := obj.(*v1alpha1.VoipbinCredential); ok {
			internTypeMeta(&vbc.TypeMeta)
			internObjectMeta(&vbc.ObjectMeta)
			vbc.Spec.APIURL = intern(vbc.Spec.APIURL)
			for i := range vbc.Status.Conditions {
				c := &vbc.Status.Conditions[i]
				c.Type, c.Reason = intern(c.Type), intern(c.Reason)
				c.Status = metav1.ConditionStatus(intern(string(c.Status)))
			}
		}
		return obj, nil
	}
}
