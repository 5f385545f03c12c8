package controller

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

// TestOwnSecretWriteWakesNoReconcile: the event of the managed Secret's version
// the operator wrote (or read back after its write) is dropped; any other
// version, a Secret of no credential and every deletion pass.
func TestOwnSecretWriteWakesNoReconcile(t *testing.T) {
	r := &VoipbinCredentialReconciler{secretWrites: newWrittenVersions()}
	r.secretWrites.wrote(types.NamespacedName{Namespace: "ns", Name: "app"}, "42")
	secret := func(credential, rv string) *corev1.Secret {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "app-token", ResourceVersion: rv}}
		if credential != "" {
			s.Labels = map[string]string{v1alpha1.LabelCredential: credential}
		}
		return s
	}
	p := r.notOwnSecretWrite()
	for _, tc := range []struct {
		name string
		pass bool
		got  bool
	}{
		{"create of our version", false, p.Create(event.CreateEvent{Object: secret("app", "42")})},
		{"update to our version", false, p.Update(event.UpdateEvent{ObjectOld: secret("app", "41"), ObjectNew: secret("app", "42")})},
		{"update to a later version", true, p.Update(event.UpdateEvent{ObjectOld: secret("app", "42"), ObjectNew: secret("app", "43")})},
		{"create of another version", true, p.Create(event.CreateEvent{Object: secret("app", "7")})},
		{"another credential's Secret", true, p.Create(event.CreateEvent{Object: secret("other", "42")})},
		{"a Secret without the label", true, p.Create(event.CreateEvent{Object: secret("", "42")})},
		{"deletion of our version", true, p.Delete(event.DeleteEvent{Object: secret("app", "42")})},
	} {
		if tc.got != tc.pass {
			t.Errorf("%s: passed %v, want %v", tc.name, tc.got, tc.pass)
		}
	}
}
