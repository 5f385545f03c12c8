package plan

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

// The property test drives Decide the way the controller does (decide, act,
// feed the outcome back, until Finish) against a simulated cluster and API, over
// random histories: triggers, API answers (200, 503, 429, 400/401, tokens expired
// on arrival), refused writes, restarts, deletion and re-creation. After every
// step it checks the invariants of docs/architecture.md, "Invariants".
//
//	go test ./internal/plan -run TestDecideProperties -seed 7 -histories 2000
var (
	seed      = flag.Uint64("seed", 1, "seed of the property test's random histories")
	histories = flag.Int("histories", 400, "number of random histories the property test runs")
)

const simSteps = 80

func TestDecideProperties(t *testing.T) {
	for h := range *histories {
		s := newSim(*seed, uint64(h))
		for step := 0; step < simSteps && !t.Failed(); step++ {
			s.event()
			s.reconcile("event")
		}
		if t.Failed() {
			return
		}
		for _, v := range s.violations {
			t.Errorf("seed %d history %d: %s\n%s", *seed, h, v, strings.Join(s.journal, "\n"))
			return
		}
	}
}

// simToken is what the simulated API knows of a token it issued.
type simToken struct {
	username           string
	arrived, expiresAt time.Time
	loginVersion       string
	endpoint           string
}

// simCall is one API call the simulation answered.
type simCall struct {
	login     bool
	at        time.Time
	failed    bool
	permanent bool
	// retryAfter is the Retry-After of a 429.
	retryAfter time.Duration
	// epoch is the number of external events before the call.
	epoch int
	// validFor is how long the stored token was still valid at the call.
	validFor time.Duration
}

type sim struct {
	r   *rand.Rand
	now time.Time

	cr          *v1alpha1.VoipbinCredential
	secret      *corev1.Secret
	mem         Memory
	allowed     AllowedURLs
	lifetime    time.Duration
	username    string
	loginVer    int
	key         string
	keyVer      int
	stopping    bool
	refuseWrite bool
	uids        int
	rv          int

	tokens       map[string]simToken
	refreshAt    map[string]time.Time
	keyCheckedAt time.Time // last successful check of the current key
	// applied are the data keys of the operator's last write, to the Secret appliedTo.
	applied   map[string]bool
	appliedTo types.UID
	calls     []simCall
	epoch     int // external events so far
	wake      time.Time

	// keys are the accesskeys the simulated API created (accessKey.issue).
	keys []*simKey

	journal    []string
	violations []string
}

// simKey is an accesskey the simulated API created.
type simKey struct {
	id, name, key             string
	created, expires, deleted time.Time
}

func newSim(seed, history uint64) *sim {
	r := rand.New(rand.NewPCG(seed, history))
	s := &sim{
		r:         r,
		now:       time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		allowed:   AllowedURLs{"https://api.voipbin.net", "https://gw.example/tenant-a"},
		lifetime:  []time.Duration{7 * 24 * time.Hour, time.Hour, 2 * time.Minute}[r.IntN(3)],
		username:  "alice",
		key:       "vb_key0000000000000000000000000000",
		tokens:    map[string]simToken{},
		refreshAt: map[string]time.Time{},
	}
	s.cr = s.newCR(r.IntN(3) != 0, r.IntN(3) != 0)
	if s.cr.Spec.Login == nil && s.cr.Spec.AccessKey == nil {
		s.cr.Spec.Login = &v1alpha1.LoginSpec{SecretRef: v1alpha1.LoginSecretRef{Name: "login"}}
	}
	if r.IntN(3) == 0 {
		s.issueKeys()
	}
	return s
}

// issueKeys makes the CR's accesskey one the operator creates.
func (s *sim) issueKeys() {
	s.cr.Spec.Login = &v1alpha1.LoginSpec{SecretRef: v1alpha1.LoginSecretRef{Name: "login"}}
	s.cr.Spec.AccessKey = &v1alpha1.AccessKeySpec{Issue: &v1alpha1.AccessKeyIssueSpec{
		RevokeAfter: &metav1.Duration{Duration: time.Duration(s.r.IntN(3)) * 30 * time.Minute}}}
	if t := s.cr.Spec.SecretTemplate; t != nil {
		t.OmitDefaultKeys = false // refused by validation
	}
}

func (s *sim) newCR(login, key bool) *v1alpha1.VoipbinCredential {
	s.uids++
	cr := &v1alpha1.VoipbinCredential{
		ObjectMeta: metav1.ObjectMeta{Name: "billing", Namespace: "apps", Generation: 1,
			UID: types.UID(fmt.Sprintf("%08d-0000-4000-8000-000000000000", s.uids))},
		Spec: v1alpha1.VoipbinCredentialSpec{APIURL: "https://api.voipbin.net", SecretName: "billing-voipbin",
			DeletionPolicy: []v1alpha1.DeletionPolicy{v1alpha1.DeletionPolicyDelete, v1alpha1.DeletionPolicyRetain}[s.r.IntN(2)]},
	}
	if login {
		cr.Spec.Login = &v1alpha1.LoginSpec{SecretRef: v1alpha1.LoginSecretRef{Name: "login"}}
	}
	if key {
		cr.Spec.AccessKey = &v1alpha1.AccessKeySpec{SecretRef: &v1alpha1.AccessKeySecretRef{Name: "key"}}
	}
	if s.r.IntN(2) == 0 {
		cr.Spec.SecretTemplate = &v1alpha1.SecretTemplate{Data: map[string]string{
			"VOIPBIN_TOKEN": "{{ .Token }}", "env": "Bearer {{ .Token }}|{{ .AccessKey }}|{{ .APIURL }}",
		}, OmitDefaultKeys: s.r.IntN(2) == 0}
	}
	return cr
}

// templateBroken reports whether the CR's template cannot be rendered.
func (s *sim) templateBroken() bool {
	t := s.cr.Spec.SecretTemplate
	return t != nil && t.Data["bad"] != ""
}

func (s *sim) logf(format string, args ...any) {
	s.journal = append(s.journal, fmt.Sprintf("%s %s", s.now.Format("01-02T15:04:05"), fmt.Sprintf(format, args...)))
}

func (s *sim) violate(format string, args ...any) {
	s.violations = append(s.violations, fmt.Sprintf("at %s: %s", s.now.Format(time.RFC3339), fmt.Sprintf(format, args...)))
}

// event moves time or changes the world, as a cluster would.
func (s *sim) event() {
	s.stopping = false
	switch n := s.r.IntN(100); {
	case n < 45: // time passes: mostly to the wake time the last reconcile asked for
		switch {
		case !s.wake.IsZero() && s.r.IntN(4) != 0:
			if s.wake.After(s.now) {
				s.now = s.wake
			}
		default:
			s.now = s.now.Add(time.Duration(1+s.r.IntN(600)) * time.Second)
		}
		s.logf("time passes")
		return
	case n < 50:
		s.cr.Annotations = map[string]string{v1alpha1.AnnotationRefreshRequestedAt: fmt.Sprintf("r%d", len(s.refreshAt))}
		s.refreshAt[s.cr.Annotations[v1alpha1.AnnotationRefreshRequestedAt]] = s.now
		s.logf("refresh requested")
	case n < 54:
		s.loginVer++
		if s.r.IntN(2) == 0 {
			s.username = map[string]string{"alice": "bob", "bob": "alice"}[s.username]
		}
		s.logf("login Secret changed (user %s)", s.username)
	case n < 57:
		s.keyVer++
		s.key = fmt.Sprintf("vb_key%030d", s.keyVer)
		s.logf("accesskey Secret changed")
	case n < 61:
		s.secret = nil
		s.logf("managed Secret deleted")
	case n < 63:
		if k := s.tokenKey(); s.secret != nil && len(s.secret.Data[k]) > 0 {
			s.secret.Data[k] = []byte("hand-edited")
			s.rv++
			s.secret.ResourceVersion = fmt.Sprint(s.rv)
			s.logf("managed Secret edited by hand")
		}
	case n < 70:
		s.refuseWrite = !s.refuseWrite
		s.logf("writes refused: %t", s.refuseWrite)
	case n < 75:
		s.mem = Memory{}
		s.logf("restart")
	case n < 78:
		s.stopping = true
		s.logf("manager stopping")
	case n < 81:
		s.recreate()
	case n < 83:
		if s.cr.DeletionTimestamp == nil {
			ts := metav1.NewTime(s.now)
			s.cr.DeletionTimestamp = &ts
			if s.secret != nil && s.r.IntN(2) == 0 {
				s.secret.OwnerReferences = nil // kubectl delete --cascade=orphan
			}
			s.logf("CR deleting, held by another finalizer")
		}
	case n < 85:
		foreign := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "billing-voipbin", Namespace: "apps",
			UID: types.UID(fmt.Sprintf("foreign-%d", s.r.IntN(1000))), ResourceVersion: "1"},
			Data: map[string][]byte{"other": []byte("theirs")}}
		if s.secret == nil {
			s.secret = foreign
			s.logf("someone else created the Secret")
		}
	case n < 87:
		s.cr.Spec.APIURL = []string{"https://gw.example/tenant-a/../tenant-b", "https://gw.example/tenant-a/%2e%2e/tenant-b",
			"https://gw.example/tenant-a", "https://api.voipbin.net"}[s.r.IntN(4)]
		s.cr.Generation++
		s.logf("apiURL set to %s", s.cr.Spec.APIURL)
	case n < 89:
		s.cr.Spec.Suspend = !s.cr.Spec.Suspend
		s.cr.Generation++
		s.logf("suspend: %t", s.cr.Spec.Suspend)
	case n < 91 && s.cr.Spec.SecretTemplate != nil:
		t := s.cr.Spec.SecretTemplate
		switch c := s.r.IntN(3); {
		case c == 0 && !issuing(s.cr):
			t.OmitDefaultKeys = !t.OmitDefaultKeys
			s.logf("omitDefaultKeys: %t", t.OmitDefaultKeys)
		case c == 1:
			prefix := map[string]string{"Bearer": "Token", "Token": "Bearer"}[s.envPrefix()]
			t.Data["env"] = prefix + " {{ .Token }}|{{ .AccessKey }}|{{ .APIURL }}"
			s.logf("template env changed to %s", prefix)
		default:
			if s.templateBroken() {
				delete(t.Data, "bad")
			} else {
				t.Data["bad"] = []string{"{{ .Password }}", "{{ .Token ", "{{ slice .Token 1000 }}"}[s.r.IntN(3)]
			}
			s.logf("template broken: %t", s.templateBroken())
		}
		s.cr.Generation++
	default:
		s.now = s.now.Add(time.Duration(s.r.IntN(3)) * time.Second)
		s.logf("unrelated event")
		return
	}
	s.epoch++
}

// recreate deletes the CR (the garbage collector removes an owned Secret) and
// creates it again under the same name, maybe with another login.
func (s *sim) recreate() {
	if s.secret != nil {
		if ref := metav1.GetControllerOfNoCopy(s.secret); ref != nil && ref.UID == s.cr.UID {
			s.secret = nil
		}
	}
	login, key, issue := s.cr.Spec.Login != nil, s.cr.Spec.AccessKey != nil, issuing(s.cr)
	s.cr = s.newCR(login, key)
	if issue {
		s.issueKeys()
	}
	s.mem = Memory{}
	if s.r.IntN(2) == 0 {
		s.username = map[string]string{"alice": "bob", "bob": "alice"}[s.username]
		s.loginVer++
	}
	s.logf("CR re-created (%s, user %s, Secret kept: %t)", s.cr.Spec.DeletionPolicy, s.username, s.secret != nil)
}

func (s *sim) endpointURL() string {
	u, err := NormalizeAPIURL(s.cr.Spec.APIURL)
	if err != nil {
		return s.cr.Spec.APIURL
	}
	return u
}

// gather builds what the controller would gather.
func (s *sim) gather() Observed {
	o := Observed{CR: s.cr.DeepCopy(), Allowed: s.allowed, Memory: s.mem}
	url := s.endpointURL()
	o.Inputs.Endpoint = Endpoint{URL: url, Hash: "h-" + url}
	if s.cr.Spec.Login != nil {
		o.Inputs.Login = &LoginInput{Username: s.username, Version: fmt.Sprintf("login/%d", s.loginVer)}
	}
	if s.cr.Spec.AccessKey != nil {
		o.Inputs.AccessKey = &AccessKeyInput{Key: s.key, Version: fmt.Sprintf("key/%d", s.keyVer)}
	}
	s.observeSecret(&o)
	return o
}

func (s *sim) observeSecret(o *Observed) {
	o.Secret, o.SecretTokenUsername = nil, ""
	if s.secret != nil {
		o.Secret = s.secret.DeepCopy()
		o.SecretTokenUsername = s.tokens[string(s.secret.Data[v1alpha1.SecretKeyToken])].username
	}
}

// reconcile runs one reconcile as the controller does and checks the invariants.
// A reconcile that wrote the Secret is followed by the one its own write wakes,
// which must do nothing.
func (s *sim) reconcile(why string) {
	before := s.cr.Status.DeepCopy()
	o := s.gather()
	o.Stopping = s.stopping
	wrote, acted := false, false
	calls := map[Action]int{}
	for step := 1; ; step++ {
		p := Decide(o, s.now)
		s.mem = p.Memory
		if s.cr.DeletionTimestamp != nil && p.Action != HandsOff && !hasFinalizer(s.cr) {
			s.violate("a terminating CR got action %d", p.Action)
		}
		if s.cr.DeletionTimestamp != nil && p.Action == Write {
			s.violate("a terminating CR's Secret was written")
		}
		if p.Action == HandsOff {
			if s.cr.DeletionTimestamp == nil {
				s.violate("hands off a CR that is not being deleted")
			}
			return
		}
		if p.Action == Finish || step == maxSimSteps {
			if step == maxSimSteps {
				s.violate("no Finish after %d steps", step)
			}
			if s.cr.DeletionTimestamp != nil && !equalStatus(p.Status, s.cr.Status) {
				s.violate("a terminating CR's status was changed")
			}
			s.cr.Status = p.Status
			s.wake = p.Wake
			break
		}
		acted = true
		if calls[p.Action]++; p.Action != Write && p.Action != Revoke && p.Action != ListKeys && calls[p.Action] > 1 {
			s.violate("%d calls of kind %d in one reconcile", calls[p.Action], p.Action)
		}
		o.Status, o.Memory, o.Outcome = &p.Status, p.Memory, Outcome{}
		switch p.Action {
		case Login:
			o.Outcome.Login = s.login()
		case Check:
			o.Outcome.Check = s.check()
		case Mint:
			o.Outcome.Mint = s.mint(p, o)
		case ListKeys:
			o.Outcome.List = s.listKeys(p)
		case Revoke:
			o.Outcome.Revoke = s.revoke(p)
		case AddFinalizer, RemoveFinalizer:
			s.setFinalizer(p, o)
			o.CR = s.cr.DeepCopy()
		case Write:
			if s.write(p) {
				wrote = true
			} else if s.refuseWrite {
				o.Outcome.Write = &WriteOutcome{Message: "the API server refused it (Forbidden): denied by policy"}
			}
			s.observeSecret(&o)
		}
	}
	if s.cr.DeletionTimestamp == nil { // a CR being deleted keeps its status as it was
		s.checkInvariants(before)
	}
	if why == "own write" && acted {
		s.violate("the operator's own write woke a reconcile that acted again")
	}
	if wrote && why != "own write" {
		s.reconcile("own write")
	}
}

const maxSimSteps = 16

func (s *sim) allowedNow() bool { return s.allowed.Allows(s.cr.Spec.APIURL) }

func (s *sim) checkCall(login bool) {
	if s.stopping {
		s.violate("a call started while the manager was stopping")
	}
	if !s.allowedNow() {
		s.violate("a call to %s, which the allow-list refuses", s.cr.Spec.APIURL)
	}
	if s.cr.Spec.Suspend {
		s.violate("a call while suspended")
	}
	// Retries come from the schedule: no call of the same kind sooner than the
	// backoff after a failure, unless something changed in between.
	for i := len(s.calls) - 1; i >= 0; i-- {
		c := s.calls[i]
		if c.login != login {
			continue
		}
		if c.failed && c.epoch == s.epoch {
			gap := s.now.Sub(c.at)
			minGap := max(4*time.Second, c.retryAfter)
			if c.permanent {
				minGap = min(permanentRetry, c.validFor)
			}
			if gap < minGap {
				s.violate("a call %s after a failed one with nothing changed; the schedule allows %s", gap, minGap)
			}
		}
		break
	}
}

// storedValidFor is how long the stored token was still valid at t.
func (s *sim) storedValidFor(t time.Time) time.Duration {
	if s.secret == nil {
		return 0
	}
	tok, ok := s.tokens[string(s.secretData(v1alpha1.SecretKeyToken))]
	if !ok || !tok.expiresAt.After(t) {
		return 0
	}
	return tok.expiresAt.Sub(t)
}

func (s *sim) login() *CallOutcome {
	s.checkCall(true)
	s.checkLoginJustified()
	out := &CallOutcome{At: s.now}
	c := simCall{login: true, at: s.now, epoch: s.epoch, validFor: s.storedValidFor(s.now)}
	switch n := s.r.IntN(100); {
	case n < 65:
		jwt := fmt.Sprintf("jwt-%d-%s", len(s.tokens), s.username)
		exp := s.now.Add(s.lifetime).Truncate(time.Second)
		s.tokens[jwt] = simToken{username: s.username, arrived: s.now, expiresAt: exp,
			loginVersion: fmt.Sprintf("login/%d", s.loginVer), endpoint: s.endpointURL()}
		out.Token = &HeldToken{JWT: jwt, Username: s.username, IssuedAt: s.now.Truncate(time.Second), ExpiresAt: exp}
		s.logf("login: token valid until %s", exp.Format(time.RFC3339))
	case n < 72:
		jwt := fmt.Sprintf("jwt-%d-%s-expired", len(s.tokens), s.username)
		exp := s.now.Add(-time.Hour).Truncate(time.Second)
		s.tokens[jwt] = simToken{username: s.username, arrived: s.now, expiresAt: exp}
		out.Token = &HeldToken{JWT: jwt, Username: s.username, IssuedAt: s.now, ExpiresAt: exp}
		c.failed = true
		s.logf("login: token expired on arrival")
	case n < 90:
		s.transientFailure("login", n < 82, out, &c)
	case n < 95:
		out.DeferredUntil = s.now.Add(time.Duration(1+s.r.IntN(20)) * time.Second)
		s.logf("login deferred")
		return out
	default:
		out.Failure = &Failure{Kind: Permanent, Reason: v1alpha1.ReasonInvalidCredentials, Description: "HTTP 400"}
		c.failed, c.permanent = true, true
		s.logf("login: 400")
	}
	s.calls = append(s.calls, c)
	return out
}

// transientFailure answers a call with a 503 or a 429 with a random Retry-After.
func (s *sim) transientFailure(what string, unavailable bool, out *CallOutcome, c *simCall) {
	c.failed = true
	if unavailable {
		out.Failure = &Failure{Kind: Transient, Reason: v1alpha1.ReasonAPIUnavailable, Description: "HTTP 503"}
		s.logf("%s: 503", what)
		return
	}
	c.retryAfter = time.Duration(1+s.r.IntN(30)) * time.Second
	out.Failure = &Failure{Kind: Transient, Reason: v1alpha1.ReasonRateLimited, Description: "HTTP 429", RetryAfter: c.retryAfter}
	s.logf("%s: 429 Retry-After %s", what, c.retryAfter)
}

// checkLoginJustified: a login is made only for a trigger that no token in hand
// or in the Secret answers (one login per trigger).
func (s *sim) checkLoginJustified() {
	req := s.cr.Annotations[v1alpha1.AnnotationRefreshRequestedAt]
	pending := req != "" && req != s.cr.Status.LastHandledRefreshRequest
	var rb *time.Duration
	answers := func(jwt string, refresh string, inMemory bool) bool {
		tok, ok := s.tokens[jwt]
		if !ok || tok.username != s.username || tok.loginVersion != fmt.Sprintf("login/%d", s.loginVer) ||
			tok.endpoint != s.endpointURL() {
			return false
		}
		renew := RenewalTime(tok.arrived.Truncate(time.Second), tok.expiresAt, rb, s.cr.UID)
		return s.now.Before(renew) && (!pending || (inMemory && refresh == req))
	}
	if h := s.mem.Token; h != nil && answers(h.JWT, h.Refresh, true) {
		s.violate("a login while a token in memory answers the trigger")
	}
	if s.secret != nil && belongsTo(s.secret, s.cr) && intactFor(withBuiltins(s.secret, s.cr), s.cr) && !pending &&
		!s.mustRenderAgain() && answers(string(s.secretData(v1alpha1.SecretKeyToken)), "", false) &&
		s.cr.Status.Token != nil && s.cr.Status.Token.LoginSecretVersion == fmt.Sprintf("login/%d", s.loginVer) &&
		s.cr.Status.Token.FailedAttempts == 0 {
		s.violate("a login with a good stored token and no trigger")
	}
}

func (s *sim) check() *CallOutcome {
	s.checkCall(false)
	out := &CallOutcome{At: s.now}
	c := simCall{at: s.now, epoch: s.epoch, validFor: s.storedValidFor(s.now)}
	switch n := s.r.IntN(100); {
	case n < 70:
		out.Key = &KeyInfo{ID: "id", Prefix: s.key[:11], ExpiresAt: s.now.Add(30 * 24 * time.Hour).Truncate(time.Second)}
		s.keyCheckedAt = s.now
		s.logf("check: valid")
	case n < 90:
		s.transientFailure("check", n < 80, out, &c)
	default:
		out.Failure = &Failure{Kind: Permanent, Reason: v1alpha1.ReasonInvalidCredentials, Description: "HTTP 401"}
		c.failed, c.permanent = true, true
		s.logf("check: 401")
	}
	s.calls = append(s.calls, c)
	return out
}

// write carries out a Write as the API server would: Create fails if a Secret
// exists, a change fails unless the UID matches; it reports whether it wrote.
func (s *sim) write(p Plan) bool {
	for _, jwt := range [][]byte{p.Secret.Data[v1alpha1.SecretKeyToken], p.Secret.Data["VOIPBIN_TOKEN"]} {
		if tok, ok := s.tokens[string(jwt)]; ok && !tok.expiresAt.After(tok.arrived) {
			s.violate("a token expired on arrival was written")
		}
	}
	if s.templateBroken() {
		s.violate("a write under a broken template")
	}
	switch {
	case p.SecretUID == "" && s.secret != nil:
		s.logf("write: AlreadyExists")
		return false
	case p.SecretUID != "" && (s.secret == nil || s.secret.UID != p.SecretUID):
		s.logf("write: UID precondition failed")
		return false
	case p.SecretUID != "" && !belongsTo(s.secret, s.cr):
		s.violate("a write to a Secret that does not belong to the CR")
		return false
	case s.refuseWrite:
		s.logf("write: refused")
		return false
	}
	uid := p.SecretUID
	if uid == "" {
		s.uids++
		uid = types.UID(fmt.Sprintf("secret-%d", s.uids))
	}
	written := p.Secret.DeepCopy()
	written.UID = uid
	s.rv++
	written.ResourceVersion = fmt.Sprint(s.rv)
	if s.secret != nil {
		// Keys of others stay (server-side apply owns only what it sets, and
		// removes what it set before and sets no more).
		for k, v := range s.secret.Data {
			if _, ok := written.Data[k]; !ok && !isOperatorKey(k) && (!s.applied[k] || s.appliedTo != uid) {
				written.Data[k] = v
			}
		}
	}
	s.applied, s.appliedTo = map[string]bool{}, uid
	for k := range p.Secret.Data {
		s.applied[k] = true
	}
	s.secret = written
	s.logf("write: ok (%d keys)", len(written.Data))
	return true
}

func isOperatorKey(k string) bool {
	for _, o := range operatorKeys {
		if o == k {
			return true
		}
	}
	return false
}

// checkInvariants checks the status a reconcile left against the world.
func (s *sim) checkInvariants(before *v1alpha1.VoipbinCredentialStatus) {
	st := s.cr.Status
	ready := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionReady)
	if ready != nil && ready.Status == metav1.ConditionTrue {
		s.checkReadyBacked()
	}
	// A refresh request is handled only by a new token and a new validation.
	if req := st.LastHandledRefreshRequest; req != "" && req != before.LastHandledRefreshRequest {
		asked := s.refreshAt[req]
		if s.cr.Spec.Login != nil {
			tok := s.tokens[string(s.secretData(v1alpha1.SecretKeyToken))]
			if tok.arrived.Before(asked) {
				s.violate("refresh %s marked handled, but the Secret's token is from before it", req)
			}
		}
		if issuing(s.cr) {
			if k := s.keyByValue(string(s.secretData(v1alpha1.SecretKeyAccessKey))); k == nil || k.created.Before(asked) {
				s.violate("refresh %s marked handled, but the Secret's accesskey was created before it", req)
			}
		} else if s.cr.Spec.AccessKey != nil && s.keyCheckedAt.Before(asked) {
			s.violate("refresh %s marked handled without a validation after it", req)
		}
	}
	// kstatus: Stalled and Reconciling never both; one of them whenever not Ready.
	stalled := meta.IsStatusConditionTrue(st.Conditions, v1alpha1.ConditionStalled)
	reconciling := meta.IsStatusConditionTrue(st.Conditions, v1alpha1.ConditionReconciling)
	if stalled && reconciling {
		s.violate("Stalled and Reconciling both True")
	}
	if ready != nil && ready.Status != metav1.ConditionTrue && !stalled && !reconciling {
		s.violate("Ready %s (%s) with neither Stalled nor Reconciling", ready.Status, ready.Reason)
	}
	if st.ObservedGeneration != s.cr.Generation {
		s.violate("observedGeneration %d, generation %d", st.ObservedGeneration, s.cr.Generation)
	}
}

// secretData is the built-in key of the managed Secret: as it is, or in
// omitted form read back from what the templates rendered (VOIPBIN_TOKEN is
// the token; env is "<prefix> token|accesskey|apiURL").
func (s *sim) secretData(key string) []byte {
	if s.secret == nil {
		return nil
	}
	if !omittedForm(s.secret) {
		return s.secret.Data[key]
	}
	d := s.secret.Data
	fields := strings.Split(string(d["env"]), "|")
	var v string
	switch key {
	case v1alpha1.SecretKeyToken:
		v = string(d["VOIPBIN_TOKEN"])
	case v1alpha1.SecretKeyExpiresAt:
		v = s.secret.Annotations[v1alpha1.AnnotationTokenExpiresAt]
	case v1alpha1.SecretKeyAccessKey:
		if len(fields) == 3 {
			v = fields[1]
		}
	case v1alpha1.SecretKeyAPIURL:
		v = s.secret.Annotations[v1alpha1.AnnotationAPIURL]
	}
	if v == "" {
		return nil
	}
	return []byte(v)
}

// tokenKey is the data key of the managed Secret that holds the token.
func (s *sim) tokenKey() string {
	if omittedForm(s.secret) {
		return "VOIPBIN_TOKEN"
	}
	return v1alpha1.SecretKeyToken
}

// envPrefix is the first word of the current env template.
func (s *sim) envPrefix() string {
	return strings.SplitN(s.cr.Spec.SecretTemplate.Data["env"], " ", 2)[0]
}

// mustRenderAgain reports whether a Secret in omitted form must be rendered
// again from credentials it holds only as fingerprints: its built-in keys are
// to be written out, the templates changed (even to broken ones), or the
// accesskey is another one.
// A login for that is justified.
func (s *sim) mustRenderAgain() bool {
	if !omittedForm(s.secret) {
		return false
	}
	t := s.cr.Spec.SecretTemplate
	if t == nil || !t.OmitDefaultKeys {
		return true
	}
	if s.templateBroken() {
		return true
	}
	tok, key := string(s.secretData(v1alpha1.SecretKeyToken)), string(s.secretData(v1alpha1.SecretKeyAccessKey))
	if (s.cr.Spec.AccessKey == nil) != (key == "") || (s.cr.Spec.AccessKey != nil && key != s.key) {
		return true
	}
	return string(s.secret.Data["env"]) != s.envPrefix()+" "+tok+"|"+key+"|"+string(s.secretData(v1alpha1.SecretKeyAPIURL))
}

// checkReadyBacked: Ready=True only while the Secret holds every requested
// credential, unexpired, issued for the current login; and the reconciler
// wakes by the expiry, so Ready turns False then.
func (s *sim) checkReadyBacked() {
	if s.secret == nil || !belongsTo(s.secret, s.cr) {
		s.violate("Ready=True with no Secret of its own")
		return
	}
	if s.cr.Spec.Login != nil {
		tok, ok := s.tokens[string(s.secretData(v1alpha1.SecretKeyToken))]
		switch {
		case !ok:
			s.violate("Ready=True, but the Secret holds no token the API issued")
		case !s.now.Before(tok.expiresAt):
			s.violate("Ready=True on a token that expired at %s", tok.expiresAt.Format(time.RFC3339))
		case tok.username != s.username:
			s.violate("Ready=True on %s's token, the login Secret names %s", tok.username, s.username)
		case tok.endpoint != s.endpointURL():
			s.violate("Ready=True on a token from %s, apiURL is %s", tok.endpoint, s.endpointURL())
		case !s.cr.Spec.Suspend && (s.wake.IsZero() || s.wake.After(tok.expiresAt.Add(expiryMargin))):
			s.violate("Ready=True but no wake by the token's expiry (wake %s)", s.wake)
		}
	}
	if issuing(s.cr) {
		if k := s.keyByValue(string(s.secretData(v1alpha1.SecretKeyAccessKey))); k == nil || !k.deleted.IsZero() ||
			!s.now.Before(k.expires) || k.name != KeyName(s.cr) {
			s.violate("Ready=True, but the Secret's accesskey is not a live key created for the CR")
		}
	} else if s.cr.Spec.AccessKey != nil && string(s.secretData(v1alpha1.SecretKeyAccessKey)) != s.key {
		s.violate("Ready=True, but the Secret does not hold the current accesskey")
	}
	if s.cr.Spec.Suspend {
		return // suspended: the Secret is left as it is, templates are not looked at
	}
	if s.templateBroken() {
		s.violate("Ready=True with a broken template")
	}
	if t := s.cr.Spec.SecretTemplate; t != nil {
		d := s.secret.Data
		tok := string(s.secretData(v1alpha1.SecretKeyToken))
		want := map[string]string{
			"VOIPBIN_TOKEN": tok,
			"env": s.envPrefix() + " " + tok + "|" + string(s.secretData(v1alpha1.SecretKeyAccessKey)) +
				"|" + string(s.secretData(v1alpha1.SecretKeyAPIURL)),
		}
		for k, v := range want {
			if got, ok := d[k]; !ok || string(got) != v {
				s.violate("Ready=True, but key %s is %q, not rendered from the Secret's credentials", k, got)
			}
		}
		if t.OmitDefaultKeys != omittedForm(s.secret) {
			s.violate("Ready=True, but omitDefaultKeys is %t and the Secret's built-in keys are not as asked", t.OmitDefaultKeys)
		}
		for _, k := range operatorKeys {
			if _, ok := d[k]; ok && t.OmitDefaultKeys {
				s.violate("Ready=True, but the Secret holds built-in key %s with omitDefaultKeys", k)
			}
		}
	}
}

// The simulated accesskey API of accessKey.issue, and its invariants: a key is
// created only when no key of the CR other than the stored one is live (orphans
// and the previous key are deleted first, so never more than two live keys
// after a rotation); a stored key is never deleted while the CR lives; and a
// deleted CR is released only once its keys are gone, or after revokeHold
// with an event naming them.

func (s *sim) keyByValue(v string) *simKey {
	for _, k := range s.keys {
		if k.key == v {
			return k
		}
	}
	return nil
}

// liveKeys are the live keys named for the current CR.
func (s *sim) liveKeys() []*simKey {
	var out []*simKey
	for _, k := range s.keys {
		if k.deleted.IsZero() && k.name == KeyName(s.cr) {
			out = append(out, k)
		}
	}
	return out
}

func (s *sim) issueCall(p Plan, o Observed) {
	if p.TokenFrom == TokenStored && (o.Secret == nil || len(o.Secret.Data[v1alpha1.SecretKeyToken]) == 0) {
		s.violate("an accesskey call with the stored token, and none is stored")
	}
	if p.TokenFrom == 0 {
		s.violate("an accesskey call without a token")
	}
	if s.stopping {
		s.violate("an accesskey call started while the manager was stopping")
	}
	if !s.allowedNow() {
		s.violate("an accesskey call to %s, which the allow-list refuses", s.cr.Spec.APIURL)
	}
	if s.cr.Spec.Suspend {
		s.violate("an accesskey call while suspended")
	}
}

func (s *sim) mint(p Plan, o Observed) *MintOutcome {
	s.issueCall(p, o)
	if s.cr.DeletionTimestamp != nil {
		s.violate("a key created for a CR being deleted")
	}
	if h := s.mem.Key; h != nil && h.Issued && s.now.Before(h.Info.ExpiresAt) {
		s.violate("a key created while one created before is in memory")
	}
	// At most one key of the CR is live when another is made: the one the
	// Secret holds, or the status describes (the Secret's was lost with an
	// apiURL change); the previous one and orphans are deleted first.
	stored := string(s.secretData(v1alpha1.SecretKeyAccessKey))
	live := s.liveKeys()
	for _, k := range live {
		if k.key != stored && (s.cr.Status.AccessKey == nil || k.id != s.cr.Status.AccessKey.ID) {
			s.violate("a key created while key %s of the CR (neither stored nor in the status) is live", k.id)
		}
	}
	if len(live) > 1 {
		s.violate("a key created while %d keys of the CR are live", len(live))
	}
	out := &MintOutcome{At: s.now}
	k := &simKey{id: fmt.Sprintf("00000000-0000-4000-9000-%012d", len(s.keys)), name: p.KeyName,
		key: fmt.Sprintf("vb_k%031d", len(s.keys)), created: s.now, expires: s.now.Add(s.lifetime).Truncate(time.Second)}
	switch n := s.r.IntN(100); {
	case n < 70:
		s.keys = append(s.keys, k)
		out.Key = &HeldKey{Key: k.key, ValidatedAt: s.now, Info: KeyInfo{ID: k.id, Name: k.name, Prefix: k.key[:11], ExpiresAt: k.expires}}
		s.logf("mint: %s", k.id)
	case n < 80:
		s.keys = append(s.keys, k) // created, the answer lost
		out.Failure = &Failure{Kind: Transient, Reason: v1alpha1.ReasonAPIUnavailable, Description: "timeout"}
		s.logf("mint: %s created, answer lost", k.id)
	case n < 90:
		out.Failure = &Failure{Kind: Transient, Reason: v1alpha1.ReasonAPIUnavailable, Description: "HTTP 503"}
		s.logf("mint: 503")
	case n < 95:
		out.DeferredUntil = s.now.Add(time.Duration(1+s.r.IntN(20)) * time.Second)
		s.logf("mint deferred")
	default:
		out.Failure = &Failure{Kind: Permanent, Reason: v1alpha1.ReasonAccessKeyCreateFailed, Description: "HTTP 403"}
		s.logf("mint: 403")
	}
	return out
}

func (s *sim) listKeys(p Plan) *ListOutcome {
	s.issueCall(p, s.gather())
	out := &ListOutcome{At: s.now}
	if s.r.IntN(10) == 0 {
		out.Failure = &Failure{Kind: Transient, Reason: v1alpha1.ReasonAPIUnavailable, Description: "HTTP 503"}
		s.logf("list: 503")
		return out
	}
	for _, k := range s.keys {
		if k.deleted.IsZero() && k.name == p.KeyName {
			out.Keys = append(out.Keys, KeyInfo{ID: k.id, Name: k.name, Prefix: k.key[:11], ExpiresAt: k.expires})
		}
	}
	s.logf("list: %d keys", len(out.Keys))
	return out
}

func (s *sim) revoke(p Plan) *RevokeOutcome {
	s.issueCall(p, s.gather())
	out := &RevokeOutcome{At: s.now}
	stored := string(s.secretData(v1alpha1.SecretKeyAccessKey))
	for _, rk := range p.RevokeKeys {
		if s.r.IntN(8) == 0 {
			out.Failure = &Failure{Kind: Transient, Reason: v1alpha1.ReasonAPIUnavailable, Description: "HTTP 503"}
			s.logf("revoke %s: 503", rk.ID)
			break
		}
		for _, k := range s.keys {
			if k.id != rk.ID {
				continue
			}
			if k.key == stored && s.cr.DeletionTimestamp == nil && s.secret != nil && belongsTo(s.secret, s.cr) {
				s.violate("the stored key %s was deleted while the CR lives", k.id)
			}
			if k.deleted.IsZero() {
				k.deleted = s.now
			}
		}
		out.Revoked = append(out.Revoked, rk)
		s.logf("revoke %s", rk.ID)
	}
	return out
}

func (s *sim) setFinalizer(p Plan, o Observed) {
	if p.Action == AddFinalizer {
		s.cr.Finalizers = append(s.cr.Finalizers, v1alpha1.FinalizerRevokeAccessKeys)
		return
	}
	if s.cr.DeletionTimestamp != nil {
		leftBehind := false
		for _, e := range p.Events {
			leftBehind = leftBehind || e.Reason == v1alpha1.EventAccessKeysLeftBehind
		}
		live := len(s.liveKeys())
		switch {
		case live > 0 && wantsFinalizer(s.cr) && s.now.Before(s.cr.DeletionTimestamp.Add(revokeHold)) &&
			s.allowedNow() && !s.cr.Spec.Suspend:
			s.violate("the finalizer removed with %d live keys, before the hold ended", live)
		case live > 0 && wantsFinalizer(s.cr) && !leftBehind:
			s.violate("the finalizer removed with %d live keys and no AccessKeysLeftBehind event", live)
		}
	}
	s.cr.Finalizers = nil
	s.logf("finalizer removed")
}
