package plan

import (
	"maps"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

// The table tests of spec.secretTemplate.omitDefaultKeys.

func withOmittedKeys(w *world, data map[string]string) {
	withTemplate(w, data)
	w.cr.Spec.SecretTemplate.OmitDefaultKeys = true
}

// expectOmitted checks that the Secret holds the rendered keys only, renders
// the token and accesskey given, and says nothing of them but fingerprints.
func (w *world) expectOmitted(token, key string) {
	w.t.Helper()
	s := w.secret
	for _, k := range operatorKeys {
		if _, ok := s.Data[k]; ok {
			w.t.Errorf("built-in key %s in the Secret", k)
		}
	}
	if got := string(s.Data["VOIPBIN_TOKEN"]); got != token {
		w.t.Errorf("VOIPBIN_TOKEN = %q, want %q", got, token)
	}
	if key != "" && !strings.Contains(string(s.Data[".env"]), "KEY="+key+"\n") {
		w.t.Errorf(".env = %q, want KEY=%s", s.Data[".env"], key)
	}
	if s.Annotations[v1alpha1.AnnotationDefaultKeys] != v1alpha1.DefaultKeysOmitted {
		w.t.Errorf("no %s annotation", v1alpha1.AnnotationDefaultKeys)
	}
	for k, v := range s.Annotations {
		if strings.Contains(v, token) || (key != "" && strings.Contains(v, key)) {
			w.t.Errorf("annotation %s holds a credential", k)
		}
	}
}

func TestOmittedDefaultKeysCostNothingMoreThanTheDefaultOnes(t *testing.T) {
	w := newWorld(t, true, true)
	w.lifetime = 90 * time.Second
	withOmittedKeys(w, envTemplate)
	w.ready()
	first := string(w.secret.Data["VOIPBIN_TOKEN"])
	w.expectOmitted(first, w.key)
	if !strings.Contains(string(w.secret.Data[".env"]), "URL=https://api.voipbin.net\nEXPIRES=") {
		t.Errorf(".env = %q: apiURL and expiresAt not rendered", w.secret.Data[".env"])
	}

	// A restart, a reconcile with nothing due, a periodic check: no login, no write.
	w.mem = Memory{}
	w.reconcile()
	w.now = w.now.Add(time.Second)
	w.reconcile()
	if w.logins != 0 || w.writes != 0 {
		t.Fatalf("%d logins, %d writes after a restart with nothing due", w.logins, w.writes)
	}
	w.expectCondition(v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)

	// The renewal: one login, one write, rendered from the new token.
	for i := 0; i < 120 && w.logins == 0; i++ {
		w.now = w.now.Add(time.Second)
		w.reconcile()
	}
	if w.logins != 1 || w.writes != 1 {
		t.Fatalf("%d logins, %d writes by the renewal, want 1, 1", w.logins, w.writes)
	}
	if second := string(w.secret.Data["VOIPBIN_TOKEN"]); second == first {
		t.Error("the rendered key still holds the old token after the renewal")
	} else {
		w.expectOmitted(second, w.key)
	}
	w.expectCondition(v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
}

func TestATemplateChangeWithOmittedKeysIsRenderedFromOneFreshLogin(t *testing.T) {
	w := newWorld(t, true, false)
	withOmittedKeys(w, map[string]string{"VOIPBIN_TOKEN": "{{ .Token }}"})
	w.ready()
	w.mem = Memory{} // a restart: the token is nowhere but in the rendered key

	// The first login fails: the Secret is left as it was, and one retry follows.
	w.loginAnswers = []answer{http503}
	withOmittedKeys(w, map[string]string{"VOIPBIN_TOKEN": "{{ .Token }}", "auth": "Bearer {{ .Token }}"})
	before := w.secret.DeepCopy()
	w.reconcile()
	if w.logins != 1 || w.writes != 0 {
		t.Fatalf("%d logins, %d writes; want 1 failed login and no write", w.logins, w.writes)
	}
	if string(w.secret.Data["VOIPBIN_TOKEN"]) != string(before.Data["VOIPBIN_TOKEN"]) {
		t.Error("a failed login changed the Secret")
	}
	for range 5 {
		w.reconcile()
	}
	if w.logins != 1 {
		t.Fatalf("%d logins before the retry time, want 1", w.logins)
	}
	w.now = w.now.Add(time.Minute)
	w.reconcile()
	if w.logins != 2 || w.writes != 1 {
		t.Fatalf("%d logins, %d writes after the retry time; want 2, 1", w.logins, w.writes)
	}
	tok := string(w.secret.Data["VOIPBIN_TOKEN"])
	if got := string(w.secret.Data["auth"]); got != "Bearer "+tok {
		t.Errorf("auth = %q, want Bearer and the new token", got)
	}
	w.expectCondition(v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
}

func TestAHandEditOfARenderedKeyIsPutBackByAFreshLogin(t *testing.T) {
	w := newWorld(t, true, false)
	withOmittedKeys(w, map[string]string{"VOIPBIN_TOKEN": "{{ .Token }}"})
	w.ready()
	w.mem = Memory{}
	w.secret.Data["VOIPBIN_TOKEN"] = []byte("edited")
	w.cr.Spec.Suspend = true
	w.reconcile()
	// Suspended: no call, and Ready does not vouch for the edited key.
	if w.logins != 0 {
		t.Fatalf("%d logins while suspended", w.logins)
	}
	w.expectCondition(v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonSuspended)
	w.cr.Spec.Suspend = false
	w.reconcile()
	if w.logins != 1 || w.writes != 1 {
		t.Fatalf("%d logins, %d writes; want the edit replaced by one fresh login", w.logins, w.writes)
	}
	w.expectOmitted(string(w.secret.Data["VOIPBIN_TOKEN"]), "")
	if string(w.secret.Data["VOIPBIN_TOKEN"]) == "edited" {
		t.Error("the hand edit stayed")
	}
}

func TestSwitchingOmitDefaultKeysBothWays(t *testing.T) {
	w := newWorld(t, true, true)
	withTemplate(w, map[string]string{"VOIPBIN_TOKEN": "{{ .Token }}"})
	w.ready()
	tok := string(w.secret.Data[v1alpha1.SecretKeyToken])

	// On: the stored credentials are known, so no call is needed to leave them out.
	w.cr.Spec.SecretTemplate.OmitDefaultKeys = true
	w.cr.Generation++
	w.reconcile()
	if w.logins != 0 || w.checks != 0 || w.writes != 1 {
		t.Fatalf("%d logins, %d checks, %d writes; want 0, 0, 1", w.logins, w.checks, w.writes)
	}
	w.expectOmitted(tok, "")
	w.expectCondition(v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)

	// Off after a restart: the token must be written out and is known nowhere,
	// so one fresh login; the accesskey is the accesskey Secret's, no check.
	w.mem = Memory{}
	w.cr.Spec.SecretTemplate.OmitDefaultKeys = false
	w.cr.Generation++
	w.reconcile()
	if w.logins != 1 || w.checks != 0 || w.writes != 2 {
		t.Fatalf("%d logins, %d checks, %d writes; want 1, 0, 2", w.logins, w.checks, w.writes)
	}
	d := w.secret.Data
	if string(d[v1alpha1.SecretKeyAccessKey]) != w.key || string(d["VOIPBIN_TOKEN"]) != string(d[v1alpha1.SecretKeyToken]) ||
		len(d[v1alpha1.SecretKeyToken]) == 0 || string(d[v1alpha1.SecretKeyToken]) == tok {
		t.Errorf("built-in keys not written out from a new token: %v", slicesOfKeys(d))
	}
	if _, ok := w.secret.Annotations[v1alpha1.AnnotationDefaultKeys]; ok {
		t.Error("the default-keys annotation stayed")
	}
	w.expectCondition(v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
}

func TestANewAccessKeyWithOmittedKeysNeedsTheTokenOnce(t *testing.T) {
	w := newWorld(t, true, true)
	withOmittedKeys(w, envTemplate)
	w.ready()
	w.mem = Memory{}
	w.key = "vb_NewKeyNewKeyNewKeyNewKeyNewKey00"
	w.reconcile() // the controller sees the accesskey Secret changed
	if w.checks != 1 || w.logins != 1 || w.writes != 1 {
		t.Fatalf("%d checks, %d logins, %d writes; want 1 each", w.checks, w.logins, w.writes)
	}
	w.expectOmitted(string(w.secret.Data["VOIPBIN_TOKEN"]), w.key)
	w.reconcile()
	if w.checks != 1 || w.logins != 1 || w.writes != 1 {
		t.Fatalf("then %d checks, %d logins, %d writes; want no more", w.checks, w.logins, w.writes)
	}
}

func TestARetainedSecretInOmittedFormIsNotHandedToAnotherAccount(t *testing.T) {
	w := newWorld(t, true, false)
	w.cr.Spec.DeletionPolicy = v1alpha1.DeletionPolicyRetain
	withOmittedKeys(w, map[string]string{"VOIPBIN_TOKEN": "{{ .Token }}"})
	w.ready()
	alices := string(w.secret.Data["VOIPBIN_TOKEN"])
	// The CR is deleted (the Secret retained) and created again for bob.
	w.cr.UID, w.cr.Status, w.mem = "uid-2", v1alpha1.VoipbinCredentialStatus{}, Memory{}
	w.user = "bob"
	w.reconcile()
	if w.logins != 1 || strings.Contains(string(w.secret.Data["VOIPBIN_TOKEN"]), alices) {
		t.Fatalf("%d logins, VOIPBIN_TOKEN %q: alice's token adopted for bob", w.logins, w.secret.Data["VOIPBIN_TOKEN"])
	}
	// The same account adopts it without a login.
	w2 := newWorld(t, true, false)
	w2.cr.Spec.DeletionPolicy = v1alpha1.DeletionPolicyRetain
	withOmittedKeys(w2, map[string]string{"VOIPBIN_TOKEN": "{{ .Token }}"})
	w2.ready()
	w2.cr.UID, w2.cr.Status, w2.mem = "uid-2", v1alpha1.VoipbinCredentialStatus{}, Memory{}
	w2.reconcile()
	if w2.logins != 0 {
		t.Errorf("%d logins to adopt the same account's retained Secret, want 0", w2.logins)
	}
	w2.expectCondition(v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
}

func TestATemplateChangeWithOmittedKeysUnderRefusedWritesLogsInOnce(t *testing.T) {
	w := newWorld(t, true, false)
	withOmittedKeys(w, map[string]string{"VOIPBIN_TOKEN": "{{ .Token }}"})
	w.ready()
	w.mem = Memory{}
	good := w.secret.DeepCopy()
	w.refuseWrites = true
	withOmittedKeys(w, map[string]string{"VOIPBIN_TOKEN": "{{ .Token }}", "auth": "Bearer {{ .Token }}"})
	// Ten minutes of refused writes: the token of the one login is held, not
	// obtained again, and the Secret stays as it was.
	for range 120 {
		w.reconcile()
		w.now = w.now.Add(5 * time.Second)
	}
	if w.logins != 1 || w.writes != 0 {
		t.Fatalf("%d logins, %d writes in 10 minutes of refused writes; want 1, 0", w.logins, w.writes)
	}
	if string(w.secret.Data["VOIPBIN_TOKEN"]) != string(good.Data["VOIPBIN_TOKEN"]) {
		t.Error("the Secret changed under refused writes")
	}
	w.expectCondition(v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonSecretWriteFailed)
	w.refuseWrites = false
	for i := 0; i < 120 && w.writes == 0; i++ { // the write's backoff
		w.now = w.now.Add(5 * time.Second)
		w.reconcile()
	}
	if w.logins != 1 || w.writes != 1 {
		t.Fatalf("%d logins, %d writes once writes pass; want the held token stored: 1, 1", w.logins, w.writes)
	}
	if got := string(w.secret.Data["auth"]); got != "Bearer "+string(w.secret.Data["VOIPBIN_TOKEN"]) {
		t.Errorf("auth = %q", got)
	}
	w.expectCondition(v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
}

func slicesOfKeys(d map[string][]byte) []string {
	keys := make([]string, 0, len(d))
	for k := range maps.Keys(d) {
		keys = append(keys, k)
	}
	return keys
}
