package controller_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/internal/controller"
	"github.com/voipbin/credential-operator/internal/voipbin/voipbintest"
)

var _ = Describe("TLS", func() {
	// TestTLS runs the stand-in over HTTPS with a self-signed certificate: unknown to
	// the system roots it is TLSError; with the certificate in tls.caSecretRef it
	// works, and so does insecureSkipVerify.
	It("TestTLS", func() {
		secure := voipbintest.New()
		secure.StartTLS()
		DeferCleanup(secure.Close)
		rememberStandIn(secure)
		secure.AddAgent("tls@example.com", "password-tls", "")
		e := newEnv(7*24*time.Hour, func(o *controller.Options) {
			allowed, err := controller.ParseAllowedURLs(secure.URL())
			Expect(err).NotTo(HaveOccurred())
			o.AllowedURLs = allowed
		})
		e.loginSecret("login", "tls@example.com", "password-tls")
		atSecure := func(v *v1alpha1.VoipbinCredential) { v.Spec.APIURL = secure.URL() }

		e.credential("unknown-ca", withLogin("login"), atSecure)
		e.waitCondition("unknown-ca", v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonTLSError, 15*time.Second)
		Expect(e.condition("unknown-ca", v1alpha1.ConditionTokenReady)).To(HaveField("Reason", v1alpha1.ReasonTLSError), "TokenReady")

		// The CA arrives in a Secret, referenced by the CR: Ready within seconds.
		Expect(e.c.Create(e.ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "ca", Namespace: e.ns},
			Data:       map[string][]byte{"ca.crt": secure.CACertPEM()},
		})).To(Succeed())
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
		Consistently(func() int { return len(secure.Requests()) }).WithTimeout(time.Second).
			Should(Equal(before), "requests without the CA")
	})
})
