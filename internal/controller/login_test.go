package controller_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/internal/voipbin"
)

// jwtExpire returns the expire claim of a JWT, parsed.
func jwtExpire(t *testing.T, jwt string) time.Time {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	must(t, err)
	var claims struct {
		Expire string `json:"expire"`
	}
	must(t, json.Unmarshal(payload, &claims))
	exp, err := time.Parse(voipbin.ExpireLayout, claims.Expire)
	must(t, err)
	return exp
}

func TestLoginWritesManagedSecret(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 7*24*time.Hour)
	e.api.AddAgent("agent@example.com", "s3cret-pass", "")
	e.loginSecret("login", "agent@example.com", "s3cret-pass")
	vbc := e.credential("billing", withLogin("login"))
	e.waitReady("billing", 15*time.Second)

	s := e.secret("billing-out")
	if s == nil {
		t.Fatal("no managed Secret")
	}
	token := string(s.Data["token"])
	if token == "" || string(s.Data["apiURL"]) != e.api.URL() {
		t.Fatalf("Secret data keys wrong: token %d bytes, apiURL %q", len(token), s.Data["apiURL"])
	}
	exp := jwtExpire(t, token)
	if got := string(s.Data["expiresAt"]); got != exp.UTC().Truncate(time.Second).Format(time.RFC3339) {
		t.Errorf("expiresAt key %q, JWT expire %s", got, exp)
	}
	if s.Labels[v1alpha1.LabelManagedBy] != v1alpha1.FieldManager || s.Labels[v1alpha1.LabelCredential] != "billing" {
		t.Errorf("labels %v", s.Labels)
	}
	if !strings.HasPrefix(s.Annotations[v1alpha1.AnnotationDataHash], "sha256:") {
		t.Errorf("no data hash annotation: %v", s.Annotations)
	}
	ref := metav1.GetControllerOf(s)
	if ref == nil || ref.UID != vbc.UID || ref.Kind != "VoipbinCredential" {
		t.Errorf("owner reference %+v", s.OwnerReferences)
	}
	var applied bool
	for _, mf := range s.ManagedFields {
		if mf.Manager == v1alpha1.FieldManager && mf.Operation == metav1.ManagedFieldsOperationApply &&
			strings.Contains(string(mf.FieldsV1.Raw), `"f:data"`) {
			applied = true
		}
		if strings.Contains(string(mf.FieldsV1.Raw), "stringData") {
			t.Errorf("stringData used")
		}
	}
	if !applied {
		t.Errorf("data not applied by %s: %+v", v1alpha1.FieldManager, s.ManagedFields)
	}
	st := e.get("billing").Status
	if st.Token == nil || st.Token.ExpiresAt == nil || !st.Token.ExpiresAt.Time.Equal(exp.Truncate(time.Second)) {
		t.Errorf("status.token.expiresAt %v, JWT expire %s", st.Token, exp)
	}
	if st.Token.RenewalTime == nil || !st.Token.RenewalTime.Before(st.Token.ExpiresAt) {
		t.Errorf("renewalTime %v not before expiry", st.Token.RenewalTime)
	}
	if st.SecretName != "billing-out" || st.ObservedGeneration != vbc.Generation {
		t.Errorf("status secretName %q observedGeneration %d", st.SecretName, st.ObservedGeneration)
	}
	if c := e.condition("billing", v1alpha1.ConditionTokenReady); c.Status != metav1.ConditionTrue || c.Reason != v1alpha1.ReasonLoggedIn {
		t.Errorf("TokenReady %+v", c)
	}
	if n := len(e.events("billing", v1alpha1.EventLoggedIn)); n != 1 {
		t.Errorf("%d LoggedIn events, want 1", n)
	}
	if n := len(e.logins("agent@example.com")); n != 1 {
		t.Errorf("%d logins, want 1", n)
	}
}
