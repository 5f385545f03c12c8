package controller_test

import (
	"bytes"
	"net/url"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/internal/voipbin/voipbintest"
)

// accessKeySecret creates a Secret holding key under "accesskey".
func (e *env) accessKeySecret(name, key string) {
	e.t.Helper()
	rememberSecret(key)
	must(e.t, e.c.Create(e.ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns},
		Data:       map[string][]byte{"accesskey": []byte(key)},
	}))
}

// combinedCredential creates a Ready CR name with a login (agent
// name@example.com, Secret "login") and an accesskey (Secret "key"), and
// returns the key.
func (e *env) combinedCredential(name string) voipbintest.AccessKey {
	e.t.Helper()
	e.api.AddAgent(name+"@example.com", "pw-"+name, "")
	key := e.api.AddAccessKey(voipbintest.AccessKey{Name: name})
	e.loginSecret("login", name+"@example.com", "pw-"+name)
	e.accessKeySecret("key", key.Key)
	e.credential(name, withLogin("login"), withAccessKey("key"))
	e.waitReady(name, 15*time.Second)
	return key
}

// listCalls returns the accesskey list requests the stand-in saw, and fails the
// test if a key was ever sent other than as the accesskey cookie.
func (e *env) listCalls() []voipbintest.Request {
	e.t.Helper()
	reqs := e.api.RequestsTo("/v1.0/accesskeys")
	for _, r := range reqs {
		query, err := url.ParseQuery(r.RawQuery)
		must(e.t, err)
		if query.Has("accesskey") || query.Has("token") || containsAny(r.RawQuery, knownSecrets()) ||
			r.TokenCookie || r.Authorization || r.Credential != voipbintest.CredentialAccessKeyCookie {
			e.t.Errorf("a list request authenticated otherwise than by the accesskey cookie: credential %q", r.Credential)
		}
	}
	return reqs
}

func TestAccessKeyOnlyCredential(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 7*24*time.Hour)
	key := e.api.AddAccessKey(voipbintest.AccessKey{Name: "reports", Expire: time.Now().Add(90 * 24 * time.Hour)})
	e.accessKeySecret("key", key.Key)
	e.credential("reports", withAccessKey("key"))
	e.waitReady("reports", 15*time.Second)

	s := e.secret("reports-out")
	if string(s.Data["accesskey"]) != key.Key || string(s.Data["apiURL"]) != e.api.URL() {
		t.Errorf("Secret keys: accesskey matches %t, apiURL %q", string(s.Data["accesskey"]) == key.Key, s.Data["apiURL"])
	}
	if _, ok := s.Data["token"]; ok {
		t.Error("an accesskey-only Secret has a token")
	}
	st := e.get("reports").Status
	if st.Token != nil {
		t.Errorf("status.token %+v on an accesskey-only credential", st.Token)
	}
	ak := st.AccessKey
	if ak == nil || ak.ID != key.ID || ak.Name != "reports" || ak.Prefix != key.Key[:11] ||
		ak.ExpiresAt == nil || !ak.ExpiresAt.Time.Equal(key.Expire.Truncate(time.Second)) || ak.LastValidatedTime == nil {
		t.Errorf("status.accessKey %+v, want id %s, prefix %s, expiry %s", ak, key.ID, key.Key[:11], key.Expire)
	}
	if c := e.condition("reports", v1alpha1.ConditionAccessKeyValid); c.Status != metav1.ConditionTrue || c.Reason != v1alpha1.ReasonValidated {
		t.Errorf("AccessKeyValid %+v", c)
	}
	if e.condition("reports", v1alpha1.ConditionTokenReady) != nil {
		t.Error("TokenReady on an accesskey-only credential")
	}
	if n := len(e.events("reports", v1alpha1.EventAccessKeyValidated)); n != 1 {
		t.Errorf("%d AccessKeyValidated events, want 1", n)
	}
	if n := len(e.listCalls()); n != 1 {
		t.Errorf("%d list calls, want 1", n)
	}
}

func TestAccessKeyFoundOnPageThree(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 7*24*time.Hour)
	keys := e.api.AddAccessKeys(250, "") // oldest first; listed newest first
	oldest := keys[0]
	e.accessKeySecret("key", oldest.Key)
	e.credential("paged", withAccessKey("key"))
	e.waitReady("paged", 15*time.Second)
	if ak := e.get("paged").Status.AccessKey; ak.ID != oldest.ID {
		t.Errorf("status.accessKey.id %q, want %q", ak.ID, oldest.ID)
	}
	if n := len(e.listCalls()); n != 3 {
		t.Errorf("%d list calls, want 3 pages", n)
	}
}

func TestUnknownAccessKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 7*24*time.Hour)
	e.accessKeySecret("key", voipbintest.NewAccessKeySecret())
	e.credential("unknown", withAccessKey("key"))
	e.waitCondition("unknown", v1alpha1.ConditionAccessKeyValid, metav1.ConditionFalse, v1alpha1.ReasonInvalidCredentials, 15*time.Second)
	e.waitCondition("unknown", v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonInvalidCredentials, 5*time.Second)
	time.Sleep(30 * time.Second)
	if n := len(e.listCalls()); n > 2 {
		t.Errorf("%d validation calls in 30 s for an unknown key", n)
	}
	if e.secret("unknown-out") != nil {
		t.Error("an invalid key was published")
	}
}

func TestAccessKeyExpiryNoticed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 7*24*time.Hour)
	expire := time.Now().Add(6 * time.Second)
	key := e.api.AddAccessKey(voipbintest.AccessKey{Name: "short", Expire: expire})
	e.accessKeySecret("key", key.Key)
	e.credential("expiring", withAccessKey("key"))
	e.waitReady("expiring", 5*time.Second)

	// No help from the test: the operator checks right after the known expiry.
	e.eventually(time.Until(expire)+5*time.Second, "AccessKeyExpired", func() (bool, string) {
		c := e.condition("expiring", v1alpha1.ConditionReady)
		return c.Status == metav1.ConditionFalse && c.Reason == v1alpha1.ReasonAccessKeyExpired, c.Reason
	})
	if d := time.Since(expire); d > 5*time.Second {
		t.Errorf("expiry noticed %s late", d)
	}
	if got := string(e.secret("expiring-out").Data["accesskey"]); got != key.Key {
		t.Error("the expired key was removed from the Secret")
	}
}

func TestDeletedAccessKeyNoticedAtCheckInterval(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 7*24*time.Hour)
	key := e.api.AddAccessKey(voipbintest.AccessKey{Name: "deleted"})
	e.accessKeySecret("key", key.Key)
	e.credential("deleted", withAccessKey("key"), func(v *v1alpha1.VoipbinCredential) {
		v.Spec.AccessKeyCheckInterval = &metav1.Duration{Duration: time.Minute}
	})
	e.waitReady("deleted", 15*time.Second)
	validated := e.get("deleted").Status.AccessKey.LastValidatedTime.Time
	e.api.DeleteAccessKey(key.ID)

	e.eventually(time.Until(validated.Add(time.Minute))+10*time.Second, "InvalidCredentials", func() (bool, string) {
		c := e.condition("deleted", v1alpha1.ConditionReady)
		return c.Status == metav1.ConditionFalse && c.Reason == v1alpha1.ReasonInvalidCredentials, c.Reason
	})
	if got := string(e.secret("deleted-out").Data["accesskey"]); got != key.Key {
		t.Error("the invalid key was removed from the Secret")
	}
	time.Sleep(2 * time.Second)
	if n := len(e.events("deleted", v1alpha1.EventAccessKeyInvalid)); n != 1 {
		t.Errorf("%d AccessKeyInvalid events, want exactly 1", n)
	}
	if n := len(e.listCalls()); n != 2 {
		t.Errorf("%d list calls, want 2 (the first check and the one at the interval)", n)
	}
}

func TestAccessKeyRecheckDuringOutage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 7*24*time.Hour)
	key := e.api.AddAccessKey(voipbintest.AccessKey{Name: "outage"})
	e.accessKeySecret("key", key.Key)
	e.credential("outage", withAccessKey("key"))
	e.waitReady("outage", 15*time.Second)
	before := e.secret("outage-out")

	e.api.SetDown("/v1.0/accesskeys", 503)
	e.update("outage", func(v *v1alpha1.VoipbinCredential) {
		v.Annotations = map[string]string{v1alpha1.AnnotationRefreshRequestedAt: "now"}
	})
	e.waitCondition("outage", v1alpha1.ConditionAccessKeyValid, metav1.ConditionTrue, v1alpha1.ReasonRefreshFailing, 10*time.Second)
	e.waitCondition("outage", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonRefreshFailing, 5*time.Second)
	after := e.secret("outage-out")
	if after.ResourceVersion != before.ResourceVersion || !bytes.Equal(after.Data["accesskey"], before.Data["accesskey"]) {
		t.Error("the Secret changed during the outage")
	}
	if n := e.get("outage").Status.AccessKey.FailedAttempts; n < 1 {
		t.Errorf("failedAttempts %d", n)
	}
	if n := len(e.events("outage", v1alpha1.EventAccessKeyInvalid)); n != 0 {
		t.Errorf("%d AccessKeyInvalid events for a transient failure", n)
	}
	e.api.SetDown("/v1.0/accesskeys", 0)
	e.waitReady("outage", 15*time.Second)
}

func TestReplacedAccessKeyRevalidated(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 7*24*time.Hour)
	first := e.api.AddAccessKey(voipbintest.AccessKey{Name: "first"})
	second := e.api.AddAccessKey(voipbintest.AccessKey{Name: "second"})
	rememberSecret(second.Key)
	e.accessKeySecret("key", first.Key)
	e.credential("rotate", withAccessKey("key"))
	e.waitReady("rotate", 15*time.Second)

	replaced := time.Now()
	e.setSecretData("key", "accesskey", second.Key)
	e.eventually(5*time.Second, "the new key published", func() (bool, string) {
		return string(e.secret("rotate-out").Data["accesskey"]) == second.Key, "old key"
	})
	t.Logf("republished %s after the change", time.Since(replaced))
	if ak := e.get("rotate").Status.AccessKey; ak.ID != second.ID || ak.Name != "second" {
		t.Errorf("status.accessKey %+v after the rotation", ak)
	}
	e.waitReady("rotate", 5*time.Second)

	// Rotated to a key that does not work: the working key stays published.
	e.setSecretData("key", "accesskey", voipbintest.NewAccessKeySecret())
	e.waitCondition("rotate", v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonInvalidCredentials, 5*time.Second)
	if got := string(e.secret("rotate-out").Data["accesskey"]); got != second.Key {
		t.Error("an unvalidated key replaced the working one")
	}
}

func TestCombinedCredential(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 7*24*time.Hour)
	key := e.combinedCredential("both")
	s := e.secret("both-out")
	for _, k := range []string{"token", "expiresAt", "accesskey", "apiURL"} {
		if len(s.Data[k]) == 0 {
			t.Errorf("no %s in the combined Secret", k)
		}
	}

	// The key is deleted: AccessKeyValid False, TokenReady still True, Ready False.
	e.api.DeleteAccessKey(key.ID)
	e.update("both", func(v *v1alpha1.VoipbinCredential) {
		v.Annotations = map[string]string{v1alpha1.AnnotationRefreshRequestedAt: "1"}
	})
	e.waitCondition("both", v1alpha1.ConditionAccessKeyValid, metav1.ConditionFalse, v1alpha1.ReasonInvalidCredentials, 10*time.Second)
	e.waitCondition("both", v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonInvalidCredentials, 5*time.Second)
	if c := e.condition("both", v1alpha1.ConditionTokenReady); c.Status != metav1.ConditionTrue {
		t.Errorf("TokenReady %+v: the token is not affected by the key", c)
	}

	// A new key fixes it; then the password goes wrong: TokenReady False.
	fresh := e.api.AddAccessKey(voipbintest.AccessKey{Name: "fresh"})
	rememberSecret(fresh.Key)
	e.setSecretData("key", "accesskey", fresh.Key)
	e.waitReady("both", 10*time.Second)
	e.setSecretData("login", "password", "wrong")
	e.waitCondition("both", v1alpha1.ConditionTokenReady, metav1.ConditionTrue, v1alpha1.ReasonRefreshFailing, 10*time.Second)
	if c := e.condition("both", v1alpha1.ConditionAccessKeyValid); c.Status != metav1.ConditionTrue || c.Reason != v1alpha1.ReasonValidated {
		t.Errorf("AccessKeyValid %+v: the key is not affected by the password", c)
	}
	e.api.SetCustomerStatus(e.api.DefaultCustomerID(), "ACCOUNT_EXPIRED")
	e.update("both", func(v *v1alpha1.VoipbinCredential) {
		v.Annotations = map[string]string{v1alpha1.AnnotationRefreshRequestedAt: "2"}
	})
	e.waitCondition("both", v1alpha1.ConditionAccessKeyValid, metav1.ConditionFalse, v1alpha1.ReasonAccountDisabled, 10*time.Second)
	e.waitCondition("both", v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonAccountDisabled, 5*time.Second)
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if sub != "" && strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
