package controller_test

import (
	"net/url"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/internal/voipbin/voipbintest"
)

// accessKeySecret creates a Secret holding key under "accesskey".
func (e *env) accessKeySecret(name, key string) {
	GinkgoHelper()
	rememberSecret("accesskey", key)
	Expect(e.c.Create(e.ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns},
		Data:       map[string][]byte{"accesskey": []byte(key)},
	})).To(Succeed())
}

// combinedCredential creates a Ready CR name with a login (agent
// name@example.com, Secret "login") and an accesskey (Secret "key"), and
// returns the key.
func (e *env) combinedCredential(name string) voipbintest.AccessKey {
	GinkgoHelper()
	e.api.AddAgent(name+"@example.com", "password-"+name, "")
	key := e.api.AddAccessKey(voipbintest.AccessKey{Name: name})
	e.loginSecret("login", name+"@example.com", "password-"+name)
	e.accessKeySecret("key", key.Key)
	e.credential(name, withLogin("login"), withAccessKey("key"))
	e.waitReady(name, 15*time.Second)
	return key
}

// listCalls returns the accesskey list requests the stand-in saw, and fails the
// spec if a key was ever sent other than as the accesskey cookie.
func (e *env) listCalls() []voipbintest.Request {
	GinkgoHelper()
	reqs := e.api.RequestsTo("/v1.0/accesskeys")
	for _, r := range reqs {
		query, err := url.ParseQuery(r.RawQuery)
		Expect(err).NotTo(HaveOccurred())
		// A boolean, not a matcher on the query: a failure must not print a credential.
		Expect(query.Has("accesskey") || query.Has("token") || len(leaks.Scan("query", r.RawQuery)) > 0 ||
			r.TokenCookie || r.Authorization || r.Credential != voipbintest.CredentialAccessKeyCookie).To(BeFalse(),
			"a list request authenticated otherwise than by the accesskey cookie: credential %q", r.Credential)
	}
	return reqs
}

var _ = Describe("accesskey credentials", func() {
	It("TestAccessKeyOnlyCredential", func() {
		e := newEnv(7 * 24 * time.Hour)
		key := e.api.AddAccessKey(voipbintest.AccessKey{Name: "reports", Expire: time.Now().Add(90 * 24 * time.Hour)})
		e.accessKeySecret("key", key.Key)
		e.credential("reports", withAccessKey("key"))
		e.waitReady("reports", 15*time.Second)

		s := e.secret("reports-out")
		Expect(s.Data["accesskey"]).To(beCredential(key.Key), "the Secret's accesskey")
		Expect(string(s.Data["apiURL"])).To(Equal(e.api.URL()), "the Secret's apiURL")
		_, hasToken := s.Data["token"]
		Expect(hasToken).To(BeFalse(), "an accesskey-only Secret has a token")
		st := e.get("reports").Status
		Expect(st.Token).To(BeNil(), "status.token on an accesskey-only credential")
		Expect(st.AccessKey).To(And(
			Not(BeNil()),
			HaveField("ID", key.ID),
			HaveField("Name", "reports"),
			HaveField("Prefix", key.Key[:11]),
			HaveField("ExpiresAt", Not(BeNil())),
			HaveField("ExpiresAt.Time", BeTemporally("==", key.Expire.Truncate(time.Second))),
			HaveField("LastValidatedTime", Not(BeNil())),
		), "status.accessKey, want id %s, prefix %s, expiry %s", key.ID, key.Key[:11], key.Expire)
		Expect(e.condition("reports", v1alpha1.ConditionAccessKeyValid)).
			To(haveCondition(metav1.ConditionTrue, v1alpha1.ReasonValidated), "AccessKeyValid")
		Expect(e.condition("reports", v1alpha1.ConditionTokenReady)).To(BeNil(), "TokenReady on an accesskey-only credential")
		Expect(e.events("reports", v1alpha1.EventAccessKeyValidated)).To(HaveLen(1), "AccessKeyValidated events")
		Expect(e.listCalls()).To(HaveLen(1), "list calls")
	})

	It("TestAccessKeyFoundOnPageThree", func() {
		e := newEnv(7 * 24 * time.Hour)
		keys := e.api.AddAccessKeys(250, "") // oldest first; listed newest first
		oldest := keys[0]
		e.accessKeySecret("key", oldest.Key)
		e.credential("paged", withAccessKey("key"))
		e.waitReady("paged", 15*time.Second)
		Expect(e.get("paged").Status.AccessKey).To(HaveField("ID", oldest.ID), "status.accessKey.id")
		Expect(e.listCalls()).To(HaveLen(3), "list calls, want 3 pages")
	})

	It("TestUnknownAccessKey", func() {
		e := newEnv(7 * 24 * time.Hour)
		e.accessKeySecret("key", voipbintest.NewAccessKeySecret())
		e.credential("unknown", withAccessKey("key"))
		e.waitCondition("unknown", v1alpha1.ConditionAccessKeyValid, metav1.ConditionFalse, v1alpha1.ReasonInvalidCredentials, 15*time.Second)
		e.waitCondition("unknown", v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonInvalidCredentials, 5*time.Second)
		Consistently(func() int { return len(e.listCalls()) }).WithTimeout(30*time.Second).
			Should(BeNumerically("<=", 2), "validation calls in 30 s for an unknown key")
		Expect(e.secretExists("unknown-out")).To(BeFalse(), "an invalid key was published")
	})

	It("TestAccessKeyExpiryNoticed", func() {
		e := newEnv(7 * 24 * time.Hour)
		expire := time.Now().Add(6 * time.Second)
		key := e.api.AddAccessKey(voipbintest.AccessKey{Name: "short", Expire: expire})
		e.accessKeySecret("key", key.Key)
		e.credential("expiring", withAccessKey("key"))
		e.waitReady("expiring", 5*time.Second)

		// No help from the test: the operator checks right after the known expiry.
		Eventually(func() *metav1.Condition { return e.condition("expiring", v1alpha1.ConditionReady) }).
			WithTimeout(time.Until(expire)+5*time.Second).
			Should(haveCondition(metav1.ConditionFalse, v1alpha1.ReasonAccessKeyExpired), "AccessKeyExpired")
		Expect(time.Since(expire)).To(BeNumerically("<=", 5*time.Second), "expiry noticed late")
		Expect(e.secret("expiring-out").Data["accesskey"]).To(beCredential(key.Key), "the expired key was removed from the Secret")
	})

	It("TestDeletedAccessKeyNoticedAtCheckInterval", func() {
		e := newEnv(7 * 24 * time.Hour)
		key := e.api.AddAccessKey(voipbintest.AccessKey{Name: "deleted"})
		e.accessKeySecret("key", key.Key)
		e.credential("deleted", withAccessKey("key"), func(v *v1alpha1.VoipbinCredential) {
			v.Spec.AccessKeyCheckInterval = &metav1.Duration{Duration: time.Minute}
		})
		e.waitReady("deleted", 15*time.Second)
		validated := e.get("deleted").Status.AccessKey.LastValidatedTime.Time
		e.api.DeleteAccessKey(key.ID)

		Eventually(func() *metav1.Condition { return e.condition("deleted", v1alpha1.ConditionReady) }).
			WithTimeout(time.Until(validated.Add(time.Minute))+10*time.Second).
			Should(haveCondition(metav1.ConditionFalse, v1alpha1.ReasonInvalidCredentials), "InvalidCredentials")
		Expect(e.secret("deleted-out").Data["accesskey"]).To(beCredential(key.Key), "the invalid key was removed from the Secret")
		time.Sleep(2 * time.Second) // let the events settle
		Expect(e.events("deleted", v1alpha1.EventAccessKeyInvalid)).To(HaveLen(1), "AccessKeyInvalid events, want exactly 1")
		Expect(e.listCalls()).To(HaveLen(2), "list calls, want 2 (the first check and the one at the interval)")
	})

	It("TestAccessKeyRecheckDuringOutage", func() {
		e := newEnv(7 * 24 * time.Hour)
		key := e.api.AddAccessKey(voipbintest.AccessKey{Name: "outage"})
		e.accessKeySecret("key", key.Key)
		e.credential("outage", withAccessKey("key"))
		e.waitReady("outage", 15*time.Second)
		before := e.secret("outage-out")

		e.api.SetDown("/v1.0/accesskeys", 503)
		e.update("outage", withRefreshRequest("now"))
		e.waitCondition("outage", v1alpha1.ConditionAccessKeyValid, metav1.ConditionTrue, v1alpha1.ReasonRefreshFailing, 10*time.Second)
		e.waitCondition("outage", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonRefreshFailing, 5*time.Second)
		after := e.secret("outage-out")
		Expect(after.ResourceVersion).To(Equal(before.ResourceVersion), "the Secret changed during the outage")
		Expect(after.Data["accesskey"]).To(beCredential(string(before.Data["accesskey"])), "the Secret changed during the outage")
		Expect(e.get("outage").Status.AccessKey.FailedAttempts).To(BeNumerically(">=", 1), "failedAttempts")
		Expect(e.events("outage", v1alpha1.EventAccessKeyInvalid)).To(BeEmpty(), "AccessKeyInvalid events for a transient failure")
		e.api.SetDown("/v1.0/accesskeys", 0)
		e.waitReady("outage", 15*time.Second)
	})

	It("TestReplacedAccessKeyRevalidated", func() {
		e := newEnv(7 * 24 * time.Hour)
		first := e.api.AddAccessKey(voipbintest.AccessKey{Name: "first"})
		second := e.api.AddAccessKey(voipbintest.AccessKey{Name: "second"})
		rememberSecret("accesskey", second.Key)
		e.accessKeySecret("key", first.Key)
		e.credential("rotate", withAccessKey("key"))
		e.waitReady("rotate", 15*time.Second)

		replaced := time.Now()
		e.setSecretData("key", "accesskey", second.Key)
		Eventually(func() []byte { return e.secret("rotate-out").Data["accesskey"] }).WithTimeout(5*time.Second).
			Should(beCredential(second.Key), "the new key published")
		GinkgoWriter.Printf("republished %s after the change\n", time.Since(replaced))
		Expect(e.get("rotate").Status.AccessKey).To(And(HaveField("ID", second.ID), HaveField("Name", "second")),
			"status.accessKey after the rotation")
		e.waitReady("rotate", 5*time.Second)

		// Rotated to a key that does not work: the working key stays published.
		e.setSecretData("key", "accesskey", voipbintest.NewAccessKeySecret())
		e.waitCondition("rotate", v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonInvalidCredentials, 5*time.Second)
		Expect(e.secret("rotate-out").Data["accesskey"]).To(beCredential(second.Key), "an unvalidated key replaced the working one")
	})

	It("TestCombinedCredential", func() {
		e := newEnv(7 * 24 * time.Hour)
		key := e.combinedCredential("both")
		s := e.secret("both-out")
		for _, k := range []string{"token", "expiresAt", "accesskey", "apiURL"} {
			Expect(s.Data[k]).NotTo(BeEmpty(), "no %s in the combined Secret", k)
		}

		// The key is deleted: AccessKeyValid False, TokenReady still True, Ready False.
		e.api.DeleteAccessKey(key.ID)
		e.update("both", withRefreshRequest("1"))
		e.waitCondition("both", v1alpha1.ConditionAccessKeyValid, metav1.ConditionFalse, v1alpha1.ReasonInvalidCredentials, 10*time.Second)
		e.waitCondition("both", v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonInvalidCredentials, 5*time.Second)
		Expect(e.condition("both", v1alpha1.ConditionTokenReady)).To(HaveField("Status", metav1.ConditionTrue),
			"TokenReady: the token is not affected by the key")

		// A new key fixes it; then the password goes wrong: TokenReady False.
		fresh := e.api.AddAccessKey(voipbintest.AccessKey{Name: "fresh"})
		e.setSecretData("key", "accesskey", fresh.Key)
		e.waitReady("both", 10*time.Second)
		e.setSecretData("login", "password", "wrong-password")
		e.waitCondition("both", v1alpha1.ConditionTokenReady, metav1.ConditionTrue, v1alpha1.ReasonRefreshFailing, 10*time.Second)
		Expect(e.condition("both", v1alpha1.ConditionAccessKeyValid)).
			To(haveCondition(metav1.ConditionTrue, v1alpha1.ReasonValidated), "AccessKeyValid: the key is not affected by the password")
		e.api.SetCustomerStatus(e.api.DefaultCustomerID(), "ACCOUNT_EXPIRED")
		e.update("both", withRefreshRequest("2"))
		e.waitCondition("both", v1alpha1.ConditionAccessKeyValid, metav1.ConditionFalse, v1alpha1.ReasonAccountDisabled, 10*time.Second)
		e.waitCondition("both", v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonAccountDisabled, 5*time.Second)
	})
})
