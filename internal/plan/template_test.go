package plan

import (
	"maps"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

// The table tests of spec.secretTemplate.data and .type (issue 16).

func withTemplate(w *world, data map[string]string) {
	if w.cr.Spec.SecretTemplate == nil {
		w.cr.Spec.SecretTemplate = &v1alpha1.SecretTemplate{}
	}
	w.cr.Spec.SecretTemplate.Data = data
	w.cr.Generation++
}

var envTemplate = map[string]string{
	"VOIPBIN_TOKEN": "{{ .Token }}",
	"auth-header":   "Bearer {{ .Token }}",
	".env":          "TOKEN={{ .Token }}\nKEY={{ .AccessKey }}\nURL={{ .APIURL }}\nEXPIRES={{ .ExpiresAt }}\n",
}

// expectRendered checks the rendered keys against the built-in ones of the Secret.
func (w *world) expectRendered() {
	w.t.Helper()
	d := w.secret.Data
	tok, key := string(d[v1alpha1.SecretKeyToken]), string(d[v1alpha1.SecretKeyAccessKey])
	want := map[string]string{
		"VOIPBIN_TOKEN": tok,
		"auth-header":   "Bearer " + tok,
		".env": "TOKEN=" + tok + "\nKEY=" + key + "\nURL=" + string(d[v1alpha1.SecretKeyAPIURL]) +
			"\nEXPIRES=" + string(d[v1alpha1.SecretKeyExpiresAt]) + "\n",
	}
	for k, v := range want {
		if got := string(d[k]); got != v {
			w.t.Errorf("key %s = %q, want %q", k, got, v)
		}
	}
}

func TestTemplatedKeysAreRenderedAndReRenderedOnRenewal(t *testing.T) {
	w := newWorld(t, true, true)
	w.lifetime = 90 * time.Second
	withTemplate(w, envTemplate)
	w.cr.Spec.SecretTemplate.Type = "example.com/voipbin"
	w.ready()
	w.expectRendered()
	if w.secret.Type != "example.com/voipbin" {
		t.Errorf("Secret type %q, want secretTemplate.type", w.secret.Type)
	}
	first := string(w.secret.Data["VOIPBIN_TOKEN"])
	for i := 0; i < 120 && w.logins == 0; i++ {
		w.now = w.now.Add(time.Second)
		w.reconcile()
	}
	if w.logins != 1 {
		t.Fatalf("%d logins by the renewal, want 1", w.logins)
	}
	w.expectRendered()
	if string(w.secret.Data["VOIPBIN_TOKEN"]) == first {
		t.Error("the rendered key still holds the old token after the renewal")
	}
	w.expectCondition(v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)

	// Nothing changed: no write.
	w.writes = 0
	w.reconcile()
	if w.writes != 0 {
		t.Errorf("%d writes with nothing changed", w.writes)
	}
}

func TestTemplateChangeReRendersWithoutALogin(t *testing.T) {
	w := newWorld(t, true, false)
	w.ready()
	withTemplate(w, map[string]string{"VOIPBIN_TOKEN": "{{ .Token }}"})
	w.reconcile()
	if w.logins != 0 || w.writes != 1 {
		t.Fatalf("%d logins, %d writes; want the stored token rendered: 0, 1", w.logins, w.writes)
	}
	if got, want := string(w.secret.Data["VOIPBIN_TOKEN"]), string(w.secret.Data[v1alpha1.SecretKeyToken]); got != want {
		t.Errorf("VOIPBIN_TOKEN = %q, want the token %q", got, want)
	}
	// A key removed from the template goes from the Secret: the operator's
	// apply owned it (the world's Secret has no managed fields, so upToDate
	// looks at the keys it renders).
	withTemplate(w, map[string]string{"TOKEN": "{{ .Token }}"})
	w.reconcile()
	if _, ok := w.secret.Data["TOKEN"]; !ok || w.logins != 0 {
		t.Errorf("renamed key not rendered (%d logins)", w.logins)
	}
	w.expectCondition(v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
}

func TestBrokenTemplateLeavesTheSecretAndSetsTemplateError(t *testing.T) {
	for name, tc := range map[string]struct{ template, problem string }{
		"does not parse":  {"Bearer {{ .Token ", "does not parse"},
		"unknown value":   {"{{ .Password }}", "names an unknown value"},
		"unknown func":    {"{{ env \"HOME\" }}", "does not parse"},
		"fails to render": {"{{ slice .Token 1000 }}", "cannot be rendered"},
		"too large":       {`{{ printf "%0100000d" 0 }}`, "larger than 64 KiB"},
	} {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, true, false)
			w.lifetime = 90 * time.Second
			withTemplate(w, map[string]string{"VOIPBIN_TOKEN": "{{ .Token }}"})
			w.ready()
			good := w.secret.DeepCopy()

			withTemplate(w, map[string]string{"VOIPBIN_TOKEN": "{{ .Token }}", "bad": tc.template})
			w.reconcile()
			w.expectCondition(v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonTemplateError)
			w.expectCondition(v1alpha1.ConditionTokenReady, metav1.ConditionTrue, v1alpha1.ReasonLoggedIn)
			w.expectCondition(v1alpha1.ConditionStalled, metav1.ConditionTrue, v1alpha1.ReasonTemplateError)
			msg := w.condition(v1alpha1.ConditionReady).Message
			if !strings.Contains(msg, `secretTemplate.data["bad"]`) || !strings.Contains(msg, tc.problem) {
				t.Errorf("Ready's message %q does not name the key and %q", msg, tc.problem)
			}

			// Through a renewal: one login, the token held, the Secret untouched.
			for range 200 {
				w.now = w.now.Add(time.Second)
				w.reconcile()
			}
			if w.writes != 0 || !equality.Semantic.DeepEqual(w.secret, good) {
				t.Fatalf("%d writes: the Secret changed under a broken template", w.writes)
			}
			if w.logins > 4 { // the token in hand is renewed on its own schedule (about every 60 s), no more
				t.Errorf("%d logins in 200 s of 90 s tokens with a broken template: a login loop", w.logins)
			}
			for _, tok := range append(tokensOf(w), "Bearer "+string(good.Data[v1alpha1.SecretKeyToken])) {
				for _, c := range w.cr.Status.Conditions {
					if strings.Contains(c.Message, tok) {
						t.Errorf("condition %s quotes a credential", c.Type)
					}
				}
				for _, e := range w.events {
					if strings.Contains(e.Note, tok) {
						t.Errorf("event %s quotes a credential", e.Reason)
					}
				}
			}

			// Fixed: the held (or a fresh) token is rendered and stored.
			withTemplate(w, map[string]string{"VOIPBIN_TOKEN": "{{ .Token }}", "bad": "fixed"})
			w.reconcile()
			w.expectCondition(v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
			w.expectNoCondition(v1alpha1.ConditionStalled)
			if string(w.secret.Data["bad"]) != "fixed" {
				t.Errorf("fixed template not rendered")
			}
		})
	}
}

// A template that works on real values only is not refused by the stand-ins.
func TestCheckTemplatesLeavesValueDependentFailuresToRendering(t *testing.T) {
	vbc := testCredential(true, false)
	vbc.Spec.SecretTemplate = &v1alpha1.SecretTemplate{Data: map[string]string{"head": "{{ slice .Token 0 3 }}"}}
	if err := checkTemplates(vbc); err != nil {
		t.Fatalf("refused: %s", err.message())
	}
	out, err := renderTemplates(vbc, map[string][]byte{v1alpha1.SecretKeyToken: []byte("abcdef")})
	if err != nil || string(out["head"]) != "abc" {
		t.Fatalf("rendered %q, %v", out["head"], err)
	}
}

func tokensOf(w *world) []string {
	return append([]string(nil), slicesKeys(w.tokens)...)
}

func slicesKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range maps.Keys(m) {
		out = append(out, k)
	}
	return out
}

// A Secret of another type is not up to date: the write is refused by the API
// server and reported as SecretWriteFailed, never silently skipped.
func TestUpToDateComparesTheType(t *testing.T) {
	vbc := testCredential(true, false)
	d := newDesiredSecret(vbc, testLoginData())
	s := d.Object(vbc)
	if !d.upToDate(s, vbc) {
		t.Fatal("the desired Secret itself is not up to date")
	}
	s.Type = ""
	if !d.upToDate(s, vbc) {
		t.Error("an empty type (Opaque) is not up to date with Opaque")
	}
	s.Type = corev1.SecretTypeBasicAuth
	if d.upToDate(s, vbc) {
		t.Error("a basic-auth Secret is up to date with Opaque")
	}
}

// Ready promises the keys the app reads: a template added while writes are
// refused leaves the Secret without them, so Ready is False (SecretWriteFailed)
// until they are written, without a login.
func TestReadyWaitsForTheRenderedKeys(t *testing.T) {
	w := newWorld(t, true, false)
	w.ready()
	w.refuseWrites = true
	withTemplate(w, map[string]string{"VOIPBIN_TOKEN": "{{ .Token }}"})
	w.reconcile()
	w.expectCondition(v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonSecretWriteFailed)
	w.expectCondition(v1alpha1.ConditionTokenReady, metav1.ConditionTrue, v1alpha1.ReasonLoggedIn)
	w.expectCondition(v1alpha1.ConditionReconciling, metav1.ConditionTrue, v1alpha1.ReasonSecretWriteFailed)
	if msg := w.condition(v1alpha1.ConditionReady).Message; !strings.Contains(msg, "templated keys") ||
		!strings.Contains(msg, "no-secrets") {
		t.Errorf("Ready's message %q does not say what is missing and why", msg)
	}
	w.refuseWrites = false
	w.now = w.now.Add(time.Minute)
	w.reconcile()
	w.expectCondition(v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	if w.logins != 0 || string(w.secret.Data["VOIPBIN_TOKEN"]) != string(w.secret.Data[v1alpha1.SecretKeyToken]) {
		t.Errorf("%d logins, VOIPBIN_TOKEN not rendered", w.logins)
	}
}

// A templated key the operator applied and no longer renders is removed by
// the next apply: the Secret is not up to date while it is there.
func TestUpToDateWantsAnOwnedKeyNoLongerRenderedGone(t *testing.T) {
	vbc := testCredential(true, false)
	vbc.Spec.SecretTemplate = &v1alpha1.SecretTemplate{Data: map[string]string{"NEW": "{{ .Token }}"}}
	data := testLoginData()
	data["NEW"] = data[v1alpha1.SecretKeyToken]
	d := newDesiredSecret(vbc, data)
	s := appliedSecret(d, vbc)
	if !d.upToDate(s, vbc) {
		t.Fatal("the applied Secret is not up to date")
	}
	s.Data["OLD"] = []byte("x")
	ownField(s, "kubectl-edit", metav1.ManagedFieldsOperationUpdate, `{"f:data":{"f:OLD":{}}}`)
	if !d.upToDate(s, vbc) {
		t.Error("a key someone else added made the Secret out of date")
	}
	ownField(s, v1alpha1.FieldManager, metav1.ManagedFieldsOperationApply, `{"f:data":{"f:OLD":{}}}`)
	if d.upToDate(s, vbc) {
		t.Error("a key the operator applied and no longer renders left the Secret up to date")
	}
}
