package argocd

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

var (
	now     = time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	past    = metav1.NewTime(now.Add(-2 * time.Hour))
	future  = metav1.NewTime(now.Add(5 * 24 * time.Hour))
	renewal = metav1.NewTime(now.Add(3 * 24 * time.Hour))
)

// cond is a condition as the operator writes it, for generation 2.
func cond(typ string, s metav1.ConditionStatus, reason, message string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: s, Reason: reason, Message: message, ObservedGeneration: 2,
		LastTransitionTime: metav1.NewTime(now.Add(-time.Minute))}
}

// credential is a login VoipbinCredential of generation 2 with the given status.
func credential(st v1alpha1.VoipbinCredentialStatus) *v1alpha1.VoipbinCredential {
	return &v1alpha1.VoipbinCredential{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "VoipbinCredential"},
		ObjectMeta: metav1.ObjectMeta{Name: "billing", Namespace: "apps", Generation: 2},
		Spec: v1alpha1.VoipbinCredentialSpec{SecretName: "billing-voipbin",
			Login: &v1alpha1.LoginSpec{SecretRef: v1alpha1.LoginSecretRef{Name: "voipbin-login"}}},
		Status: st,
	}
}

// token is the token status of a stored token expiring at expiresAt.
func token(expiresAt metav1.Time) *v1alpha1.TokenStatus {
	return &v1alpha1.TokenStatus{IssuedAt: &metav1.Time{Time: expiresAt.Add(-7 * 24 * time.Hour)}, ExpiresAt: &expiresAt,
		RenewalTime: &renewal, LoginSecretVersion: "uid/1"}
}

// healthCase is a sample status, the health Argo CD must show, words the message
// must hold, and what kstatus (Flux, Helm --wait, kubectl wait) reads from it.
type healthCase struct {
	name    string
	cr      *v1alpha1.VoipbinCredential
	health  string
	message []string
	kstatus status.Status
}

func healthCases() []healthCase {
	const (
		rdy, tok, rec, stl = v1alpha1.ConditionReady, v1alpha1.ConditionTokenReady, v1alpha1.ConditionReconciling, v1alpha1.ConditionStalled
		yes, no, unknown   = metav1.ConditionTrue, metav1.ConditionFalse, metav1.ConditionUnknown
	)
	conds := func(c ...metav1.Condition) []metav1.Condition { return c }
	ready := cond(rdy, yes, v1alpha1.ReasonReady, "the Secret holds a token valid until "+future.UTC().Format(time.RFC3339))
	loggedIn := cond(tok, yes, v1alpha1.ReasonLoggedIn, "logged in")
	pending := cond(rdy, unknown, v1alpha1.ReasonPending, "no attempt yet")

	noStatus := credential(v1alpha1.VoipbinCredentialStatus{})
	notObserved := credential(v1alpha1.VoipbinCredentialStatus{Conditions: []metav1.Condition{pending}})
	noConditions := credential(v1alpha1.VoipbinCredentialStatus{ObservedGeneration: 2})
	oldGeneration := credential(v1alpha1.VoipbinCredentialStatus{ObservedGeneration: 1, Token: token(future),
		Conditions: []metav1.Condition{ready, loggedIn}})

	apiDown := "POST /auth/login: 503 Service Unavailable"
	firstLogin := credential(v1alpha1.VoipbinCredentialStatus{ObservedGeneration: 2,
		Token: &v1alpha1.TokenStatus{FailedAttempts: 1, LastFailureTime: &past, LastFailureReason: v1alpha1.ReasonAPIUnavailable},
		Conditions: conds(
			cond(rdy, no, v1alpha1.ReasonAPIUnavailable, apiDown), cond(tok, no, v1alpha1.ReasonAPIUnavailable, apiDown), cond(rec, yes, v1alpha1.ReasonAPIUnavailable, apiDown))})
	isReady := credential(v1alpha1.VoipbinCredentialStatus{ObservedGeneration: 2, SecretName: "billing-voipbin",
		Token: token(future), Conditions: []metav1.Condition{ready, loggedIn}})

	wrongPassword := "login answered 400: wrong username or password"
	invalid := credential(v1alpha1.VoipbinCredentialStatus{ObservedGeneration: 2,
		Token: &v1alpha1.TokenStatus{FailedAttempts: 3, LastFailureReason: v1alpha1.ReasonInvalidCredentials},
		Conditions: conds(
			cond(rdy, no, v1alpha1.ReasonInvalidCredentials, wrongPassword), cond(tok, no, v1alpha1.ReasonInvalidCredentials, wrongPassword), cond(stl, yes, v1alpha1.ReasonInvalidCredentials, wrongPassword))})
	invalidStillValid := credential(v1alpha1.VoipbinCredentialStatus{ObservedGeneration: 2, Token: token(future),
		Conditions: conds(
			cond(rdy, yes, v1alpha1.ReasonRefreshFailing, wrongPassword+"; the stored token is valid until "+future.UTC().Format(time.RFC3339)), cond(tok, yes, v1alpha1.ReasonRefreshFailing, wrongPassword), cond(stl, yes, v1alpha1.ReasonInvalidCredentials, wrongPassword))})
	notOurs := "the Secret billing-voipbin exists and does not belong to this VoipbinCredential"
	conflict := credential(v1alpha1.VoipbinCredentialStatus{ObservedGeneration: 2,
		Conditions: conds(
			cond(rdy, no, v1alpha1.ReasonSecretConflict, notOurs), cond(tok, unknown, v1alpha1.ReasonPending, "no attempt yet"), cond(stl, yes, v1alpha1.ReasonSecretConflict, notOurs))})
	expired := credential(v1alpha1.VoipbinCredentialStatus{ObservedGeneration: 2, Token: token(past),
		Conditions: conds(
			cond(rdy, no, v1alpha1.ReasonAPIUnavailable, apiDown+"; the stored token expired at "+past.UTC().Format(time.RFC3339)), cond(tok, no, v1alpha1.ReasonAPIUnavailable, apiDown), cond(rec, yes, v1alpha1.ReasonAPIUnavailable, apiDown))})
	writeRefused := "secrets \"billing-voipbin\" is forbidden: exceeded quota"
	expiredWriteRefused := credential(v1alpha1.VoipbinCredentialStatus{ObservedGeneration: 2, Token: token(past),
		Conditions: conds(
			cond(rdy, no, v1alpha1.ReasonSecretWriteFailed, writeRefused), cond(tok, yes, v1alpha1.ReasonLoggedIn, "logged in"), cond(rec, yes, v1alpha1.ReasonSecretWriteFailed, writeRefused))})
	suspended := isReady.DeepCopy()
	suspended.Spec.Suspend = true

	return []healthCase{
		// kstatus cannot tell a CR that has no status at all (no operator has seen it
		// yet) from a current one; Argo CD shows it as Progressing.
		{"no status: before the first reconcile", noStatus, "Progressing", []string{"first reconcile"}, status.CurrentStatus},
		{"observedGeneration 0", notObserved, "Progressing", []string{"first reconcile"}, status.InProgressStatus},
		{"no conditions yet", noConditions, "Progressing", []string{"first reconcile"}, status.CurrentStatus},
		{"a new generation not yet reconciled", oldGeneration, "Progressing", []string{"generation 2"}, status.InProgressStatus},
		{"first login in flight (Reconciling=True)", firstLogin, "Progressing", []string{"first credential", v1alpha1.ReasonAPIUnavailable, apiDown}, status.InProgressStatus},
		{"Ready", isReady, "Healthy", []string{v1alpha1.ReasonReady}, status.CurrentStatus},
		{"InvalidCredentials", invalid, "Degraded", []string{v1alpha1.ReasonInvalidCredentials, wrongPassword}, status.FailedStatus},
		{"InvalidCredentials while the stored token is valid", invalidStillValid, "Degraded", []string{v1alpha1.ReasonInvalidCredentials, "still usable"}, status.FailedStatus},
		{"SecretConflict", conflict, "Degraded", []string{v1alpha1.ReasonSecretConflict, notOurs}, status.FailedStatus},
		// kstatus reads these two as InProgress (the operator retries by itself); for
		// Argo CD the pods hold an expired token, which is Degraded.
		{"a stored token that expired (Ready=False)", expired, "Degraded", []string{v1alpha1.ReasonAPIUnavailable, past.UTC().Format(time.RFC3339)}, status.InProgressStatus},
		{"an expired token the Secret write cannot replace", expiredWriteRefused, "Degraded", []string{v1alpha1.ReasonSecretWriteFailed, "exceeded quota"}, status.InProgressStatus},
		{"suspended", suspended, "Suspended", []string{"Suspended", "still usable"}, status.CurrentStatus},
	}
}

// object converts a typed VoipbinCredential into what Argo CD hands the Lua.
func object(t *testing.T, cr *v1alpha1.VoipbinCredential) *unstructured.Unstructured {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(cr)
	if err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

// TestHealth runs health.lua (from the argocd-cm snippet) on each sample status.
// Each sample is also read by kstatus, as the README's "Conditions" promise: the
// samples are statuses the operator's contract produces, not ones made up to fit.
func TestHealth(t *testing.T) {
	c := loadCustomizations(t)
	for _, tc := range healthCases() {
		t.Run(tc.name, func(t *testing.T) {
			u := object(t, tc.cr)
			got, err := run(c.health, u.Object)
			if err != nil {
				t.Fatalf("health.lua: %v", err)
			}
			hs, ok := got.(map[string]any)
			if !ok {
				t.Fatalf("health.lua returned %#v, want a table", got)
			}
			if hs["status"] != tc.health {
				t.Errorf("health %v (%v), want %s", hs["status"], hs["message"], tc.health)
			}
			message, _ := hs["message"].(string)
			for _, want := range tc.message {
				if !strings.Contains(message, want) {
					t.Errorf("message %q lacks %q", message, want)
				}
			}
			res, err := status.Compute(u)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tc.kstatus {
				t.Errorf("the sample reads as %s through kstatus (%s), want %s: it is not a status the operator writes", res.Status, res.Message, tc.kstatus)
			}
		})
	}
}

// TestHealthCoversEveryStalledReason: every reason that stalls a credential (a
// human must act) is Degraded, with the reason in the message.
func TestHealthCoversEveryStalledReason(t *testing.T) {
	c := loadCustomizations(t)
	for _, reason := range []string{v1alpha1.ReasonInvalidCredentials, v1alpha1.ReasonAccountDisabled, v1alpha1.ReasonAccessKeyExpired,
		v1alpha1.ReasonSecretNotFound, v1alpha1.ReasonSecretKeyMissing, v1alpha1.ReasonSecretConflict, v1alpha1.ReasonAPIURLNotAllowed,
		v1alpha1.ReasonTLSError, v1alpha1.ReasonUnexpectedResponse} {
		cr := credential(v1alpha1.VoipbinCredentialStatus{ObservedGeneration: 2, Conditions: []metav1.Condition{
			cond(v1alpha1.ConditionReady, metav1.ConditionFalse, reason, "what failed"),
			cond(v1alpha1.ConditionStalled, metav1.ConditionTrue, reason, "what failed"),
		}})
		got, err := run(c.health, object(t, cr).Object)
		if err != nil {
			t.Fatal(err)
		}
		hs := got.(map[string]any)
		if hs["status"] != "Degraded" || !strings.Contains(hs["message"].(string), reason) {
			t.Errorf("%s: %v %q, want Degraded with the reason", reason, hs["status"], hs["message"])
		}
	}
}

// TestRefreshAction runs the discovery and the refresh action: refresh sets the
// refresh-requested-at annotation to the current time (which the operator handles
// once), keeps the other annotations, and is offered unless the CR is suspended.
func TestRefreshAction(t *testing.T) {
	c := loadCustomizations(t)
	cr := credential(v1alpha1.VoipbinCredentialStatus{})
	cr.Annotations = map[string]string{"team": "billing", v1alpha1.AnnotationRefreshRequestedAt: "2020-01-01T00:00:00Z"}

	for suspend, disabled := range map[bool]bool{false: false, true: true} {
		cr := cr.DeepCopy()
		cr.Spec.Suspend = suspend
		got, err := run(c.discovery, object(t, cr).Object)
		if err != nil {
			t.Fatalf("discovery.lua: %v", err)
		}
		actions, _ := got.(map[string]any)
		refresh, ok := actions["refresh"].(map[string]any)
		if !ok {
			t.Fatalf("discovery.lua offers %v, no refresh", keys(actions))
		}
		if refresh["disabled"] != disabled {
			t.Errorf("suspend %t: refresh disabled %v, want %t", suspend, refresh["disabled"], disabled)
		}
	}

	before := time.Now().UTC().Truncate(time.Second)
	got, err := run(c.actions["refresh"], object(t, cr).Object)
	if err != nil {
		t.Fatalf("refresh action: %v", err)
	}
	after := time.Now().UTC()
	obj, _ := got.(map[string]any)
	u := &unstructured.Unstructured{Object: obj}
	annotations := u.GetAnnotations()
	if annotations["team"] != "billing" {
		t.Errorf("the action dropped an annotation: %v", annotations)
	}
	requested, err := time.Parse(time.RFC3339, annotations[v1alpha1.AnnotationRefreshRequestedAt])
	if err != nil {
		t.Fatalf("refresh-requested-at %q is not RFC 3339: %v", annotations[v1alpha1.AnnotationRefreshRequestedAt], err)
	}
	if requested.Before(before) || requested.After(after) {
		t.Errorf("refresh-requested-at %s, want the time of the action (%s .. %s)", requested, before, after)
	}
	if u.GetName() != "billing" || u.GetKind() != "VoipbinCredential" {
		t.Errorf("the action returned %s %s, want the VoipbinCredential", u.GetKind(), u.GetName())
	}

	// Without any annotation, the action adds the map.
	cr.Annotations = nil
	got, err = run(c.actions["refresh"], object(t, cr).Object)
	if err != nil {
		t.Fatalf("refresh action on a CR without annotations: %v", err)
	}
	u = &unstructured.Unstructured{Object: got.(map[string]any)}
	if _, ok := u.GetAnnotations()[v1alpha1.AnnotationRefreshRequestedAt]; !ok {
		t.Errorf("no refresh-requested-at on a CR that had no annotations: %v", u.GetAnnotations())
	}
}

// TestSandbox is the control of newState: a script using what Argo CD's sandbox
// lacks fails here as it would there.
func TestSandbox(t *testing.T) {
	for _, script := range []string{`os.execute("true") return 1`, `io.write("x") return 1`, `return os.getenv("HOME")`} {
		if _, err := run(script, map[string]any{}); err == nil {
			t.Errorf("%s ran; Argo CD's sandbox does not allow it", script)
		}
	}
}
