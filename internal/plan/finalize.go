package plan

import (
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

// revokeHold bounds how long a deleted CR is held by its finalizer while its
// issued accesskeys cannot be deleted (the API unreachable, no usable login):
// after it the CR is released with a Warning event naming the keys left.
const revokeHold = 10 * time.Minute

// finalize decides for a CR being deleted that carries the finalizer: delete
// every accesskey it created (listed by name, plus those it knows of), then
// remove the finalizer. It makes API calls only: no Secret write, no status
// patch (the Status returned is the CR's own).
func finalize(o Observed, now time.Time) Plan {
	d := newDecision(o, now)
	d.fold()
	p := d.finalizeStep()
	p.Status, p.Memory, p.Events = o.CR.Status, d.mem, d.events
	return p
}

func (d *decision) finalizeStep() Plan {
	if !wantsFinalizer(d.vbc) {
		return Plan{Action: RemoveFinalizer}
	}
	switch {
	case !d.o.Allowed.Allows(apiURLOf(d.vbc)):
		return d.release("apiURL is not allowed by the operator's --allowed-api-urls: no call is made")
	case d.vbc.Spec.Suspend:
		return d.release("the VoipbinCredential is suspended: no call is made")
	}
	deadline := d.vbc.DeletionTimestamp.Add(revokeHold)
	if !d.now.Before(deadline) {
		return d.release("the accesskeys could not be deleted within " + revokeHold.String())
	}
	if d.o.Stopping {
		return Plan{Action: Finish}
	}
	token, ok := d.finalizeToken()
	if !ok {
		return d.finalizeLogin(deadline)
	}
	if r := d.mem.Revoke.remembered("revoke", true); r != nil && d.now.Before(r.NotBefore) {
		return Plan{Action: Finish, Wake: earliest(r.NotBefore, deadline)}
	}
	l := d.mem.Keys
	if l == nil || l.Purpose != ListFinalize {
		d.mem.Listing = ListFinalize
		return Plan{Action: ListKeys, TokenFrom: token, KeyName: KeyName(d.vbc)}
	}
	if len(l.Orphans) > 0 {
		return Plan{Action: Revoke, TokenFrom: token, RevokeKeys: l.Orphans}
	}
	return Plan{Action: RemoveFinalizer}
}

// finalizeToken is a login token to delete keys with: the one in memory, or
// the managed Secret's while it is unexpired (the login Secret may be gone
// already, as in a namespace being deleted).
func (d *decision) finalizeToken() (TokenSource, bool) {
	if h := d.mem.Token; h != nil && d.now.Before(h.ExpiresAt) {
		return TokenHeld, true
	}
	s := d.o.Secret
	if d.vbc.Spec.Login == nil || s == nil || !belongsTo(s, d.vbc) || len(s.Data[v1alpha1.SecretKeyToken]) == 0 ||
		isFingerprint(s.Data[v1alpha1.SecretKeyToken]) {
		return 0, false
	}
	exp, err := time.Parse(time.RFC3339, string(s.Data[v1alpha1.SecretKeyExpiresAt]))
	if err != nil || !d.now.Before(exp) {
		return 0, false
	}
	return TokenStored, true
}

// finalizeLogin logs in for the deletions when no token is at hand; a CR that
// cannot log in at all is released at once.
func (d *decision) finalizeLogin(deadline time.Time) Plan {
	if d.vbc.Spec.Login == nil || d.loginInputErr() != nil {
		return d.release("no login token to delete them with, and the login Secret cannot be used")
	}
	r := d.mem.Login.remembered(d.loginAttemptInputs(), true)
	if d.o.Outcome.Login != nil || (r != nil && d.now.Before(r.NotBefore)) {
		var wake time.Time
		if r != nil {
			wake = r.NotBefore
		}
		return Plan{Action: Finish, Wake: earliest(wake, deadline)}
	}
	return Plan{Action: Login}
}

// release removes the finalizer although keys may be left, and names them.
func (d *decision) release(why string) Plan {
	left := d.knownKeys()
	if l := d.mem.Keys; l != nil && l.Purpose == ListFinalize {
		left = l.Orphans
	}
	what := "any accesskey named " + KeyName(d.vbc)
	if len(left) > 0 {
		what = describeKeys(left) + ", and " + what
	}
	d.event(corev1.EventTypeWarning, v1alpha1.EventAccessKeysLeftBehind, "Revoke",
		why+"; left behind: "+what+" (delete them in VoIPBIN, or let them expire)")
	return Plan{Action: RemoveFinalizer}
}

// knownKeys are the issued keys this CR knows of: stored, in the status, the
// previous one, in memory, and orphans found.
func (d *decision) knownKeys() []KeyInfo {
	var keys []KeyInfo
	add := func(k KeyInfo) {
		if k.ID != "" && !slices.ContainsFunc(keys, func(o KeyInfo) bool { return o.ID == k.ID }) {
			keys = append(keys, k)
		}
	}
	st := d.vbc.Status.AccessKey
	if s := d.o.Secret; s != nil && belongsTo(s, d.vbc) && s.Annotations[v1alpha1.AnnotationAccessKeyIssuedFor] == string(d.vbc.UID) {
		add(KeyInfo{ID: s.Annotations[v1alpha1.AnnotationAccessKeyID], Prefix: keyPrefix(string(s.Data[v1alpha1.SecretKeyAccessKey]))})
	}
	if st != nil && st.IssuedAt != nil {
		add(KeyInfo{ID: st.ID, Prefix: st.Prefix})
	}
	if st != nil && st.Previous != nil {
		add(KeyInfo{ID: st.Previous.ID, Prefix: st.Previous.Prefix})
	}
	if h := d.mem.Key; h != nil && h.Issued {
		add(h.Info)
	}
	if l := d.mem.Keys; l != nil {
		for _, k := range l.Orphans {
			add(k)
		}
	}
	return keys
}
