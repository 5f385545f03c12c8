package plan

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

// The table tests of Decide: one scenario per invariant of docs/architecture.md,
// "Invariants", each the pure form of a situation a real cluster produced, with a
// fake clock and a scripted API. The property test (property_test.go) checks the
// same invariants over random histories.

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// world is a scripted cluster and API for the table tests: a managed Secret, the
// process memory, and queues of API answers.
type world struct {
	t       *testing.T
	now     time.Time
	cr      *v1alpha1.VoipbinCredential
	secret  *corev1.Secret
	mem     Memory
	user    string
	key     string
	stopped bool
	// loginAnswers and checkAnswers are consumed in order; when empty, a call
	// succeeds.
	loginAnswers, checkAnswers []answer
	// refuseWrites makes every write fail as an admission policy would.
	refuseWrites bool
	lifetime     time.Duration
	tokens       map[string]string // JWT -> username
	logins       int
	checks       int
	writes       int
	events       []Event
	last         Plan
	// api is the accesskey side of the scripted API (accessKey.issue).
	api issueAPI
}

type answer struct {
	failure  *Failure
	expired  bool
	deferred time.Duration
}

var (
	http503 = answer{failure: &Failure{Kind: Transient, Reason: v1alpha1.ReasonAPIUnavailable, Description: "HTTP 503"}}
	http400 = answer{failure: &Failure{Kind: Permanent, Reason: v1alpha1.ReasonInvalidCredentials, Description: "HTTP 400"}}
)

func http429(retryAfter time.Duration) answer {
	return answer{failure: &Failure{Kind: Transient, Reason: v1alpha1.ReasonRateLimited, Description: "HTTP 429",
		RetryAfter: retryAfter}}
}

func newWorld(t *testing.T, login, key bool) *world {
	cr := &v1alpha1.VoipbinCredential{
		ObjectMeta: metav1.ObjectMeta{Name: "billing", Namespace: "apps", UID: "uid-1", Generation: 1},
		Spec:       v1alpha1.VoipbinCredentialSpec{APIURL: "https://api.voipbin.net", SecretName: "billing-voipbin"},
	}
	if login {
		cr.Spec.Login = &v1alpha1.LoginSpec{SecretRef: v1alpha1.LoginSecretRef{Name: "login"}}
	}
	if key {
		cr.Spec.AccessKey = &v1alpha1.AccessKeySpec{SecretRef: &v1alpha1.AccessKeySecretRef{Name: "key"}}
	}
	return &world{t: t, now: t0, cr: cr, user: "alice", key: "vb_AbCdEfGhIjKlMnOpQrStUvWxYz012345",
		lifetime: 7 * 24 * time.Hour, tokens: map[string]string{}}
}

func (w *world) observed() Observed {
	o := Observed{CR: w.cr.DeepCopy(), Allowed: AllowedURLs{"https://api.voipbin.net", "https://gw.example/tenant-a"},
		Memory: w.mem, Stopping: w.stopped}
	url, err := NormalizeAPIURL(w.cr.Spec.APIURL)
	if err != nil {
		url = w.cr.Spec.APIURL
	}
	o.Inputs.Endpoint = Endpoint{URL: url, Hash: "h-" + url}
	if w.cr.Spec.Login != nil {
		o.Inputs.Login = &LoginInput{Username: w.user, Version: "login-uid/1"}
	}
	if w.cr.Spec.AccessKey != nil {
		o.Inputs.AccessKey = &AccessKeyInput{Key: w.key, Version: "key-uid/1"}
	}
	w.observeSecret(&o)
	return o
}

func (w *world) observeSecret(o *Observed) {
	o.Secret, o.SecretTokenUsername = nil, ""
	if w.secret != nil {
		o.Secret = w.secret.DeepCopy()
		o.SecretTokenUsername = w.tokens[string(w.secret.Data[v1alpha1.SecretKeyToken])]
	}
}

func (w *world) next(answers *[]answer) answer {
	if len(*answers) == 0 {
		return answer{}
	}
	a := (*answers)[0]
	*answers = (*answers)[1:]
	return a
}

// reconcile runs one reconcile the way the controller does and returns the final plan.
func (w *world) reconcile() Plan {
	w.t.Helper()
	o := w.observed()
	for step := 1; step <= 16; step++ {
		p := Decide(o, w.now)
		w.mem = p.Memory
		w.events = append(w.events, p.Events...)
		if p.Action == Finish || p.Action == HandsOff {
			w.cr.Status = p.Status
			w.last = p
			return p
		}
		o.Status, o.Memory, o.Outcome = &p.Status, p.Memory, Outcome{}
		switch p.Action {
		case Login:
			o.Outcome.Login = w.login()
		case Check:
			o.Outcome.Check = w.check()
		case Write:
			w.write(p, &o)
		case Mint, ListKeys, Revoke:
			w.issueCall(p, &o)
		case AddFinalizer, RemoveFinalizer:
			w.setFinalizer(p.Action == AddFinalizer)
			o.CR = w.cr.DeepCopy()
		}
	}
	w.t.Fatal("no Finish after 16 steps")
	return Plan{}
}

func (w *world) login() *CallOutcome {
	a := w.next(&w.loginAnswers)
	out := &CallOutcome{At: w.now}
	switch {
	case a.deferred != 0: // negative: a Retry-After that ended while the call waited
		out.DeferredUntil = w.now.Add(a.deferred)
		return out
	case a.failure != nil:
		out.Failure = a.failure
	default:
		jwt := fmt.Sprintf("jwt-%s-%d", w.user, len(w.tokens))
		exp := w.now.Add(w.lifetime)
		if a.expired {
			exp = w.now.Add(-time.Hour)
		}
		w.tokens[jwt] = w.user
		out.Token = &HeldToken{JWT: jwt, Username: w.user, IssuedAt: w.now, ExpiresAt: exp}
	}
	w.logins++
	return out
}

func (w *world) check() *CallOutcome {
	a := w.next(&w.checkAnswers)
	w.checks++
	out := &CallOutcome{At: w.now}
	switch {
	case a.deferred != 0:
		out.DeferredUntil = w.now.Add(a.deferred)
	case a.failure != nil:
		out.Failure = a.failure
	default:
		out.Key = &KeyInfo{ID: "id-1", Prefix: w.key[:11], ExpiresAt: w.now.Add(30 * 24 * time.Hour)}
	}
	return out
}

func (w *world) write(p Plan, o *Observed) {
	switch {
	case p.SecretUID == "" && w.secret != nil, p.SecretUID != "" && (w.secret == nil || w.secret.UID != p.SecretUID):
		// AlreadyExists or a failed precondition: the controller reads again.
	case w.refuseWrites:
		o.Outcome.Write = &WriteOutcome{Message: `the API server refused it (Forbidden): denied by policy "no-secrets"`}
	default:
		s := p.Secret.DeepCopy()
		s.UID = p.SecretUID
		if s.UID == "" {
			s.UID = types.UID("secret-uid")
		}
		w.secret = s
		w.writes++
	}
	w.observeSecret(o)
}

func (w *world) condition(condType string) *metav1.Condition {
	return meta.FindStatusCondition(w.cr.Status.Conditions, condType)
}

func (w *world) expectCondition(condType string, status metav1.ConditionStatus, reason string) {
	w.t.Helper()
	c := w.condition(condType)
	if c == nil || c.Status != status || c.Reason != reason {
		w.t.Fatalf("at %s: %s = %+v, want %s %s", w.now.Format(time.RFC3339), condType, c, status, reason)
	}
}

func (w *world) expectNoCondition(condType string) {
	w.t.Helper()
	if c := w.condition(condType); c != nil {
		w.t.Fatalf("%s = %+v, want none", condType, c)
	}
}

func (w *world) eventsWith(reason string) int {
	n := 0
	for _, e := range w.events {
		if e.Reason == reason {
			n++
		}
	}
	return n
}

// ready brings the world to a Ready CR.
func (w *world) ready() {
	w.t.Helper()
	w.reconcile()
	w.expectCondition(v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	w.logins, w.checks, w.writes, w.events = 0, 0, 0, nil
}

func (w *world) requestRefresh(value string) {
	w.cr.Annotations = map[string]string{v1alpha1.AnnotationRefreshRequestedAt: value}
}

// Invariant 1: one refresh request while the accesskey check is answered 429
// makes one login, however many reconciles follow (the operator's own writes
// included), and the request is handled once the check succeeds.
func TestOneLoginPerTriggerWhileTheCheckIsThrottled(t *testing.T) {
	w := newWorld(t, true, true)
	w.ready()
	w.requestRefresh("r1")
	w.checkAnswers = []answer{http429(15 * time.Second), http429(15 * time.Second)}
	for range 20 {
		w.reconcile() // every event, and the Secret write's own watch event
		w.now = w.now.Add(time.Second)
	}
	if w.logins != 1 {
		t.Fatalf("%d logins, want 1", w.logins)
	}
	if w.checks > 3 {
		t.Errorf("%d checks in 20 s with Retry-After 15 s", w.checks)
	}
	w.now = w.now.Add(30 * time.Second)
	w.reconcile()
	if w.logins != 1 || w.cr.Status.LastHandledRefreshRequest != "r1" {
		t.Errorf("after the 429s: %d logins, handled %q; want 1, r1", w.logins, w.cr.Status.LastHandledRefreshRequest)
	}
	w.expectCondition(v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
}

// Invariant 2: the managed Secret deleted and its re-creation refused: Ready is
// False (SecretWriteFailed), one login, and the retries reuse its token.
func TestReadyNeverOutlivesADeletedSecret(t *testing.T) {
	w := newWorld(t, true, false)
	w.ready()
	w.secret, w.refuseWrites = nil, true
	p := w.reconcile()
	w.expectCondition(v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonSecretWriteFailed)
	w.expectCondition(v1alpha1.ConditionReconciling, metav1.ConditionTrue, v1alpha1.ReasonSecretWriteFailed)
	w.expectNoCondition(v1alpha1.ConditionStalled)
	if msg := w.condition(v1alpha1.ConditionReady).Message; !strings.Contains(msg, `denied by policy "no-secrets"`) {
		t.Errorf("Ready's message %q does not quote the API server", msg)
	}
	if d := p.Wake.Sub(w.now); d < 4*time.Second || d > 6*time.Second {
		t.Errorf("write retried after %s, want the transient backoff (about 5 s)", d)
	}
	for range 10 {
		w.now = w.now.Add(7 * time.Second)
		w.reconcile()
	}
	if w.logins != 1 || w.eventsWith(v1alpha1.EventSecretWriteFailed) != 1 {
		t.Fatalf("%d logins, %d SecretWriteFailed events; want 1, 1", w.logins, w.eventsWith(v1alpha1.EventSecretWriteFailed))
	}
	w.refuseWrites = false
	w.now = w.now.Add(5 * time.Minute)
	w.reconcile()
	w.expectCondition(v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
	if w.logins != 1 || w.secret == nil {
		t.Fatalf("after the policy went: %d logins, Secret %v; want the held token stored, 1 login", w.logins, w.secret != nil)
	}
	if w.eventsWith(v1alpha1.EventTokenRefreshed) != 1 {
		t.Errorf("%d TokenRefreshed events, want 1 (after the write)", w.eventsWith(v1alpha1.EventTokenRefreshed))
	}
}

// Invariant 2: the token expires while every write is refused: Ready stays True
// (RefreshFailing) while the stored token is valid, the reconciler wakes by its
// expiry, and Ready is False from then on.
func TestReadyTurnsFalseAtExpiryWhileWritesAreRefused(t *testing.T) {
	w := newWorld(t, true, false)
	w.lifetime = 90 * time.Second
	w.ready()
	expiry := w.now.Add(90 * time.Second)
	w.refuseWrites = true
	for w.now.Before(expiry.Add(50 * time.Second)) { // past the renewal time of the token in hand
		p := w.reconcile()
		ready := w.condition(v1alpha1.ConditionReady)
		if w.now.Before(expiry) {
			if ready.Status == metav1.ConditionTrue && (p.Wake.IsZero() || p.Wake.After(expiry.Add(expiryMargin))) {
				t.Fatalf("at %s Ready with a wake at %s, after the expiry %s", w.now, p.Wake, expiry)
			}
		} else if ready.Status == metav1.ConditionTrue {
			t.Fatalf("at %s, after the expiry, Ready=True (%s)", w.now, ready.Reason)
		}
		w.now = earliest(p.Wake, w.now.Add(time.Minute))
	}
	w.expectCondition(v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonSecretWriteFailed)
	if w.logins != 1 {
		t.Errorf("%d logins while writes were refused, want 1: the token in hand serves until it expires", w.logins)
	}
}

// Invariant 6: a server issuing tokens already expired: never stored, never
// Ready, a transient failure naming clock skew, backed off.
func TestTokensExpiredOnArrivalAreBackedOffFailures(t *testing.T) {
	w := newWorld(t, true, false)
	w.loginAnswers = make([]answer, 50)
	for i := range w.loginAnswers {
		w.loginAnswers[i] = answer{expired: true}
	}
	start := w.now
	for w.now.Before(start.Add(15 * time.Second)) {
		p := w.reconcile()
		w.expectCondition(v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonUnexpectedResponse)
		w.now = earliest(p.Wake, w.now.Add(time.Second))
		if p.Wake.After(w.now) {
			w.now = w.now.Add(time.Second)
		}
	}
	if w.logins > 3 || w.secret != nil {
		t.Fatalf("%d logins in 15 s, Secret written %t; want at most 3 (5 s backoff), none", w.logins, w.secret != nil)
	}
	if msg := w.condition(v1alpha1.ConditionTokenReady).Message; !strings.Contains(msg, "clock skew") {
		t.Errorf("TokenReady's message %q does not name clock skew", msg)
	}
	w.expectCondition(v1alpha1.ConditionStalled, metav1.ConditionTrue, v1alpha1.ReasonUnexpectedResponse)
}

// Invariant 4: a Retain Secret holding alice's token is not adopted by a CR of
// the same name whose login Secret names bob: bob logs in, and his token replaces it.
func TestRetainedSecretOfAnotherAccountIsNotAdopted(t *testing.T) {
	w := newWorld(t, true, false)
	w.cr.Spec.DeletionPolicy = v1alpha1.DeletionPolicyRetain
	w.ready()
	// The CR is deleted (the Secret stays: Retain) and created again for bob.
	w.cr = w.cr.DeepCopy()
	w.cr.UID, w.cr.Status, w.mem, w.user = "uid-2", v1alpha1.VoipbinCredentialStatus{}, Memory{}, "bob"
	w.reconcile()
	if w.logins != 1 || w.tokens[string(w.secret.Data[v1alpha1.SecretKeyToken])] != "bob" {
		t.Fatalf("%d logins, the Secret holds %s's token; want 1 login and bob's token", w.logins,
			w.tokens[string(w.secret.Data[v1alpha1.SecretKeyToken])])
	}
	w.expectCondition(v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)

	// The same account is adopted without a login.
	w = newWorld(t, true, false)
	w.cr.Spec.DeletionPolicy = v1alpha1.DeletionPolicyRetain
	w.ready()
	w.cr = w.cr.DeepCopy()
	w.cr.UID, w.cr.Status, w.mem = "uid-2", v1alpha1.VoipbinCredentialStatus{}, Memory{}
	kept := string(w.secret.Data[v1alpha1.SecretKeyToken])
	w.reconcile()
	if w.logins != 0 || string(w.secret.Data[v1alpha1.SecretKeyToken]) != kept {
		t.Errorf("the same account's retained token: %d logins, want 0 (adopted)", w.logins)
	}
	w.expectCondition(v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
}

// Invariant 3: a refresh request whose first login gets a 503 stays pending; the
// retry stores a new token, then the request is handled and announced once.
func TestRefreshRequestIsHandledOnlyBySuccess(t *testing.T) {
	w := newWorld(t, true, false)
	w.ready()
	before := string(w.secret.Data[v1alpha1.SecretKeyToken])
	w.now = w.now.Add(time.Minute)
	w.requestRefresh("r1")
	w.loginAnswers = []answer{http503}
	p := w.reconcile()
	if w.cr.Status.LastHandledRefreshRequest != "" || w.eventsWith(v1alpha1.EventTokenRefreshed) != 0 {
		t.Fatalf("after a failed refresh: handled %q, %d TokenRefreshed", w.cr.Status.LastHandledRefreshRequest,
			w.eventsWith(v1alpha1.EventTokenRefreshed))
	}
	w.expectCondition(v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonRefreshFailing)
	w.now = p.Wake
	w.reconcile()
	if got := string(w.secret.Data[v1alpha1.SecretKeyToken]); got == before {
		t.Fatal("the retry republished the old token")
	}
	if w.cr.Status.LastHandledRefreshRequest != "r1" || w.eventsWith(v1alpha1.EventTokenRefreshed) != 1 {
		t.Errorf("after the retry: handled %q, %d TokenRefreshed; want r1, 1", w.cr.Status.LastHandledRefreshRequest,
			w.eventsWith(v1alpha1.EventTokenRefreshed))
	}
}

// Invariant 5: a CR being deleted (held by another finalizer) is left alone,
// even with its Secret gone or its owner reference removed.
func TestHandsOffATerminatingCR(t *testing.T) {
	w := newWorld(t, true, false)
	w.ready()
	status := w.cr.Status.DeepCopy()
	ts := metav1.NewTime(w.now)
	w.cr.DeletionTimestamp, w.cr.Finalizers = &ts, []string{"example.com/hold"}
	w.secret.OwnerReferences = nil // kubectl delete --cascade=orphan
	w.now = w.now.Add(8 * 24 * time.Hour)
	p := w.reconcile()
	w.secret = nil
	w.reconcile()
	if p.Action != HandsOff || w.logins != 0 || w.writes != 0 {
		t.Fatalf("action %d, %d logins, %d writes; want hands off", p.Action, w.logins, w.writes)
	}
	if !equalStatus(w.cr.Status, *status) {
		t.Errorf("the status changed: %+v", w.cr.Status)
	}
}

// Invariant 7: the allow-list is matched after dot segments are removed.
func TestAllowListCannotBeWalkedOutOf(t *testing.T) {
	for _, url := range []string{"https://gw.example/tenant-a/../tenant-b", "https://gw.example/tenant-a/%2e%2e/tenant-b",
		"https://gw.example/tenant-a/v1/%2E%2E/%2e%2e/tenant-b"} {
		w := newWorld(t, true, false)
		w.cr.Spec.APIURL = url
		w.reconcile()
		if w.logins != 0 {
			t.Errorf("%s: %d logins", url, w.logins)
		}
		w.expectCondition(v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonAPIURLNotAllowed)
		w.expectCondition(v1alpha1.ConditionStalled, metav1.ConditionTrue, v1alpha1.ReasonAPIURLNotAllowed)
	}
}

// Invariant 8: a Secret of someone else's is never written; ours is changed only
// with a precondition on the UID the decision saw, and created with Create.
func TestWritesOnlyWhatIsItsOwn(t *testing.T) {
	w := newWorld(t, true, false)
	w.secret = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "billing-voipbin", Namespace: "apps", UID: "theirs"},
		Data: map[string][]byte{"password": []byte("x")}}
	w.reconcile()
	if w.logins != 0 || w.writes != 0 {
		t.Fatalf("a foreign Secret: %d logins, %d writes", w.logins, w.writes)
	}
	w.expectCondition(v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonSecretConflict)
	w.expectCondition(v1alpha1.ConditionStalled, metav1.ConditionTrue, v1alpha1.ReasonSecretConflict)

	w = newWorld(t, true, false)
	o := w.observed()
	o.Outcome.Login = &CallOutcome{At: w.now, Token: &HeldToken{JWT: "jwt", IssuedAt: w.now, ExpiresAt: w.now.Add(time.Hour)}}
	if p := Decide(o, w.now); p.Action != Write || p.SecretUID != "" {
		t.Fatalf("no Secret: action %d, SecretUID %q; want a Create", p.Action, p.SecretUID)
	}
	w.ready()
	w.now = w.now.Add(6 * 24 * time.Hour)
	o = w.observed()
	p := Decide(o, w.now)
	o.Status, o.Memory = &p.Status, p.Memory
	o.Outcome.Login = &CallOutcome{At: w.now, Token: &HeldToken{JWT: "jwt-2", IssuedAt: w.now, ExpiresAt: w.now.Add(w.lifetime)}}
	if p := Decide(o, w.now); p.Action != Write || p.SecretUID != w.secret.UID {
		t.Fatalf("renewal: action %d, SecretUID %q; want a write preconditioned on %q", p.Action, p.SecretUID, w.secret.UID)
	}
}

// Invariant 9: a stopping manager starts no call, but stores a token in hand.
func TestStoppingStartsNoCallButStoresWhatIsInHand(t *testing.T) {
	w := newWorld(t, true, false)
	w.stopped = true
	w.reconcile()
	if w.logins != 0 {
		t.Fatalf("%d logins while stopping", w.logins)
	}
	w.expectCondition(v1alpha1.ConditionReconciling, metav1.ConditionTrue, v1alpha1.ReasonPending)

	w = newWorld(t, true, false)
	w.refuseWrites = true
	w.reconcile()
	w.refuseWrites, w.stopped = false, true
	w.now = w.now.Add(10 * time.Second)
	w.reconcile()
	if w.logins != 1 || w.secret == nil {
		t.Fatalf("%d logins, Secret written %t; want the token in hand stored", w.logins, w.secret != nil)
	}
}

// A wrong password never hammers the API: retried every 10 minutes, Stalled
// (kstatus Failed) also while a still-valid token keeps Ready True.
func TestWrongPasswordIsStalledAndRetriedSlowly(t *testing.T) {
	w := newWorld(t, true, false)
	w.ready()
	w.now = w.now.Add(6 * 24 * time.Hour) // past the renewal
	w.loginAnswers = []answer{http400, http400, http400}
	p := w.reconcile()
	w.expectCondition(v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonRefreshFailing)
	w.expectCondition(v1alpha1.ConditionStalled, metav1.ConditionTrue, v1alpha1.ReasonInvalidCredentials)
	w.expectNoCondition(v1alpha1.ConditionReconciling)
	if d := p.Wake.Sub(w.now); d != permanentRetry {
		t.Errorf("retry after %s, want %s", d, permanentRetry)
	}
	for range 30 {
		w.now = w.now.Add(10 * time.Second)
		w.reconcile()
	}
	if w.logins != 1 {
		t.Errorf("%d logins in 5 minutes after a 400, want 1", w.logins)
	}
}

// Ready's reasons: Suspended first, then the blocking ones.
func TestSuspendedComesFirst(t *testing.T) {
	w := newWorld(t, true, false)
	w.cr.Spec.Suspend = true
	w.cr.Spec.APIURL = "https://evil.example"
	w.reconcile()
	w.expectCondition(v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonSuspended)
	if w.logins != 0 {
		t.Errorf("%d logins while suspended", w.logins)
	}
}

// The renewBefore fallback says what the code does.
func TestRenewBeforeFallbackMessage(t *testing.T) {
	w := newWorld(t, true, false)
	w.cr.Spec.RenewBefore = &metav1.Duration{Duration: 7 * 24 * time.Hour}
	w.reconcile()
	msg := w.condition(v1alpha1.ConditionTokenReady).Message
	if !strings.Contains(msg, "exceeds 90% of the token's lifetime: a third of the lifetime is used") {
		t.Errorf("TokenReady's message %q does not explain the fallback", msg)
	}
}

func equalStatus(a, b v1alpha1.VoipbinCredentialStatus) bool {
	return a.ObservedGeneration == b.ObservedGeneration && len(a.Conditions) == len(b.Conditions) &&
		a.LastHandledRefreshRequest == b.LastHandledRefreshRequest
}

// A call deferred by a Retry-After that ended while it waited is due again at
// once: the reconcile that could not make it (one call of a kind per
// reconcile) asks to be woken at once, not at a later wake such as the
// stored token's expiry (the short soak found a login made a second after the
// token expired this way).
func TestADeferralThatEndedDuringTheCallWakesAtOnce(t *testing.T) {
	for _, c := range []struct {
		name       string
		login, key bool
	}{{"login", true, false}, {"accesskey check", false, true}} {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t, c.login, c.key)
			w.ready()
			w.requestRefresh("r1")
			if c.login {
				w.loginAnswers = []answer{{deferred: -time.Millisecond}}
			} else {
				w.checkAnswers = []answer{{deferred: -time.Millisecond}}
			}
			p := w.reconcile()
			if p.Wake.IsZero() || p.Wake.After(w.now) {
				t.Fatalf("wake %v, want now (%v)", p.Wake, w.now)
			}
		})
	}
}
