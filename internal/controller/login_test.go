package controller_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/internal/voipbin"
)

// jwtExpire returns the expire claim of a JWT, parsed; g is Default outside a
// polled function.
func jwtExpire(g Gomega, jwt string) time.Time {
	GinkgoHelper()
	parts := strings.Split(jwt, ".")
	g.Expect(parts).To(HaveLen(3), "not a JWT")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	g.Expect(err).NotTo(HaveOccurred())
	var claims struct {
		Expire string `json:"expire"`
	}
	g.Expect(json.Unmarshal(payload, &claims)).To(Succeed())
	exp, err := time.Parse(voipbin.ExpireLayout, claims.Expire)
	g.Expect(err).NotTo(HaveOccurred())
	return exp
}

var _ = Describe("login credentials", func() {
	It("TestLoginWritesManagedSecret", func() {
		e := newEnv(7 * 24 * time.Hour)
		e.api.AddAgent("agent@example.com", "s3cret-pass", "")
		e.loginSecret("login", "agent@example.com", "s3cret-pass")
		vbc := e.credential("billing", withLogin("login"))
		e.waitReady("billing", 15*time.Second)

		s := e.secret("billing-out")
		Expect(s).NotTo(BeNil(), "no managed Secret")
		token := string(s.Data["token"])
		Expect(token).NotTo(BeEmpty(), "the Secret's token")
		Expect(string(s.Data["apiURL"])).To(Equal(e.api.URL()), "the Secret's apiURL")
		exp := jwtExpire(Default, token)
		Expect(string(s.Data["expiresAt"])).To(Equal(exp.UTC().Truncate(time.Second).Format(time.RFC3339)), "expiresAt key, JWT expire %s", exp)
		Expect(s.Labels).To(And(
			HaveKeyWithValue(v1alpha1.LabelManagedBy, v1alpha1.FieldManager),
			HaveKeyWithValue(v1alpha1.LabelCredential, "billing"),
		), "labels")
		Expect(s.Annotations).To(HaveKeyWithValue(v1alpha1.AnnotationDataHash, HavePrefix("sha256:")), "no data hash annotation")
		Expect(metav1.GetControllerOf(s)).To(And(Not(BeNil()), HaveField("UID", vbc.UID), HaveField("Kind", "VoipbinCredential")),
			"owner reference")
		var applied bool
		for _, mf := range s.ManagedFields {
			fields := string(mf.FieldsV1.GetRawBytes())
			// Created with Create (an Update entry), changed with server-side apply.
			if mf.Manager == v1alpha1.FieldManager && strings.Contains(fields, `"f:data"`) {
				applied = true
			}
			Expect(fields).NotTo(ContainSubstring("stringData"), "stringData used")
		}
		Expect(applied).To(BeTrue(), "data not written by %s: %+v", v1alpha1.FieldManager, s.ManagedFields)
		st := e.get("billing").Status
		Expect(st.Token).To(And(
			Not(BeNil()),
			HaveField("ExpiresAt", Not(BeNil())),
			HaveField("ExpiresAt.Time", BeTemporally("==", exp.Truncate(time.Second))),
		), "status.token.expiresAt, JWT expire %s", exp)
		Expect(st.Token.RenewalTime).NotTo(BeNil(), "renewalTime")
		Expect(st.Token.RenewalTime.Time).To(BeTemporally("<", st.Token.ExpiresAt.Time), "renewalTime not before expiry")
		Expect(st.SecretName).To(Equal("billing-out"), "status.secretName")
		Expect(st.ObservedGeneration).To(Equal(vbc.Generation), "status.observedGeneration")
		Expect(e.condition("billing", v1alpha1.ConditionTokenReady)).
			To(haveCondition(metav1.ConditionTrue, v1alpha1.ReasonLoggedIn), "TokenReady")
		Expect(e.events("billing", v1alpha1.EventLoggedIn)).To(HaveLen(1), "LoggedIn events")
		Expect(e.logins("agent@example.com")).To(HaveLen(1), "logins")
	})

	It("TestShortLivedTokenRenewedBeforeExpiry", func() {
		e := newEnv(12 * time.Second)
		e.api.AddAgent("short@example.com", "pw-short-1", "")
		e.loginSecret("login", "short@example.com", "pw-short-1")
		e.credential("short", withLogin("login"))
		e.waitReady("short", 15*time.Second)

		// Watch the Secret for 30 s: it must always hold an unexpired token, and the
		// stand-in must see exactly one login per token the Secret held.
		tokens := map[string]bool{}
		Consistently(func(g Gomega) {
			tok := string(e.secret("short-out").Data["token"])
			g.Expect(jwtExpire(g, tok)).To(BeTemporally(">", time.Now()), "the Secret holds an expired token")
			tokens[tok] = true
		}).WithTimeout(30 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())
		// A 12 s token renews about every 8 s: 30 s see at least 4 tokens.
		Expect(len(tokens)).To(BeNumerically(">=", 4), "tokens in 30 s: not renewed")
		// The poll may miss the last token if it came in the final instant.
		Expect(e.logins("short@example.com")).To(Or(HaveLen(len(tokens)), HaveLen(len(tokens)+1)),
			"logins for %d tokens: extra logins between renewals", len(tokens))
		Expect(len(e.events("short", v1alpha1.EventTokenRefreshed))).To(BeNumerically(">=", 3), "TokenRefreshed events")
	})

	It("TestPasswordChangeLogsInAgain", func() {
		e := newEnv(7 * 24 * time.Hour)
		e.api.AddAgent("change@example.com", "old-password", "")
		e.loginSecret("login", "change@example.com", "old-password")
		e.credential("change", withLogin("login"))
		e.waitReady("change", 15*time.Second)
		before := string(e.secret("change-out").Data["token"])
		logins := func() []time.Time { return e.logins("change@example.com") }

		// The admin changes the password at VoIPBIN, then in the Secret.
		e.api.SetPassword("change@example.com", "new-password")
		changed := time.Now()
		e.setSecretData("login", "password", "new-password")
		Eventually(logins).WithTimeout(5*time.Second).Should(HaveLen(2), "a login with the new password")
		Expect(logins()[1].Sub(changed)).To(BeNumerically("<=", 5*time.Second), "new login after the change")
		Eventually(func() []byte { return e.secret("change-out").Data["token"] }).WithTimeout(5*time.Second).
			ShouldNot(beCredential(before), "the new token in the Secret")
		e.waitReady("change", 5*time.Second)

		// Changed while the manager is stopped: exactly one login when it starts.
		e.stopManager()
		e.api.SetPassword("change@example.com", "newer-password")
		e.setSecretData("login", "password", "newer-password")
		Consistently(logins).WithTimeout(time.Second).Should(HaveLen(2), "logins while stopped")
		e.startManager()
		Eventually(logins).WithTimeout(10*time.Second).Should(HaveLen(3), "one login after the restart")
		Consistently(logins).WithTimeout(3*time.Second).Should(HaveLen(3), "logins after the restart, want exactly 1 more")
		e.waitReady("change", 5*time.Second)
	})

	It("TestWrongPasswordDoesNotHammer", func() {
		e := newEnv(7 * 24 * time.Hour)
		e.api.AddAgent("wrong@example.com", "right-password", "")
		e.loginSecret("login", "wrong@example.com", "wrong-password")
		e.credential("wrong", withLogin("login"))
		e.waitCondition("wrong", v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonInvalidCredentials, 15*time.Second)
		Expect(e.condition("wrong", v1alpha1.ConditionTokenReady)).To(HaveField("Reason", v1alpha1.ReasonInvalidCredentials), "TokenReady")
		Expect(e.secretExists("wrong-out")).To(BeFalse(), "a Secret was created with no usable credential")

		// Poke it: an unrelated annotation change and status reads must not cause logins.
		e.update("wrong", func(v *v1alpha1.VoipbinCredential) { v.Annotations = map[string]string{"example.com/poke": "1"} })
		Consistently(func() int { return len(e.logins("wrong@example.com")) }).WithTimeout(30*time.Second).
			Should(BeNumerically("<=", 2), "login attempts in 30 s with a wrong password")
		Expect(e.get("wrong").Status.Token).To(And(
			Not(BeNil()),
			HaveField("FailedAttempts", BeNumerically(">=", 1)),
			HaveField("LastFailureTime", Not(BeNil())),
			HaveField("LastFailureMessage", ContainSubstring("HTTP 400")),
		), "status.token")
		Expect(e.events("wrong", v1alpha1.EventLoginFailed)).To(HaveLen(1), "LoginFailed events")

		fixed := time.Now()
		e.setSecretData("login", "password", "right-password")
		e.waitReady("wrong", 5*time.Second)
		Expect(time.Since(fixed)).To(BeNumerically("<=", 5*time.Second), "Ready after the fix")
	})
})
