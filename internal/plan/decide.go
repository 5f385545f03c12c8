package plan

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

// Action is what the controller does next.
type Action int

const (
	// Finish: patch Status, record Events, requeue at Wake.
	Finish Action = iota
	// Login: log in (Fresh: a token shared from another credential's login may
	// not be reused) and call Decide again with the outcome.
	Login
	// Check: validate the accesskey and call Decide again with the outcome.
	Check
	// Write: write Secret (create it when SecretUID is empty, else change it
	// with a precondition on SecretUID) and call Decide again.
	Write
	// HandsOff: the CR is being deleted; do nothing at all.
	HandsOff
	// Mint: create an accesskey named KeyName with KeyDetail for KeyLifetime,
	// with the login token TokenFrom, and call Decide again with the outcome.
	Mint
	// ListKeys: list the live accesskeys named KeyName with the login token
	// TokenFrom, and call Decide again with the outcome.
	ListKeys
	// Revoke: delete the accesskeys RevokeKeys with the login token TokenFrom,
	// and call Decide again with the outcome.
	Revoke
	// AddFinalizer: add v1alpha1.FinalizerRevokeAccessKeys to the CR, and call
	// Decide again with the CR as patched.
	AddFinalizer
	// RemoveFinalizer: remove v1alpha1.FinalizerRevokeAccessKeys from the CR,
	// and call Decide again with the CR as patched (a CR being deleted is then
	// handed off, or gone).
	RemoveFinalizer
)

// TokenSource says which login token an accesskey call uses.
type TokenSource int

const (
	// TokenHeld is Memory.Token, obtained and not stored (yet).
	TokenHeld TokenSource = iota + 1
	// TokenStored is the token in the managed Secret.
	TokenStored
)

// Plan is what Decide decided.
type Plan struct {
	Action Action
	// Fresh is set for a Login that must make a new call.
	Fresh bool
	// Secret is the managed Secret to write (Write).
	Secret *corev1.Secret
	// SecretUID is the UID of the Secret the write replaces ("" create).
	SecretUID types.UID
	// Status is the status decided so far; with Finish, the one to write.
	Status v1alpha1.VoipbinCredentialStatus
	// Memory is what the process remembers from now on.
	Memory Memory
	// KeyName, KeyDetail and KeyLifetime are the accesskey to create (Mint),
	// or the name of the keys to list (ListKeys).
	KeyName, KeyDetail string
	KeyLifetime        time.Duration
	// RevokeKeys are the accesskeys to delete (Revoke).
	RevokeKeys []KeyInfo
	// TokenFrom is the login token a Mint, ListKeys or Revoke uses.
	TokenFrom TokenSource
	// Events are to be recorded once the reconcile is over (each announces a
	// write that succeeded, or a failure).
	Events []Event
	// Wake is when the reconciler must look again (zero: only on a change).
	Wake time.Time
}

// Event is an event to record on the CR.
type Event struct {
	Type, Reason, Action, Note string
}

// Decide is the whole decision of a reconcile step. The controller calls it, does
// the Plan's Action, feeds the outcome back, and repeats until Finish.
func Decide(o Observed, now time.Time) Plan {
	if o.CR.DeletionTimestamp != nil {
		if !hasFinalizer(o.CR) {
			// The garbage collector decides what happens to the Secret; no call, no
			// write, not even a status patch.
			return Plan{Action: HandsOff, Status: o.CR.Status, Memory: o.Memory}
		}
		// Only the issued accesskeys are deleted: still no write, no status patch.
		return finalize(o, now)
	}
	d := newDecision(o, now)
	d.fold()
	if p, done := d.blocked(); done {
		return p
	}
	if p, done := d.finalizerChange(); done {
		return p
	}
	d.absorb()
	login := d.loginPart()
	key := d.keyPart()
	switch {
	case login.call:
		return d.plan(Plan{Action: Login, Fresh: login.fresh})
	case key.call:
		return d.plan(key.plan())
	}
	write := d.writePart()
	if write.secret != nil {
		return d.plan(Plan{Action: Write, Secret: write.secret, SecretUID: write.replaces})
	}
	d.conditions()
	wake := earliest(login.wake, key.wake, write.wake, d.expiryWake())
	return d.plan(Plan{Action: Finish, Wake: wake})
}

// decision is one Decide in progress: a copy of the CR whose status is being
// decided, and the memory.
type decision struct {
	o   Observed
	now time.Time
	// vbc is a copy of o.CR carrying the status decided so far.
	vbc *v1alpha1.VoipbinCredential
	mem Memory
	// raw is the managed Secret as the API server holds it; o.Secret is it
	// with the built-in keys a Secret in omitted form stands for (withBuiltins).
	raw    *corev1.Secret
	events []Event
	// templateErr is a template of spec.secretTemplate.data that cannot be
	// rendered: no write, and Ready says so.
	templateErr *templateError
}

func newDecision(o Observed, now time.Time) *decision {
	vbc := o.CR.DeepCopy()
	if o.Status != nil {
		vbc.Status = *o.Status.DeepCopy()
	}
	vbc.Status.ObservedGeneration = vbc.Generation
	pruneStatus(vbc)
	raw := o.Secret
	o.Secret = withBuiltins(raw, vbc)
	return &decision{o: o, now: now, vbc: vbc, mem: o.Memory, raw: raw}
}

func (d *decision) plan(p Plan) Plan {
	p.Status = d.vbc.Status
	p.Memory = d.mem
	p.Events = d.events
	return p
}

func (d *decision) event(eventType, reason, action, note string) {
	d.events = append(d.events, Event{Type: eventType, Reason: reason, Action: action, Note: note})
}

// blocked handles what stops the whole CR, first match in Ready's order:
// suspended, apiURL not allowed, a Secret that is not its own.
func (d *decision) blocked() (Plan, bool) {
	if d.vbc.Spec.Suspend {
		wake := d.suspend()
		setKStatus(d.vbc, "", "", d.now)
		return d.plan(Plan{Action: Finish, Wake: wake}), true
	}
	if !d.o.Allowed.Allows(apiURLOf(d.vbc)) {
		d.block(v1alpha1.ReasonAPIURLNotAllowed, v1alpha1.EventAPIURLNotAllowed,
			"apiURL is not allowed by the operator's --allowed-api-urls (after removing dot segments)")
		return d.plan(Plan{Action: Finish}), true
	}
	if s := d.o.Secret; s != nil && !belongsTo(s, d.vbc) {
		d.block(v1alpha1.ReasonSecretConflict, v1alpha1.EventSecretConflict,
			"Secret \""+d.vbc.Spec.SecretName+"\" exists and does not belong to this VoipbinCredential; it is left untouched")
		return d.plan(Plan{Action: Finish}), true
	}
	return Plan{}, false
}

// block reports what stops the whole CR: every condition False and Stalled, an
// event on the transition only. A watch brings the CR back when something changes.
func (d *decision) block(reason, eventReason, message string) {
	if c := findCondition(&d.o.CR.Status, v1alpha1.ConditionReady); c == nil || c.Reason != reason {
		d.event(corev1.EventTypeWarning, eventReason, "Reconcile", message)
	}
	setAllFalse(d.vbc, reason, message, d.now)
	setKStatus(d.vbc, reason, message, d.now)
}

// refreshRequest returns the refresh request not yet handled ("" none).
func (d *decision) refreshRequest() string {
	v := d.vbc.Annotations[v1alpha1.AnnotationRefreshRequestedAt]
	if v == "" || v == d.vbc.Status.LastHandledRefreshRequest {
		return ""
	}
	return v
}

// expiryWake is when a stored credential expires: Ready turns False then, even
// if nothing else happens.
func (d *decision) expiryWake() time.Time {
	var wakes []time.Time
	if d.vbc.Spec.Login != nil {
		if t := d.storedToken(); t.present && d.now.Before(t.expiresAt) {
			wakes = append(wakes, t.expiresAt.Add(expiryMargin))
		}
	}
	if d.vbc.Spec.AccessKey != nil {
		if k := d.storedKey(); k.present && !k.expiresAt.IsZero() && d.now.Before(k.expiresAt) {
			wakes = append(wakes, k.expiresAt.Add(expiryMargin))
		}
	}
	return earliest(wakes...)
}

// conditions sets TokenReady, AccessKeyValid, Ready, the kstatus conditions and
// the handled refresh request, all describing the Secret as it is now.
func (d *decision) conditions() {
	var stalls []*stall
	if d.vbc.Spec.Login != nil {
		stalls = append(stalls, d.tokenCondition())
	}
	if d.vbc.Spec.AccessKey != nil {
		stalls = append(stalls, d.keyCondition())
	}
	setReady(d.vbc, d.now)
	var first stall
	if e := d.templateErr; e != nil {
		// The part conditions stay as they are: the credentials are fine, the
		// Secret cannot be shaped as asked.
		setCondition(d.vbc, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonTemplateError, e.message(), d.now)
		first = stall{reason: v1alpha1.ReasonTemplateError, message: e.message()}
	} else if isTrue(d.vbc, v1alpha1.ConditionReady) && !d.renderedCurrent() {
		// The credentials are stored, but the keys the app reads are not (yet)
		// rendered from them: a write of them failed.
		msg := "the Secret's templated keys are not rendered from its credentials yet"
		if f := d.mem.Write.Failure; f != nil {
			msg += ": " + f.Description
		}
		setCondition(d.vbc, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonSecretWriteFailed, msg, d.now)
	}
	for _, s := range stalls {
		if s != nil && first.reason == "" {
			first = *s
		}
	}
	setKStatus(d.vbc, first.reason, first.message, d.now)
	if req := d.refreshRequest(); req != "" &&
		(d.vbc.Spec.Login == nil || d.loginAnswered(req)) &&
		(d.vbc.Spec.AccessKey == nil || d.keyAnswered(req)) {
		d.vbc.Status.LastHandledRefreshRequest = req
	}
	if d.vbc.Spec.AccessKey != nil && !issuing(d.vbc) && isTrue(d.vbc, v1alpha1.ConditionAccessKeyValid) &&
		!isTrueIn(&d.o.CR.Status, v1alpha1.ConditionAccessKeyValid) {
		d.event(corev1.EventTypeNormal, v1alpha1.EventAccessKeyValidated, "Validate",
			accessKeyMessage(d.vbc.Status.AccessKey))
	}
	if d.o.Secret != nil {
		d.vbc.Status.SecretName = d.o.Secret.Name
	}
}

// conditionSetter returns a function that sets condition condType of the status
// being decided.
func (d *decision) conditionSetter(condType string) func(metav1.ConditionStatus, string, string) {
	return func(status metav1.ConditionStatus, reason, message string) {
		setCondition(d.vbc, condType, status, reason, message, d.now)
	}
}

// inputStall sets a credential's condition False for an input that cannot be
// used, and returns the stall it causes.
func inputStall(set func(metav1.ConditionStatus, string, string), e *InputError) *stall {
	set(metav1.ConditionFalse, e.Reason, e.Message)
	return stallOf(e.Reason, e.Message, "")
}

// deferred reports whether a is a call deferred by a Retry-After that still holds.
func (d *decision) deferred(a Attempt) bool {
	return a.Inputs != "" && a.Failure == nil && d.now.Before(a.NotBefore)
}

// stall is what keeps a CR Stalled: a failure only a person can fix.
type stall struct {
	reason, message string
}

// stallOf returns the stall of a credential whose condition has reason and
// message, or whose last attempt failed with failureReason; nil if a retry may
// fix it.
func stallOf(reason, message, failureReason string) *stall {
	switch {
	case needsHuman[reason]:
		return &stall{reason: reason, message: message}
	case needsHuman[failureReason]:
		return &stall{reason: failureReason, message: message}
	}
	return nil
}

func apiURLOf(vbc *v1alpha1.VoipbinCredential) string {
	if vbc.Spec.APIURL == "" {
		return v1alpha1.DefaultAPIURL
	}
	return vbc.Spec.APIURL
}
