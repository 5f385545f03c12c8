package controller_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/internal/voipbin/voipbintest"
)

func TestUnrelatedSecretIsNeverTouched(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 7*24*time.Hour)
	e.api.AddAgent("conflict@example.com", "pw-conflict", "")
	e.loginSecret("login", "conflict@example.com", "pw-conflict")
	theirs := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "taken", Namespace: e.ns, Labels: map[string]string{"owner": "someone-else"}},
		Data:       map[string][]byte{"token": []byte("theirs")},
	}
	must(t, e.c.Create(e.ctx, theirs))
	before := e.secret("taken")

	e.credential("conflict", withLogin("login"), func(v *v1alpha1.VoipbinCredential) { v.Spec.SecretName = "taken" })
	e.waitCondition("conflict", v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonSecretConflict, 15*time.Second)
	time.Sleep(2 * time.Second)
	after := e.secret("taken")
	if after.ResourceVersion != before.ResourceVersion || !bytes.Equal(after.Data["token"], []byte("theirs")) {
		t.Errorf("the unrelated Secret was written")
	}
	if n := len(e.events("conflict", v1alpha1.EventSecretConflict)); n != 1 {
		t.Errorf("%d SecretConflict events, want 1", n)
	}
	if n := len(e.api.Requests()); n != 0 {
		t.Errorf("%d API requests for a conflicting credential", n)
	}

	// Once the other Secret is gone, the credential takes the name.
	must(t, e.c.Delete(e.ctx, after))
	e.waitReady("conflict", 10*time.Second)
}

func TestRestartLogsInOnlyWhenDue(t *testing.T) {
	t.Parallel()
	// 2-minute tokens. "later" renews 40 s before expiry (at about 74-80 s);
	// "soon" renews 100 s before expiry (at about 14-20 s).
	e := newEnv(t, 2*time.Minute)
	e.api.AddAgent("later@example.com", "pw-later", "")
	e.api.AddAgent("soon@example.com", "pw-soon", "")
	e.loginSecret("later-login", "later@example.com", "pw-later")
	e.loginSecret("soon-login", "soon@example.com", "pw-soon")
	e.credential("later", withLogin("later-login"))
	e.credential("soon", withLogin("soon-login"), func(v *v1alpha1.VoipbinCredential) {
		v.Spec.RenewBefore = &metav1.Duration{Duration: 100 * time.Second}
	})
	e.waitReady("later", 15*time.Second)
	e.waitReady("soon", 15*time.Second)

	// A restart before anything is due: zero logins.
	e.stopManager()
	e.startManager()
	time.Sleep(4 * time.Second)
	if n, m := len(e.logins("later@example.com")), len(e.logins("soon@example.com")); n != 1 || m != 1 {
		t.Fatalf("logins after a restart with nothing due: later %d, soon %d; want 1 and 1", n, m)
	}

	// Stopped while "soon" falls due: exactly one login for it when it starts.
	e.stopManager()
	renewal := e.get("soon").Status.Token.RenewalTime.Time
	time.Sleep(time.Until(renewal) + 2*time.Second)
	if m := len(e.logins("soon@example.com")); m != 1 {
		t.Fatalf("%d logins while stopped", m)
	}
	e.startManager()
	e.eventually(10*time.Second, "the overdue renewal", func() (bool, string) {
		m := len(e.logins("soon@example.com"))
		return m == 2, fmt.Sprintf("%d logins", m)
	})
	time.Sleep(4 * time.Second)
	if n, m := len(e.logins("later@example.com")), len(e.logins("soon@example.com")); n != 1 || m != 2 {
		t.Errorf("after the restart: later %d logins (want 1), soon %d (want 2)", n, m)
	}
}

func TestAPIURLNotAllowed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 7*24*time.Hour)
	other := voipbintest.New()
	other.Start()
	defer other.Close()
	other.AddAgent("elsewhere@example.com", "pw-elsewhere", "")
	e.loginSecret("login", "elsewhere@example.com", "pw-elsewhere")
	e.credential("elsewhere", withLogin("login"), func(v *v1alpha1.VoipbinCredential) { v.Spec.APIURL = other.URL() })
	e.waitCondition("elsewhere", v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonAPIURLNotAllowed, 15*time.Second)
	time.Sleep(2 * time.Second)
	if n := len(other.Requests()) + len(e.api.Requests()); n != 0 {
		t.Errorf("%d API requests for a URL that is not allowed", n)
	}
	if n := len(e.events("elsewhere", v1alpha1.EventAPIURLNotAllowed)); n != 1 {
		t.Errorf("%d APIURLNotAllowed events, want 1", n)
	}
	if e.secret("elsewhere-out") != nil {
		t.Error("a Secret was written")
	}
}

func TestDeletionPolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 7*24*time.Hour)
	e.api.AddAgent("policy@example.com", "pw-policy", "")
	e.loginSecret("login", "policy@example.com", "pw-policy")
	deleted := e.credential("deleted", withLogin("login"))
	retained := e.credential("retained", withLogin("login"), func(v *v1alpha1.VoipbinCredential) {
		v.Spec.DeletionPolicy = v1alpha1.DeletionPolicyRetain
	})
	e.waitReady("deleted", 15*time.Second)
	e.waitReady("retained", 15*time.Second)

	// envtest runs no garbage collector: the owner reference is what makes the
	// Secret go with its credential.
	ref := metav1.GetControllerOf(e.secret("deleted-out"))
	if ref == nil || ref.UID != deleted.UID || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
		t.Errorf("Delete: owner reference %+v", ref)
	}
	if refs := e.secret("retained-out").OwnerReferences; len(refs) != 0 {
		t.Errorf("Retain: owner references %+v", refs)
	}

	// Retain: deleted and created again with the same name, the credential adopts
	// its Secret: same token, no new login.
	token := string(e.secret("retained-out").Data["token"])
	logins := len(e.logins("policy@example.com"))
	must(t, e.c.Delete(e.ctx, retained))
	e.eventually(5*time.Second, "the credential gone", func() (bool, string) {
		err := e.c.Get(e.ctx, keyOf(retained), &v1alpha1.VoipbinCredential{})
		return err != nil, "still there"
	})
	if e.secret("retained-out") == nil {
		t.Fatal("Retain: the Secret went with the credential")
	}
	e.credential("retained", withLogin("login"), func(v *v1alpha1.VoipbinCredential) {
		v.Spec.DeletionPolicy = v1alpha1.DeletionPolicyRetain
	})
	e.waitReady("retained", 10*time.Second)
	time.Sleep(2 * time.Second)
	if got := string(e.secret("retained-out").Data["token"]); got != token {
		t.Error("the adopted Secret's token changed")
	}
	if n := len(e.logins("policy@example.com")); n != logins {
		t.Errorf("%d new logins on adoption, want 0", n-logins)
	}
	st := e.get("retained").Status.Token
	if st.ExpiresAt == nil || st.RenewalTime == nil {
		t.Errorf("adopted status.token %+v", st)
	}

	// Switching Delete to Retain removes the owner reference.
	e.update("deleted", func(v *v1alpha1.VoipbinCredential) { v.Spec.DeletionPolicy = v1alpha1.DeletionPolicyRetain })
	e.eventually(5*time.Second, "the owner reference removed", func() (bool, string) {
		refs := e.secret("deleted-out").OwnerReferences
		return len(refs) == 0, fmt.Sprintf("%+v", refs)
	})
}

func TestRefreshRequestedAtLogsInOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 7*24*time.Hour)
	e.api.AddAgent("refresh@example.com", "pw-refresh", "")
	e.loginSecret("login", "refresh@example.com", "pw-refresh")
	e.credential("refresh", withLogin("login"))
	e.waitReady("refresh", 15*time.Second)
	token := string(e.secret("refresh-out").Data["token"])

	e.update("refresh", func(v *v1alpha1.VoipbinCredential) {
		v.Annotations = map[string]string{v1alpha1.AnnotationRefreshRequestedAt: "2026-11-27T10:00:00Z"}
	})
	e.eventually(5*time.Second, "the refresh", func() (bool, string) {
		return string(e.secret("refresh-out").Data["token"]) != token, "same token"
	})
	time.Sleep(3 * time.Second)
	if n := len(e.logins("refresh@example.com")); n != 2 {
		t.Errorf("%d logins, want 2 (exactly one for the request)", n)
	}
	if got := e.get("refresh").Status.LastHandledRefreshRequest; got != "2026-11-27T10:00:00Z" {
		t.Errorf("lastHandledRefreshRequest %q", got)
	}
}

func TestSuspendMakesNoCalls(t *testing.T) {
	t.Parallel()
	// 2-minute tokens renewed 100 s before expiry: due after about 15-20 s.
	e := newEnv(t, 2*time.Minute)
	e.api.AddAgent("suspend@example.com", "pw-suspend", "")
	e.loginSecret("login", "suspend@example.com", "pw-suspend")
	e.credential("suspend", withLogin("login"), func(v *v1alpha1.VoipbinCredential) {
		v.Spec.RenewBefore = &metav1.Duration{Duration: 100 * time.Second}
	})
	e.waitReady("suspend", 15*time.Second)
	e.update("suspend", func(v *v1alpha1.VoipbinCredential) { v.Spec.Suspend = true })
	e.waitCondition("suspend", v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonSuspended, 5*time.Second)
	before := e.secret("suspend-out")

	renewal := e.get("suspend").Status.Token.RenewalTime.Time
	time.Sleep(time.Until(renewal) + 3*time.Second)
	after := e.secret("suspend-out")
	if n := len(e.api.Requests()); n != 1 {
		t.Errorf("%d API requests, want only the first login", n)
	}
	if after.ResourceVersion != before.ResourceVersion || !bytes.Equal(after.Data["token"], before.Data["token"]) {
		t.Error("the Secret changed while suspended")
	}

	e.update("suspend", func(v *v1alpha1.VoipbinCredential) { v.Spec.Suspend = false })
	e.waitReady("suspend", 10*time.Second)
	time.Sleep(2 * time.Second)
	if n := len(e.logins("suspend@example.com")); n != 2 {
		t.Errorf("%d logins after resuming, want exactly one more", n-1)
	}
}
