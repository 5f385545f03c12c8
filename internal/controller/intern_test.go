package controller

import (
	"strings"
	"testing"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

// fresh returns a copy of s in memory of its own, as a decoder would.
func fresh(s string) string { return strings.Clone(s) }

func sameBytes(a, b string) bool { return unsafe.StringData(a) == unsafe.StringData(b) }

func managedSecret(name string) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: fresh("v1"), Kind: fresh("Secret")},
		ObjectMeta: metav1.ObjectMeta{
			Namespace: fresh("team-a"), Name: name,
			Labels:      map[string]string{fresh(v1alpha1.LabelCredential): name},
			Annotations: map[string]string{fresh(v1alpha1.AnnotationDataHash): "h-" + name},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: fresh("credentials.voipbin.net/v1alpha1"),
				Kind: fresh("VoipbinCredential"), Name: name, UID: "uid-" + "x"}},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: fresh(v1alpha1.FieldManager),
				Operation: metav1.ManagedFieldsOperationType(fresh("Update")), APIVersion: fresh("v1"),
				FieldsType: fresh("FieldsV1"), FieldsV1: metav1.NewFieldsV1(`{"f:data":{}}`)}},
		},
		Data: map[string][]byte{"token": []byte("t-" + name)},
		Type: corev1.SecretType(fresh("Opaque")),
	}
}

func TestInternSharesRepeatedStringsAndChangesNothing(t *testing.T) {
	a, b := managedSecret("a"), managedSecret("b")
	wantA, wantB := a.DeepCopy(), b.DeepCopy()
	for _, s := range []*corev1.Secret{a, b} {
		if _, err := internSecret(s); err != nil {
			t.Fatal(err)
		}
	}
	if !equality.Semantic.DeepEqual(a, wantA) || !equality.Semantic.DeepEqual(b, wantB) {
		t.Fatal("interning changed a Secret")
	}
	keyOf := func(m map[string]string) string {
		for k := range m {
			return k
		}
		return ""
	}
	for what, pair := range map[string][2]string{
		"namespace":        {a.Namespace, b.Namespace},
		"label key":        {keyOf(a.Labels), keyOf(b.Labels)},
		"annotation key":   {keyOf(a.Annotations), keyOf(b.Annotations)},
		"owner apiVersion": {a.OwnerReferences[0].APIVersion, b.OwnerReferences[0].APIVersion},
		"owner kind":       {a.OwnerReferences[0].Kind, b.OwnerReferences[0].Kind},
		"manager":          {a.ManagedFields[0].Manager, b.ManagedFields[0].Manager},
	} {
		if !sameBytes(pair[0], pair[1]) {
			t.Errorf("%s is not shared", what)
		}
	}
	// Values that differ stay apart; interning again changes nothing.
	if sameBytes(a.Labels[v1alpha1.LabelCredential], b.Labels[v1alpha1.LabelCredential]) {
		t.Error("label values were interned")
	}
	again := a.DeepCopy()
	if _, err := internSecret(again); err != nil || !equality.Semantic.DeepEqual(again, wantA) {
		t.Fatalf("interning twice changed the Secret (%v)", err)
	}
}

func TestCredentialTransformStripsAndInterns(t *testing.T) {
	mk := func() *v1alpha1.VoipbinCredential {
		return &v1alpha1.VoipbinCredential{
			TypeMeta: metav1.TypeMeta{APIVersion: fresh("credentials.voipbin.net/v1alpha1"), Kind: fresh("VoipbinCredential")},
			ObjectMeta: metav1.ObjectMeta{Namespace: fresh("team-a"), Name: "c",
				ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}},
			Spec: v1alpha1.VoipbinCredentialSpec{APIURL: fresh("https://api.voipbin.net/v1.0"), SecretName: "s"},
			Status: v1alpha1.VoipbinCredentialStatus{Conditions: []metav1.Condition{{Type: fresh("Ready"),
				Status: metav1.ConditionStatus(fresh("True")), Reason: fresh("TokenValid"), Message: "m"}}},
		}
	}
	transform := stripAndInternCredential(cache.TransformStripManagedFields())
	a, b := mk(), mk()
	for _, v := range []*v1alpha1.VoipbinCredential{a, b} {
		if _, err := transform(v); err != nil {
			t.Fatal(err)
		}
	}
	want := mk()
	want.ManagedFields = nil
	if !equality.Semantic.DeepEqual(a, want) {
		t.Fatalf("the transform changed more than the managedFields: %+v", a)
	}
	if !sameBytes(a.Spec.APIURL, b.Spec.APIURL) || !sameBytes(a.Status.Conditions[0].Reason, b.Status.Conditions[0].Reason) ||
		!sameBytes(a.APIVersion, b.APIVersion) {
		t.Error("repeated strings are not shared")
	}
}
