package controller_test

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/internal/controller"
	"github.com/voipbin/credential-operator/internal/voipbin/voipbintest"
)

// TestTLS runs the stand-in over HTTPS with a self-signed certificate: unknown to
// the system roots it is TLSError; with the certificate in tls.caSecretRef it
// works, and so does insecureSkipVerify.
func TestTLS(t *testing.T) {
	t.Parallel()
	secure := voipbintest.New()
	secure.StartTLS()
	defer secure.Close()
	secure.AddAgent("tls@example.com", "pw-tls", "")
	e := newEnv(t, 7*24*time.Hour, func(o *controller.Options) {
		allowed, err := controller.ParseAllowedURLs(secure.URL())
		must(t, err)
		o.AllowedURLs = allowed
	})
	e.loginSecret("login", "tls@example.com", "pw-tls")
	atSecure := func(v *v1alpha1.VoipbinCredential) { v.Spec.APIURL = secure.URL() }

	e.credential("unknown-ca", withLogin("login"), atSecure)
	e.waitCondition("unknown-ca", v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonTLSError, 15*time.Second)
	if c := e.condition("unknown-ca", v1alpha1.ConditionTokenReady); c.Reason != v1alpha1.ReasonTLSError {
		t.Errorf("TokenReady %+v", c)
	}

	// The CA arrives in a Secret, referenced by the CR: Ready within seconds.
	must(t, e.c.Create(e.ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "ca", Namespace: e.ns},
		Data:       map[string][]byte{"ca.crt": secure.CACertPEM()},
	}))
	e.update("unknown-ca", func(v *v1alpha1.VoipbinCredential) {
		v.Spec.TLS = &v1alpha1.TLSSpec{CASecretRef: &v1alpha1.CASecretRef{Name: "ca"}}
	})
	e.waitReady("unknown-ca", 10*time.Second)

	e.credential("skip-verify", withLogin("login"), atSecure, func(v *v1alpha1.VoipbinCredential) {
		v.Spec.TLS = &v1alpha1.TLSSpec{InsecureSkipVerify: true}
	})
	e.waitReady("skip-verify", 15*time.Second)

	// A CA Secret that is missing is reported as such, and no request is made.
	before := len(secure.Requests())
	e.credential("missing-ca", withLogin("login"), atSecure, func(v *v1alpha1.VoipbinCredential) {
		v.Spec.TLS = &v1alpha1.TLSSpec{CASecretRef: &v1alpha1.CASecretRef{Name: "no-such-ca"}}
	})
	e.waitCondition("missing-ca", v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonSecretNotFound, 15*time.Second)
	time.Sleep(time.Second)
	if n := len(secure.Requests()) - before; n != 0 {
		t.Errorf("%d requests without the CA", n)
	}
}
