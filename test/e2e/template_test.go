package e2e

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

func withTemplate(secretType string, data map[string]string) credOption {
	return func(v *v1alpha1.VoipbinCredential) {
		v.Spec.SecretTemplate = &v1alpha1.SecretTemplate{Type: secretType, Data: data}
	}
}

// Issue 16: a Secret shaped for the app that reads it.
var _ = Describe("A templated Secret", func() {
	It("holds the rendered keys, is rendered again on renewal, and is left as it was by a broken template", func() {
		w := newWorld("tmpl")
		// The rendered forms are secrets too: the final leak scan looks for them
		// (and for their base64 forms, which differ from the token's own).
		scanner.AddIssuer("rendered token", func() []string {
			var out []string
			for _, t := range w.api.IssuedTokens() {
				out = append(out, "Bearer "+t, "TOKEN="+t+"\n")
			}
			return out
		})
		// A renewal at about 20 s, an expiry at 30 s.
		w.api.SetTokenLifetime(30 * time.Second)
		w.loginCredential("cred", withTemplate("example.com/voipbin", map[string]string{
			"VOIPBIN_TOKEN": "{{ .Token }}",
			"auth-header":   "Bearer {{ .Token }}",
			".env":          "TOKEN={{ .Token }}\nURL={{ .APIURL }}\n",
		}))
		w.waitReady("cred")

		rendered := func(s *corev1.Secret) {
			GinkgoHelper()
			tok := string(s.Data[v1alpha1.SecretKeyToken])
			Expect(tok).NotTo(BeEmpty())
			Expect(string(s.Data["VOIPBIN_TOKEN"])).To(Equal(tok))
			Expect(string(s.Data["auth-header"])).To(Equal("Bearer " + tok))
			Expect(string(s.Data[".env"])).To(Equal("TOKEN=" + tok + "\nURL=" + w.url + "\n"))
		}
		s := w.secret(managedSecret("cred"))
		Expect(s.Type).To(Equal(corev1.SecretType("example.com/voipbin")))
		rendered(s)
		first := string(s.Data[v1alpha1.SecretKeyToken])

		By("renewal renders the keys again")
		Eventually(w.storedTokenOf("cred")).WithTimeout(40 * time.Second).ShouldNot(Equal(first))
		rendered(w.secret(managedSecret("cred")))
		w.waitReady("cred")

		By("a broken template leaves the last good Secret in place")
		good := w.secret(managedSecret("cred")).Data
		w.patch("cred", func(v *v1alpha1.VoipbinCredential) {
			v.Spec.SecretTemplate.Data["bad"] = "{{ .Password }}"
		})
		Eventually(w.conditionOf("cred", v1alpha1.ConditionReady)).Should(And(
			HavePrefix("False/"+v1alpha1.ReasonTemplateError+":"),
			ContainSubstring(`secretTemplate.data["bad"]`), ContainSubstring("unknown value")))
		Expect(w.condition("cred", v1alpha1.ConditionTokenReady)).To(HavePrefix("True/"))
		Expect(w.kstatus("cred")).To(HavePrefix("Failed"))
		// Across the next renewal: the token is renewed in memory, the Secret untouched.
		before := w.logins()
		Consistently(func() map[string][]byte { return w.secret(managedSecret("cred")).Data }).
			WithTimeout(25 * time.Second).Should(Equal(good))
		observe("%d logins in 25 s of 30 s tokens with a broken template", w.logins()-before)
		Expect(w.logins()-before).To(BeNumerically("<=", 3), "a login loop under a broken template")

		By("the fixed template is rendered")
		w.patch("cred", func(v *v1alpha1.VoipbinCredential) {
			v.Spec.SecretTemplate.Data["bad"] = "{{ .ExpiresAt }}"
		})
		w.waitReady("cred")
		s = w.secret(managedSecret("cred"))
		rendered(s)
		Expect(string(s.Data["bad"])).To(Equal(string(s.Data[v1alpha1.SecretKeyExpiresAt])))
	})
})

func withOmittedKeys(data map[string]string) credOption {
	return func(v *v1alpha1.VoipbinCredential) {
		v.Spec.SecretTemplate = &v1alpha1.SecretTemplate{Data: data, OmitDefaultKeys: true}
	}
}

var _ = Describe("A Secret of the rendered keys only (omitDefaultKeys)", func() {
	It("holds no built-in key, costs no login on a restart, is rendered again on renewal and from one fresh login on a template change", func() {
		w := newWorld("omit")
		scanner.AddIssuer("rendered token (omitted keys)", func() []string {
			var out []string
			for _, t := range w.api.IssuedTokens() {
				out = append(out, "Bearer "+t)
			}
			return out
		})
		// A renewal at about 20 s, an expiry at 30 s.
		w.api.SetTokenLifetime(30 * time.Second)
		w.loginCredential("cred", withOmittedKeys(map[string]string{
			"VOIPBIN_TOKEN": "{{ .Token }}",
			"auth-header":   "Bearer {{ .Token }}",
		}))
		w.waitReady("cred")

		issued := func(tok string) bool {
			for _, t := range w.api.IssuedTokens() {
				if t == tok {
					return true
				}
			}
			return false
		}
		rendered := func(keys ...string) string {
			GinkgoHelper()
			s := w.secret(managedSecret("cred"))
			Expect(s.Data).To(HaveLen(len(keys)), "keys of the Secret")
			for _, k := range keys {
				Expect(s.Data).To(HaveKey(k))
			}
			tok := string(s.Data["VOIPBIN_TOKEN"])
			Expect(issued(tok)).To(BeTrue(), "VOIPBIN_TOKEN is a token the API issued")
			Expect(string(s.Data["auth-header"])).To(Equal("Bearer " + tok))
			Expect(s.Annotations).To(HaveKeyWithValue(v1alpha1.AnnotationDefaultKeys, v1alpha1.DefaultKeysOmitted))
			Expect(s.Annotations).To(HaveKeyWithValue(v1alpha1.AnnotationAPIURL, w.url))
			exp, err := time.Parse(time.RFC3339, s.Annotations[v1alpha1.AnnotationTokenExpiresAt])
			Expect(err).NotTo(HaveOccurred())
			Expect(exp).To(BeTemporally("~", time.Now().Add(30*time.Second), 35*time.Second))
			for k, v := range s.Annotations {
				Expect(scanner.Scan("annotation "+k, v)).To(BeEmpty())
			}
			return tok
		}
		first := rendered("VOIPBIN_TOKEN", "auth-header")

		By("an operator restart costs no login")
		before := w.logins()
		w.restartManager("omit")
		w.waitReady("cred")
		Expect(w.logins()-before).To(Equal(0), "logins after a restart")
		Expect(rendered("VOIPBIN_TOKEN", "auth-header")).To(Equal(first))

		By("renewal renders the keys again")
		Eventually(func() string { return string(w.secret(managedSecret("cred")).Data["VOIPBIN_TOKEN"]) }).
			WithTimeout(40 * time.Second).ShouldNot(Equal(first))
		second := rendered("VOIPBIN_TOKEN", "auth-header")

		By("a template change is rendered from one fresh login (the token is nowhere else)")
		before = w.logins()
		w.patch("cred", func(v *v1alpha1.VoipbinCredential) {
			v.Spec.SecretTemplate.Data["env"] = "VOIPBIN_TOKEN={{ .Token }}\n"
		})
		Eventually(func() []byte { return w.secret(managedSecret("cred")).Data["env"] }).ShouldNot(BeEmpty())
		w.waitReady("cred")
		third := rendered("VOIPBIN_TOKEN", "auth-header", "env")
		Expect(third).NotTo(Equal(second))
		Expect(string(w.secret(managedSecret("cred")).Data["env"])).To(Equal("VOIPBIN_TOKEN=" + third + "\n"))
		Expect(w.logins()-before).To(Equal(1), "logins for the template change")

		By("switched off: the built-in keys are written from one fresh login; on again: removed with no call")
		before = w.logins()
		w.patch("cred", func(v *v1alpha1.VoipbinCredential) { v.Spec.SecretTemplate.OmitDefaultKeys = false })
		Eventually(w.storedTokenOf("cred")).ShouldNot(BeEmpty())
		w.waitReady("cred")
		s := w.secret(managedSecret("cred"))
		Expect(issued(string(s.Data[v1alpha1.SecretKeyToken]))).To(BeTrue())
		Expect(string(s.Data["VOIPBIN_TOKEN"])).To(Equal(string(s.Data[v1alpha1.SecretKeyToken])))
		Expect(s.Annotations).NotTo(HaveKey(v1alpha1.AnnotationDefaultKeys))
		Expect(s.Annotations).NotTo(HaveKey(v1alpha1.AnnotationTokenFingerprint))
		Expect(w.logins()-before).To(Equal(1), "logins to write the built-in keys out")
		fourth := string(s.Data[v1alpha1.SecretKeyToken])
		w.patch("cred", func(v *v1alpha1.VoipbinCredential) { v.Spec.SecretTemplate.OmitDefaultKeys = true })
		Eventually(w.storedTokenOf("cred")).Should(BeEmpty())
		w.waitReady("cred")
		Expect(rendered("VOIPBIN_TOKEN", "auth-header", "env")).To(Equal(fourth))
		Expect(w.logins()-before).To(Equal(1), "logins to leave the built-in keys out")
	})
})

var _ = Describe("A Secret of the rendered keys only whose write is refused", func() {
	It("is rendered from one login for a template change however long writes are refused, and left as it was meanwhile", func() {
		w := newWorld("omitref")
		w.loginCredential("cred", withOmittedKeys(map[string]string{"VOIPBIN_TOKEN": "{{ .Token }}"}))
		w.waitReady("cred")
		good := w.secret(managedSecret("cred")).Data
		denial, allow := w.denySecretWrites(managedSecret("cred"), admissionregistrationv1.Update)
		// A restart first: the token is then nowhere but in the rendered key.
		w.restartManager("omitref")
		w.waitReady("cred")

		before := w.logins()
		w.patch("cred", func(v *v1alpha1.VoipbinCredential) {
			v.Spec.SecretTemplate.Data["auth-header"] = "Bearer {{ .Token }}"
		})
		Eventually(w.conditionOf("cred", v1alpha1.ConditionReady)).
			Should(And(HavePrefix("False/"+v1alpha1.ReasonSecretWriteFailed+":"), ContainSubstring(denial)))
		Consistently(func() map[string][]byte { return w.secret(managedSecret("cred")).Data }).
			WithTimeout(15*time.Second).Should(Equal(good), "the Secret under refused writes")
		Expect(w.logins()-before).To(Equal(1), "logins in 15 s of refused writes: one, its token held")

		allow()
		Eventually(func() []byte { return w.secret(managedSecret("cred")).Data["auth-header"] }).
			WithTimeout(60 * time.Second).ShouldNot(BeEmpty())
		w.waitReady("cred")
		s := w.secret(managedSecret("cred"))
		Expect(string(s.Data["auth-header"])).To(Equal("Bearer " + string(s.Data["VOIPBIN_TOKEN"])))
		Expect(s.Data).NotTo(HaveKey(v1alpha1.SecretKeyToken))
		Expect(w.logins()-before).To(Equal(1), "logins until the Secret was rendered: the held token is stored")
	})
})
