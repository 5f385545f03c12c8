package controller_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/internal/voipbin/voipbintest"
)

// secretForms returns the forms in which a secret could leak: as is, in every
// base64 alphabet, and, for a JWT, its signature alone.
func secretForms(secret string) []string {
	forms := []string{
		secret,
		base64.StdEncoding.EncodeToString([]byte(secret)),
		base64.URLEncoding.EncodeToString([]byte(secret)),
		base64.RawStdEncoding.EncodeToString([]byte(secret)),
		base64.RawURLEncoding.EncodeToString([]byte(secret)),
	}
	if parts := strings.Split(secret, "."); len(parts) == 3 && len(parts[2]) >= 16 {
		forms = append(forms, parts[2])
	}
	return forms
}

// findLeaks returns a description of every form of every secret found in text.
func findLeaks(where, text string, secrets []string) []string {
	var leaks []string
	for i, s := range secrets {
		if len(s) < 6 {
			continue // too short to tell from ordinary text
		}
		for j, form := range secretForms(s) {
			if strings.Contains(text, form) {
				leaks = append(leaks, fmt.Sprintf("%s: secret #%d (form %d)", where, i, j))
			}
		}
	}
	return leaks
}

// leakContexts returns, for each secret found in text, the text around it,
// with the secret itself masked: where a leak is, without printing it.
func leakContexts(text string, secrets []string) []string {
	var out []string
	for _, s := range secrets {
		if len(s) < 6 {
			continue
		}
		for _, form := range secretForms(s) {
			if i := strings.Index(text, form); i >= 0 {
				from, to := max(0, i-200), min(len(text), i+len(form)+100)
				out = append(out, text[from:i]+"<secret>"+text[i+len(form):to])
			}
		}
	}
	return out
}

// clusterText returns every event and every VoipbinCredential (status included) in
// namespace ns ("" for all), as JSON.
func clusterText(ctx context.Context, ns string) (events, credentials string, err error) {
	evs := &eventsv1.EventList{}
	core := &corev1.EventList{}
	vbcs := &v1alpha1.VoipbinCredentialList{}
	for _, l := range []client.ObjectList{evs, core, vbcs} {
		if err := k8sClient.List(ctx, l, client.InNamespace(ns)); err != nil {
			return "", "", err
		}
	}
	e1, _ := json.Marshal(evs)
	e2, _ := json.Marshal(core)
	v, _ := json.Marshal(vbcs)
	return string(e1) + string(e2), string(v), nil
}

// TestNoSecretsLeak runs every kind of outcome and scans the manager's logs (at
// its highest verbosity), the events and the status for the passwords, tokens
// and keys used, raw and base64. TestMain scans the logs of all tests the same way.
func TestNoSecretsLeak(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 10*time.Second)
	e.api.AddAgent("leak@example.com", "leak-password-1", "")
	good := e.api.AddAccessKey(voipbintest.AccessKey{Name: "leak", Expire: time.Now().Add(8 * time.Second)})
	e.loginSecret("good-login", "leak@example.com", "leak-password-1")
	e.loginSecret("bad-login", "leak@example.com", "leak-password-wrong")
	e.accessKeySecret("good-key", good.Key)
	e.accessKeySecret("bad-key", voipbintest.NewAccessKeySecret())

	e.credential("good", withLogin("good-login"), withAccessKey("good-key"))
	e.credential("bad", withLogin("bad-login"), withAccessKey("bad-key"))
	e.waitReady("good", 15*time.Second)
	e.waitCondition("bad", v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonInvalidCredentials, 15*time.Second)
	// Renewals, an outage, garbage and a reset, and the key's expiry.
	e.api.InjectFault("/auth/login", voipbintest.Fault{Count: 1, Status: 500})
	e.api.InjectFault("/v1.0/accesskeys", voipbintest.Fault{Count: 1, Garbage: true})
	time.Sleep(9 * time.Second)
	e.api.InjectFault("/auth/login", voipbintest.Fault{Count: 1, Reset: true})
	e.update("good", func(v *v1alpha1.VoipbinCredential) {
		v.Annotations = map[string]string{v1alpha1.AnnotationRefreshRequestedAt: "x"}
	})
	e.waitCondition("good", v1alpha1.ConditionAccessKeyValid, metav1.ConditionFalse, v1alpha1.ReasonAccessKeyExpired, 15*time.Second)
	e.eventually(20*time.Second, "a renewal", func() (bool, string) {
		n := len(e.api.IssuedTokens())
		return n >= 3, fmt.Sprintf("%d tokens issued", n)
	})

	used := append([]string{"leak-password-1", "leak-password-wrong", good.Key}, e.api.IssuedTokens()...)
	events, credentials, err := clusterText(e.ctx, e.ns)
	must(t, err)
	var leaks []string
	leaks = append(leaks, findLeaks("logs", e.logs.String(), used)...)
	leaks = append(leaks, findLeaks("events", events, used)...)
	leaks = append(leaks, findLeaks("status", credentials, used)...)
	if len(leaks) > 0 {
		t.Errorf("secrets leaked: %v", leaks)
		for _, line := range strings.Split(e.logs.String(), "\n") {
			if len(findLeaks("", line, used)) > 0 {
				t.Logf("LEAK LINE: %.400s", line)
			}
		}
	}
	if !strings.Contains(e.logs.String(), `"level":"debug`) && !strings.Contains(e.logs.String(), `"v":`) &&
		!strings.Contains(e.logs.String(), "next reconcile scheduled") {
		t.Error("the logs hold no debug lines: the scan did not see the highest verbosity")
	}
	if !strings.Contains(credentials, good.Key[:11]) {
		t.Error("the status does not show the key's prefix")
	}

	// Positive control: a secret written through the manager's own logger is found,
	// in each form, so the scan reads the real log stream.
	planted := "planted-" + voipbintest.NewAccessKeySecret() // not a key of the stand-in
	e.mgr.GetLogger().V(5).Info("positive control", "value", planted, "b64",
		base64.StdEncoding.EncodeToString([]byte(planted)))
	if found := findLeaks("logs", e.logs.String(), []string{planted}); len(found) < 2 {
		t.Errorf("the scan missed the planted secret: %v", found)
	}
}

// TestCachesHoldNoSecretData proves the manager caches no Secret it does not
// manage: an unrelated Secret (with kubectl's last-applied annotation, which
// repeats its data) is nowhere in its cache, even after the manager's client
// read it. (Input Secrets' changes come from a watch that stores nothing; the
// password-change tests show it works.)
func TestCachesHoldNoSecretData(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 7*24*time.Hour)
	e.api.AddAgent("cache@example.com", "cache-password", "")
	e.loginSecret("login", "cache@example.com", "cache-password")
	e.credential("cache", withLogin("login"))
	e.waitReady("cache", 15*time.Second)

	payload := strings.Repeat("unrelated-secret-data-", 200)
	unrelated := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "unrelated", Namespace: e.ns, Labels: map[string]string{"app": "x"},
			Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": `{"data":{"x":"` + payload + `"}}`}},
		Data: map[string][]byte{"x": []byte(payload)},
	}
	must(t, e.c.Create(e.ctx, unrelated))

	// Reading it through the manager's client goes to the API server...
	full := &corev1.Secret{}
	must(t, e.mgr.GetClient().Get(e.ctx, client.ObjectKeyFromObject(unrelated), full))
	if len(full.Data["x"]) != len(payload) {
		t.Fatal("the client did not read the Secret")
	}
	// ...and leaves no full-Secret informer behind: the manager's cache holds only
	// the managed Secret.
	secrets := &corev1.SecretList{}
	must(t, e.mgr.GetCache().List(e.ctx, secrets, client.InNamespace(e.ns)))
	var names []string
	for _, s := range secrets.Items {
		names = append(names, s.Name)
		if s.Labels[v1alpha1.LabelCredential] == "" {
			t.Errorf("the manager's cache holds the Secret %q, which is not managed", s.Name)
		}
	}
	if len(names) != 1 || names[0] != "cache-out" {
		t.Errorf("the manager's cache holds Secrets %v, want only cache-out", names)
	}
	if err := e.mgr.GetCache().Get(e.ctx, client.ObjectKeyFromObject(unrelated), &corev1.Secret{}); err == nil {
		t.Error("the manager's cache returned the unrelated Secret")
	}
}
