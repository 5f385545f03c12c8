package plan

import (
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

// Issued accesskeys (spec.accessKey.issue): the operator creates a key with the
// login token, stores it in the managed Secret with its id and times as
// annotations, creates the next one renewBefore its expiry, and deletes the one
// it replaced revokeAfter the new one was stored. Every key of a CR has the same
// name (KeyName), so that a listing finds the keys whose create answer was lost
// (orphans): on every mint and once per process, the keys of that name that are
// neither stored, nor the previous one, nor in memory are deleted.

const (
	// defaultKeyLifetime is accessKey.issue.lifetime's default (30 days).
	defaultKeyLifetime = 720 * time.Hour
	// minKeyLifetime is VoIPBIN's shortest key lifetime.
	minKeyLifetime = 24 * time.Hour
	// defaultRevokeAfter is accessKey.issue.revokeAfter's default.
	defaultRevokeAfter = time.Hour
	// revokeInputs are the inputs of every deletion attempt: one backoff for all.
	revokeInputs = "revoke"
	// listFreshness is how long a listing made for a mint stays good for it: a
	// mint is made right after its listing, in the same reconcile.
	listFreshness = time.Minute
)

// issuing reports whether vbc asks the operator to create its accesskeys.
func issuing(vbc *v1alpha1.VoipbinCredential) bool {
	return vbc.Spec.AccessKey != nil && vbc.Spec.AccessKey.Issue != nil
}

// KeyName is the name of every accesskey the operator creates for vbc:
// vbc-<namespace>-<name>-<first 8 characters of the UID>. The UID part keeps
// the keys of a CR deleted and created again apart.
func KeyName(vbc *v1alpha1.VoipbinCredential) string {
	uid := string(vbc.UID)
	if len(uid) > 8 {
		uid = uid[:8]
	}
	return "vbc-" + vbc.Namespace + "-" + vbc.Name + "-" + uid
}

// keyDetail is the detail of every accesskey created for vbc: who made it and for what.
func keyDetail(vbc *v1alpha1.VoipbinCredential) string {
	return fmt.Sprintf("created by voipbin-credential-operator for VoipbinCredential %s/%s (uid %s); "+
		"rotated and deleted by it", vbc.Namespace, vbc.Name, vbc.UID)
}

func keyLifetime(vbc *v1alpha1.VoipbinCredential) time.Duration {
	if l := vbc.Spec.AccessKey.Issue.Lifetime; l != nil && l.Duration >= minKeyLifetime {
		return l.Truncate(time.Second)
	}
	return defaultKeyLifetime
}

func revokeAfter(vbc *v1alpha1.VoipbinCredential) time.Duration {
	if r := vbc.Spec.AccessKey.Issue.RevokeAfter; r != nil && r.Duration >= 0 {
		return r.Duration
	}
	return defaultRevokeAfter
}

// keyRenewal is when the issued key created at issuedAt, expiring at expiresAt,
// is replaced: the token's rule (renewBefore, default a third of the lifetime it
// was actually created with, at most 90%, with the CR's jitter).
func (d *decision) keyRenewal(issuedAt, expiresAt time.Time) renewal {
	var rb *time.Duration
	if r := d.vbc.Spec.AccessKey.Issue.RenewBefore; r != nil {
		rb = &r.Duration
	}
	return renewalTime(issuedAt, expiresAt, rb, d.vbc.UID)
}

// issuedKey is the issued accesskey the managed Secret holds.
type issuedKey struct {
	present             bool
	info                KeyInfo
	issuedAt, expiresAt time.Time
}

// knownExpiry is the stored key's expiry, or nil when none is stored.
func (k issuedKey) knownExpiry() *time.Time {
	if !k.present {
		return nil
	}
	return &k.expiresAt
}

// storedIssued returns the issued key of the managed Secret when it is as the
// operator wrote it, for this CR (its UID), at the current apiURL.
func (d *decision) storedIssued() issuedKey {
	s := d.o.Secret
	if s == nil || !belongsTo(s, d.vbc) || !intactPart(s, d.vbc, partAccessKey) ||
		len(s.Data[v1alpha1.SecretKeyAccessKey]) == 0 ||
		string(s.Data[v1alpha1.SecretKeyAPIURL]) != d.o.Inputs.Endpoint.URL ||
		s.Annotations[v1alpha1.AnnotationAccessKeyIssuedFor] != string(d.vbc.UID) ||
		s.Annotations[v1alpha1.AnnotationAccessKeyID] == "" {
		return issuedKey{}
	}
	expiresAt, err := time.Parse(time.RFC3339, s.Annotations[v1alpha1.AnnotationAccessKeyExpiresAt])
	if err != nil {
		return issuedKey{}
	}
	issuedAt, err := time.Parse(time.RFC3339, s.Annotations[v1alpha1.AnnotationAccessKeyIssuedAt])
	if err != nil || !issuedAt.Before(expiresAt) {
		issuedAt = expiresAt.Add(-keyLifetime(d.vbc))
	}
	return issuedKey{present: true, issuedAt: issuedAt, expiresAt: expiresAt, info: KeyInfo{
		ID: s.Annotations[v1alpha1.AnnotationAccessKeyID], Name: KeyName(d.vbc),
		Prefix: keyPrefix(string(s.Data[v1alpha1.SecretKeyAccessKey])), ExpiresAt: expiresAt,
	}}
}

// keyPrefix is what may be shown of a key: its first 11 characters.
func keyPrefix(key string) string {
	if len(key) <= 11 || isFingerprint([]byte(key)) {
		return ""
	}
	return key[:11]
}

// heldIssued returns the issued key in memory, not stored yet, while it was
// created at the current endpoint and is unexpired; otherwise it forgets it
// (the next listing deletes it).
func (d *decision) heldIssued() *HeldKey {
	h := d.mem.Key
	if h == nil || !h.Issued {
		return nil
	}
	if h.EndpointHash != d.o.Inputs.Endpoint.Hash || !d.now.Before(h.Info.ExpiresAt) {
		d.mem.Key = nil
		return nil
	}
	return h
}

// apiToken is the login token an accesskey call can use: the one in memory, or
// the stored one while it is valid.
func (d *decision) apiToken() (TokenSource, bool) {
	if d.vbc.Spec.Login == nil {
		return 0, false
	}
	if d.heldToken() != nil {
		return TokenHeld, true
	}
	if t := d.storedToken(); t.present && d.now.Before(t.expiresAt) && !isFingerprint(d.o.Secret.Data[v1alpha1.SecretKeyToken]) {
		return TokenStored, true
	}
	return 0, false
}

func (d *decision) issueAttemptInputs() string {
	return attemptInputs(d.vbc, "issue", d.o.Inputs.Endpoint.Hash)
}

// keep are the keys a sweep never deletes: the stored one (from the Secret and
// from the status: after a restart between a write and its status patch they
// differ, and both are live), the previous one, the one in memory.
func (d *decision) keep() []string {
	ids := []string{d.storedIssued().info.ID}
	st := d.vbc.Status.AccessKey
	ids = append(ids, st.ID)
	if st.Previous != nil {
		ids = append(ids, st.Previous.ID)
	}
	if h := d.heldIssued(); h != nil {
		ids = append(ids, h.Info.ID)
	}
	return ids
}

// issuePart decides the next call for an issued accesskey: delete orphans or
// the previous key once due, list before minting, mint when no key is stored,
// at the renewal time or on a refresh request. A key in memory is stored
// first (writePart): a write that is retrying never mints again.
func (d *decision) issuePart() partDecision {
	if d.o.Inputs.EndpointErr != nil {
		return partDecision{}
	}
	token, haveToken := d.apiToken()
	// Deletions and sweeps share one backoff; none is retried in the reconcile that failed.
	revokeWait := time.Time{}
	if r := d.mem.Revoke.remembered(revokeInputs, true); r != nil && d.now.Before(r.NotBefore) {
		revokeWait = r.NotBefore
	}
	canRevoke := haveToken && !d.o.Stopping && revokeWait.IsZero() && d.o.Outcome.Revoke == nil
	keys, revokeAt := d.revokeDue()
	if len(keys) > 0 && canRevoke {
		return d.keyCall(Revoke, token, keys)
	}
	due, mintAt := d.mintDue()
	wait := partDecision{wake: earliest(revokeWait, revokeAt, mintAt)}
	st := d.vbc.Status.AccessKey
	switch {
	case !haveToken || d.o.Stopping:
		return wait
	case due:
		return d.mintStep(token, canRevoke, revokeWait, wait)
	case !d.mem.Swept && canRevoke && d.o.Outcome.List == nil && (d.storedIssued().present || st.ID != ""):
		// Once per process: keys whose create answer was lost before a restart.
		d.mem.Listing = ListSweep
		return d.keyCall(ListKeys, token, nil)
	}
	return wait
}

// mintStep is the next step of a mint that is due: delete the previous key,
// list the CR's keys (orphans are deleted next, by issuePart), create.
func (d *decision) mintStep(token TokenSource, canRevoke bool, revokeWait time.Time, wait partDecision) partDecision {
	st := d.vbc.Status.AccessKey
	switch {
	case st.Previous != nil:
		// At most two live keys: the previous one goes before a third is made.
		if !canRevoke {
			return wait
		}
		return d.keyCall(Revoke, token, []KeyInfo{{ID: st.Previous.ID, Prefix: st.Previous.Prefix}})
	case d.o.Outcome.Mint != nil:
		return wait // one mint per reconcile
	case d.listedForMint():
		return d.keyCall(Mint, token, nil)
	case d.o.Outcome.List == nil && revokeWait.IsZero():
		d.mem.Listing = ListMint
		return d.keyCall(ListKeys, token, nil)
	}
	return wait
}

// mintDue reports whether a new key is due (none stored, the renewal time, a
// refresh request, a failed attempt's retry time) and when it is (or was)
// scheduled. A key in hand is stored first: nothing is due.
func (d *decision) mintDue() (bool, time.Time) {
	if d.heldIssued() != nil {
		return false, time.Time{}
	}
	st := d.vbc.Status.AccessKey
	stored := d.storedIssued()
	req := d.refreshRequest()
	var renew time.Time
	if stored.present {
		renew = d.keyRenewal(stored.issuedAt, stored.expiresAt).Time
	}
	return dueCheck{
		Retry:        d.mem.Check.remembered(d.issueAttemptInputs(), stored.present),
		Failing:      st.FailedAttempts > 0,
		FailingRetry: failingRetry(st.FailedAttempts, timeOf(st.LastFailureTime), stored.knownExpiry(), d.vbc.UID),
		Changed: !stored.present || (req != "" && !d.keyAnswered(req)) ||
			(st.FailedAttempts > 0 && specChangedSince(d.vbc, v1alpha1.ConditionAccessKeyValid)),
		Scheduled: renew,
	}.isDue(d.now)
}

// listedForMint reports whether the CR's keys were listed for this mint and
// every orphan found is deleted.
func (d *decision) listedForMint() bool {
	k := d.mem.Keys
	return k != nil && k.Purpose == ListMint && len(k.Orphans) == 0 && d.now.Sub(k.At) < listFreshness
}

// revokeDue returns the keys to delete now (orphans, or the previous key at its
// revokeAt), or when the previous key is due.
func (d *decision) revokeDue() ([]KeyInfo, time.Time) {
	if k := d.mem.Keys; k != nil && len(k.Orphans) > 0 {
		return k.Orphans, time.Time{}
	}
	p := d.vbc.Status.AccessKey.Previous
	if p == nil {
		return nil, time.Time{}
	}
	if at := timeOf(p.RevokeAt); d.now.Before(at) {
		return nil, at
	}
	return []KeyInfo{{ID: p.ID, Prefix: p.Prefix}}, time.Time{}
}

// keyCall is the accesskey part's call action.
func (d *decision) keyCall(a Action, token TokenSource, revoke []KeyInfo) partDecision {
	p := Plan{TokenFrom: token, KeyName: KeyName(d.vbc), RevokeKeys: revoke}
	if a == Mint {
		p.KeyDetail, p.KeyLifetime = keyDetail(d.vbc), keyLifetime(d.vbc)
	}
	return partDecision{call: true, action: a, detail: p}
}

// foldMint records a created key (held until stored) or a failed creation.
func (d *decision) foldMint(out *MintOutcome) {
	st := d.vbc.Status.AccessKey
	stored := d.storedIssued()
	inputs := d.issueAttemptInputs()
	d.mem.Keys = nil // a failed create may have created a key: list again first
	switch {
	case !out.DeferredUntil.IsZero():
		d.mem.Check = Attempt{Inputs: inputs, NotBefore: out.DeferredUntil, HadStored: stored.present}
	case out.Key != nil:
		h := *out.Key
		h.Issued, h.EndpointHash, h.Refresh = true, d.o.Inputs.Endpoint.Hash, d.refreshRequest()
		h.ValidatedAt = h.ValidatedAt.Truncate(time.Second)
		h.Info.ExpiresAt = h.Info.ExpiresAt.Truncate(time.Second)
		d.mem.Key, d.mem.Check = &h, Attempt{}
		st.FailedAttempts = 0
	case out.Failure != nil:
		f := *out.Failure
		st.FailedAttempts++
		st.LastFailureTime = metaTime(out.At)
		st.LastFailureMessage = failureMessage("creating the accesskey", f)
		st.LastFailureReason = f.Reason
		var validUntil *time.Time
		if stored.present && out.At.Before(stored.expiresAt) {
			validUntil = &stored.expiresAt
		}
		d.mem.Check = Attempt{Inputs: inputs, NotBefore: nextAttempt(f, st.FailedAttempts, validUntil, out.At, d.vbc.UID),
			Failure: &f, HadStored: stored.present}
		if st.FailedAttempts == 1 {
			d.event(corev1.EventTypeWarning, v1alpha1.EventAccessKeyCreateFailed, "Issue", st.LastFailureMessage)
		}
	}
}

// foldList records a listing of the CR's own keys: those to delete. A failed
// listing before a mint is a failed mint attempt; any other is retried on the
// revocation's backoff.
func (d *decision) foldList(out *ListOutcome) {
	purpose := d.mem.Listing
	d.mem.Listing = 0
	switch {
	case !out.DeferredUntil.IsZero() && purpose == ListMint:
		d.mem.Check = Attempt{Inputs: d.issueAttemptInputs(), NotBefore: out.DeferredUntil, HadStored: d.storedIssued().present}
	case !out.DeferredUntil.IsZero():
		d.mem.Revoke = Attempt{Inputs: revokeInputs, NotBefore: out.DeferredUntil}
	case out.Failure != nil && purpose == ListMint:
		d.foldMint(&MintOutcome{At: out.At, Failure: out.Failure})
	case out.Failure != nil:
		d.revokeFailed(*out.Failure, out.At, "listing the accesskeys")
	case purpose == ListFinalize:
		// Every key goes: those listed and those known (gone already: 404).
		listing := &KeyListing{At: out.At, Purpose: purpose, Orphans: d.knownKeys()}
		for _, k := range out.Keys {
			if !slices.ContainsFunc(listing.Orphans, func(o KeyInfo) bool { return o.ID == k.ID }) {
				listing.Orphans = append(listing.Orphans, k)
			}
		}
		d.mem.Keys, d.mem.Swept = listing, true
	default:
		keep := d.keep()
		listing := &KeyListing{At: out.At, Purpose: purpose}
		for _, k := range out.Keys {
			if !slices.Contains(keep, k.ID) {
				listing.Orphans = append(listing.Orphans, k)
			}
		}
		d.mem.Keys, d.mem.Swept = listing, true
	}
}

// foldRevoke records deleted keys: orphans done, the previous key forgotten.
func (d *decision) foldRevoke(out *RevokeOutcome) {
	st := d.vbc.Status.AccessKey
	for _, k := range out.Revoked {
		if st.Previous != nil && st.Previous.ID == k.ID {
			st.Previous = nil
		}
		if l := d.mem.Keys; l != nil {
			l.Orphans = slices.DeleteFunc(l.Orphans, func(o KeyInfo) bool { return o.ID == k.ID })
		}
	}
	if len(out.Revoked) > 0 {
		d.event(corev1.EventTypeNormal, v1alpha1.EventAccessKeyRevoked, "Revoke", "deleted "+describeKeys(out.Revoked))
	}
	switch {
	case !out.DeferredUntil.IsZero():
		d.mem.Revoke = Attempt{Inputs: revokeInputs, NotBefore: out.DeferredUntil}
	case out.Failure != nil:
		d.revokeFailed(*out.Failure, out.At, "deleting an accesskey")
	default:
		d.mem.Revoke = Attempt{}
		if l := d.mem.Keys; l != nil && len(l.Orphans) == 0 && l.Purpose == ListSweep {
			d.mem.Keys = nil
		}
	}
}

func (d *decision) revokeFailed(f Failure, at time.Time, what string) {
	count := d.mem.Revoke.Count + 1
	if f.Kind == NeedsChange {
		f.Kind = Permanent
	}
	d.mem.Revoke = Attempt{Inputs: revokeInputs, NotBefore: nextAttempt(f, count, nil, at, d.vbc.UID), Failure: &f, Count: count}
	if count == 1 {
		d.event(corev1.EventTypeWarning, v1alpha1.EventAccessKeyRevokeFailed, "Revoke", failureMessage(what, f))
	}
}

// describeKeys names keys by prefix and id: never more of a key.
func describeKeys(keys []KeyInfo) string {
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		if k.Prefix != "" {
			parts = append(parts, fmt.Sprintf("accesskey %s… (id %s)", k.Prefix, k.ID))
		} else {
			parts = append(parts, "accesskey id "+k.ID)
		}
	}
	return strings.Join(parts, ", ")
}

// absorbIssued updates status.accessKey once the Secret holds a key other than
// the one the status describes: the key in memory just stored, or one stored
// by a write whose status patch was lost. The key it replaced becomes the
// previous one, deleted revokeAfter from now; an older previous one still
// live is deleted at once.
func (d *decision) absorbIssued() {
	st := d.vbc.Status.AccessKey
	stored := d.storedIssued()
	if !stored.present || stored.info.ID == st.ID {
		return
	}
	if st.Previous != nil && st.Previous.ID != st.ID {
		d.addOrphan(KeyInfo{ID: st.Previous.ID, Prefix: st.Previous.Prefix})
	}
	st.Previous = nil
	if st.ID != "" && st.IssuedAt != nil { // only a key the operator created is ever deleted
		st.Previous = &v1alpha1.PreviousAccessKey{ID: st.ID, Prefix: st.Prefix, RevokeAt: metaTime(d.now.Add(revokeAfter(d.vbc)))}
	}
	st.ID, st.Name, st.Prefix = stored.info.ID, stored.info.Name, stored.info.Prefix
	st.IssuedAt, st.ExpiresAt = metaTime(stored.issuedAt), metaTime(stored.expiresAt)
	st.EndpointHash, st.SecretVersion, st.LastValidatedTime = d.o.Inputs.Endpoint.Hash, "", nil
	if h := d.heldIssued(); h != nil && h.Info.ID == stored.info.ID {
		d.mem.Key = nil
		if h.Refresh != "" {
			d.mem.RefreshKey = h.Refresh
		}
	}
	d.event(corev1.EventTypeNormal, v1alpha1.EventAccessKeyIssued, "Issue", issuedMessage(st))
}

func (d *decision) addOrphan(k KeyInfo) {
	if d.mem.Keys == nil {
		d.mem.Keys = &KeyListing{At: d.now, Purpose: ListSweep}
	}
	if !slices.ContainsFunc(d.mem.Keys.Orphans, func(o KeyInfo) bool { return o.ID == k.ID }) {
		d.mem.Keys.Orphans = append(d.mem.Keys.Orphans, k)
	}
}

// issuedMessage describes the stored issued key.
func issuedMessage(st *v1alpha1.AccessKeyStatus) string {
	return fmt.Sprintf("accesskey %s… (%s) issued at %s, valid until %s", st.Prefix, st.Name,
		timestamp(timeOf(st.IssuedAt)), timestamp(timeOf(st.ExpiresAt)))
}

// issuedCondition sets AccessKeyValid for an issued key and returns what
// stalls it, if anything.
func (d *decision) issuedCondition() *stall {
	set := d.conditionSetter(v1alpha1.ConditionAccessKeyValid)
	if e := d.o.Inputs.EndpointErr; e != nil {
		return inputStall(set, e)
	}
	st := d.vbc.Status.AccessKey
	stored := d.storedIssued()
	valid := stored.present && d.now.Before(stored.expiresAt)
	failing := st.FailedAttempts > 0
	writeFailing := d.heldIssued() != nil && d.mem.Write.Failure != nil
	_, haveToken := d.apiToken()
	var renewal string
	if stored.present {
		renewal = "; the next one is created at " + timestamp(d.keyRenewal(stored.issuedAt, stored.expiresAt).Time)
	}
	switch {
	case failing && !valid:
		set(metav1.ConditionFalse, reasonOr(st.LastFailureReason, v1alpha1.ReasonAPIUnavailable), st.LastFailureMessage)
	case failing:
		set(metav1.ConditionTrue, v1alpha1.ReasonRefreshFailing,
			st.LastFailureMessage+"; the stored accesskey is valid until "+timestamp(stored.expiresAt))
	case !valid && writeFailing:
		set(metav1.ConditionFalse, v1alpha1.ReasonSecretWriteFailed, writeFailedMessage(d.mem.Write.Failure, "accesskey"))
	case !valid && d.deferred(d.mem.Check):
		set(metav1.ConditionFalse, v1alpha1.ReasonRateLimited,
			"waiting for the API's Retry-After (HTTP 429 seen by another request) until "+timestamp(d.mem.Check.NotBefore))
	case !valid && !haveToken:
		set(metav1.ConditionUnknown, v1alpha1.ReasonWaitingForLogin,
			"waiting for a login token to create the accesskey with (see TokenReady)")
	case !valid && stored.present:
		set(metav1.ConditionUnknown, v1alpha1.ReasonPending, "the issued accesskey expired at "+
			timestamp(stored.expiresAt)+"; a new one is being created")
	case !valid:
		set(metav1.ConditionUnknown, v1alpha1.ReasonPending, "creating the accesskey")
	case writeFailing:
		set(metav1.ConditionTrue, v1alpha1.ReasonRefreshFailing, writeFailedMessage(d.mem.Write.Failure, "accesskey")+
			"; the stored accesskey is valid until "+timestamp(stored.expiresAt))
	default:
		set(metav1.ConditionTrue, v1alpha1.ReasonIssued, d.issuedHealthyMessage(st, renewal))
	}
	if !failing {
		return nil
	}
	c := findCondition(&d.vbc.Status, v1alpha1.ConditionAccessKeyValid)
	return stallOf(c.Reason, c.Message, st.LastFailureReason)
}

// issuedHealthyMessage is AccessKeyValid's message while the issued key is good:
// the key, the next rotation, the previous key's deletion and its failure.
func (d *decision) issuedHealthyMessage(st *v1alpha1.AccessKeyStatus, renewal string) string {
	msg := issuedMessage(st) + renewal
	if p := st.Previous; p != nil {
		msg += fmt.Sprintf("; the previous accesskey %s… is deleted at %s", p.Prefix, timestamp(timeOf(p.RevokeAt)))
	}
	if f := d.mem.Revoke.Failure; f != nil {
		msg += "; " + failureMessage("deleting an older accesskey", *f)
	}
	return msg
}

// issuedAnnotations are the managed Secret's annotations for the issued key
// it holds: the key in memory, or the stored one carried over.
func (d *decision) issuedAnnotations(held *HeldKey) map[string]string {
	if held != nil {
		return map[string]string{
			v1alpha1.AnnotationAccessKeyID:        held.Info.ID,
			v1alpha1.AnnotationAccessKeyIssuedAt:  timestamp(held.ValidatedAt),
			v1alpha1.AnnotationAccessKeyExpiresAt: timestamp(held.Info.ExpiresAt),
			v1alpha1.AnnotationAccessKeyIssuedFor: string(d.vbc.UID),
		}
	}
	s := d.o.Secret
	if s == nil || d.storedIssued().info.ID == "" {
		return nil
	}
	out := map[string]string{}
	for _, k := range []string{v1alpha1.AnnotationAccessKeyID, v1alpha1.AnnotationAccessKeyIssuedAt,
		v1alpha1.AnnotationAccessKeyExpiresAt, v1alpha1.AnnotationAccessKeyIssuedFor} {
		out[k] = s.Annotations[k]
	}
	return out
}

// hasFinalizer reports whether the CR carries the operator's finalizer.
func hasFinalizer(vbc *v1alpha1.VoipbinCredential) bool {
	return slices.Contains(vbc.Finalizers, v1alpha1.FinalizerRevokeAccessKeys)
}

// wantsFinalizer reports whether deleting vbc must delete its issued keys first.
func wantsFinalizer(vbc *v1alpha1.VoipbinCredential) bool {
	return issuing(vbc) && vbc.Spec.DeletionPolicy != v1alpha1.DeletionPolicyRetain
}

// finalizerChange adds the finalizer before the first key is created, and
// removes it once it is no longer wanted (deletionPolicy Retain, or no issued
// keys: the keys already created then stay until they expire).
func (d *decision) finalizerChange() (Plan, bool) {
	switch has, wants := hasFinalizer(d.o.CR), wantsFinalizer(d.vbc); {
	case wants && !has:
		return d.plan(Plan{Action: AddFinalizer}), true
	case has && !wants:
		return d.plan(Plan{Action: RemoveFinalizer}), true
	}
	return Plan{}, false
}
