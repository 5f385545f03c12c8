package plan

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

// The table tests of issued accesskeys (spec.accessKey.issue), on the world of
// decide_test.go with a scripted accesskey API that keeps every key it created.

// issueAPI is the scripted accesskey side of VoIPBIN.
type issueAPI struct {
	keys []*apiKey
	// mintAnswers, listAnswers, revokeAnswers are consumed in order; when
	// empty, a call succeeds. A mint answer with lost set creates the key and
	// answers a timeout, as a create whose answer never arrived.
	mintAnswers, listAnswers, revokeAnswers []answer
	mints, lists, revokes                   int
	lifetime                                time.Duration
}

type apiKey struct {
	id, name, key    string
	expires, deleted time.Time
}

func (a *issueAPI) live(now time.Time) []*apiKey {
	var out []*apiKey
	for _, k := range a.keys {
		if k.deleted.IsZero() {
			out = append(out, k)
		}
	}
	return out
}

// readyIssued brings the world to a Ready CR and resets the API's counters.
func (w *world) readyIssued() {
	w.t.Helper()
	w.ready()
	w.api.mints, w.api.lists, w.api.revokes = 0, 0, 0
}

func withIssue(w *world) {
	w.cr.Spec.AccessKey = &v1alpha1.AccessKeySpec{Issue: &v1alpha1.AccessKeyIssueSpec{}}
	w.api.lifetime = 720 * time.Hour
}

var lostAnswer = answer{failure: &Failure{Kind: Transient, Reason: v1alpha1.ReasonAPIUnavailable,
	Description: "the API is unavailable: no answer before the timeout"}, expired: true}

// issueCall answers a Mint, ListKeys or Revoke.
func (w *world) issueCall(p Plan, o *Observed) {
	if p.TokenFrom == 0 {
		w.t.Fatalf("%v without a token", p.Action)
	}
	a := &w.api
	switch p.Action {
	case Mint:
		ans := w.next(&a.mintAnswers)
		a.mints++
		out := &MintOutcome{At: w.now}
		switch {
		case ans.deferred > 0:
			out.DeferredUntil = w.now.Add(ans.deferred)
		case ans.failure != nil:
			out.Failure = ans.failure
			if ans.expired { // lost: created all the same
				a.keys = append(a.keys, w.newKey(p))
			}
		default:
			k := w.newKey(p)
			a.keys = append(a.keys, k)
			out.Key = &HeldKey{Key: k.key, ValidatedAt: w.now,
				Info: KeyInfo{ID: k.id, Name: k.name, Prefix: k.key[:11], ExpiresAt: k.expires}}
		}
		o.Outcome.Mint = out
	case ListKeys:
		ans := w.next(&a.listAnswers)
		a.lists++
		out := &ListOutcome{At: w.now}
		switch {
		case ans.deferred > 0:
			out.DeferredUntil = w.now.Add(ans.deferred)
		case ans.failure != nil:
			out.Failure = ans.failure
		default:
			for _, k := range a.live(w.now) {
				if k.name == p.KeyName {
					out.Keys = append(out.Keys, KeyInfo{ID: k.id, Name: k.name, Prefix: k.key[:11], ExpiresAt: k.expires})
				}
			}
		}
		o.Outcome.List = out
	case Revoke:
		out := &RevokeOutcome{At: w.now}
		for _, rk := range p.RevokeKeys {
			ans := w.next(&a.revokeAnswers)
			a.revokes++
			if ans.failure != nil {
				out.Failure = ans.failure
				break
			}
			for _, k := range a.keys {
				if k.id == rk.ID && k.deleted.IsZero() {
					k.deleted = w.now
				}
			}
			out.Revoked = append(out.Revoked, rk)
		}
		o.Outcome.Revoke = out
	}
}

func (w *world) newKey(p Plan) *apiKey {
	n := len(w.api.keys)
	if p.KeyLifetime < 24*time.Hour {
		w.t.Fatalf("a key asked for %s", p.KeyLifetime)
	}
	return &apiKey{id: fmt.Sprintf("00000000-0000-0000-0000-%012d", n), name: p.KeyName,
		key: fmt.Sprintf("vb_Key%05dAbCdEfGhIjKlMnOpQrStUvW", n), expires: w.now.Add(w.api.lifetime)}
}

func (w *world) setFinalizer(add bool) {
	if add {
		w.cr.Finalizers = append(w.cr.Finalizers, v1alpha1.FinalizerRevokeAccessKeys)
		return
	}
	w.cr.Finalizers = slices.DeleteFunc(w.cr.Finalizers, func(f string) bool { return f == v1alpha1.FinalizerRevokeAccessKeys })
}

func (w *world) storedKey() string { return string(w.secret.Data[v1alpha1.SecretKeyAccessKey]) }

// expectLiveAtMost fails when more than n of the CR's keys authenticate.
func (w *world) expectLiveAtMost(n int) {
	w.t.Helper()
	if got := len(w.api.live(w.now)); got > n {
		w.t.Fatalf("at %s: %d live keys, want at most %d", w.now.Format(time.RFC3339), got, n)
	}
}

func (w *world) keyByValue(v string) *apiKey {
	for _, k := range w.api.keys {
		if k.key == v {
			return k
		}
	}
	return nil
}

// A key is created with the login token, stored with its id and times, and
// announced; the CR carries the finalizer first. Ready costs one listing and
// one create.
func TestIssuedKeyIsCreatedAndStored(t *testing.T) {
	w := newWorld(t, true, false)
	withIssue(w)
	w.readyIssued()
	if !hasFinalizer(w.cr) {
		t.Fatal("no finalizer")
	}
	if len(w.api.keys) != 1 {
		t.Fatalf("%d keys created, want 1", len(w.api.keys))
	}
	k := w.api.keys[0]
	if w.storedKey() != k.key || w.secret.Annotations[v1alpha1.AnnotationAccessKeyID] != k.id ||
		w.secret.Annotations[v1alpha1.AnnotationAccessKeyIssuedFor] != string(w.cr.UID) {
		t.Fatalf("Secret holds %q / %v", w.storedKey(), w.secret.Annotations)
	}
	if k.name != "vbc-apps-billing-uid-1" {
		t.Errorf("key name %q", k.name)
	}
	st := w.cr.Status.AccessKey
	if st.ID != k.id || st.Prefix != k.key[:11] || st.IssuedAt == nil || st.ExpiresAt == nil || st.Previous != nil {
		t.Fatalf("status.accessKey = %+v", st)
	}
	w.expectCondition(v1alpha1.ConditionAccessKeyValid, metav1.ConditionTrue, v1alpha1.ReasonIssued)
	for _, c := range w.cr.Status.Conditions {
		if strings.Contains(c.Message, k.key) {
			t.Fatalf("condition %s prints the key", c.Type)
		}
	}
	// Nothing is due: no call, no write.
	for range 5 {
		w.now = w.now.Add(time.Hour)
		w.reconcile()
	}
	if w.api.mints+w.api.lists+w.api.revokes+w.writes != 0 {
		t.Errorf("while nothing is due: %d mints, %d lists, %d revokes, %d writes", w.api.mints, w.api.lists, w.api.revokes, w.writes)
	}
}

// Rotation: a new key renewBefore expiry (a third of the lifetime by
// default), the old one kept as previous until revokeAfter, then deleted; never
// more than two live keys.
func TestIssuedKeyIsRotatedAndThePreviousOneDeleted(t *testing.T) {
	w := newWorld(t, true, false)
	withIssue(w)
	w.cr.Spec.AccessKey.Issue.RevokeAfter = &metav1.Duration{Duration: 30 * time.Minute}
	w.readyIssued()
	first := w.storedKey()
	var rotatedAt time.Time
	for w.storedKey() == first {
		w.now = w.now.Add(10 * time.Minute)
		w.reconcile()
		w.expectLiveAtMost(2)
		if w.now.Sub(t0) > 720*time.Hour {
			t.Fatal("never rotated")
		}
	}
	rotatedAt = w.now
	if got := rotatedAt.Sub(t0); got < 720*time.Hour*2/3-720*time.Hour/20-10*time.Minute || got > 720*time.Hour*2/3 {
		t.Errorf("rotated %s after the first key, want about two thirds of 720h", got)
	}
	st := w.cr.Status.AccessKey
	if st.Previous == nil || st.Previous.Prefix != first[:11] || !st.Previous.RevokeAt.Time.Equal(rotatedAt.Add(30*time.Minute)) {
		t.Fatalf("previous = %+v", st.Previous)
	}
	if w.keyByValue(first).deleted.IsZero() == false {
		t.Fatal("the previous key was deleted at once")
	}
	for w.now.Before(rotatedAt.Add(30 * time.Minute)) {
		w.now = w.now.Add(5 * time.Minute)
		w.reconcile()
	}
	if w.keyByValue(first).deleted.IsZero() || w.cr.Status.AccessKey.Previous != nil {
		t.Fatal("the previous key was not deleted at revokeAt")
	}
	if w.eventsWith(v1alpha1.EventAccessKeyRevoked) != 1 || w.eventsWith(v1alpha1.EventAccessKeyIssued) != 1 {
		t.Errorf("events: %+v", w.events)
	}
	w.expectLiveAtMost(1)
}

// A write that keeps failing never mints twice for one rotation: the key in
// hand is stored once writes are allowed again.
func TestOneMintPerRotationWhileWritesAreRefused(t *testing.T) {
	w := newWorld(t, true, false)
	withIssue(w)
	w.refuseWrites = true
	for range 30 {
		w.reconcile()
		w.now = w.now.Add(20 * time.Second)
	}
	if w.api.mints != 1 {
		t.Fatalf("%d keys created while writes were refused, want 1", w.api.mints)
	}
	w.expectCondition(v1alpha1.ConditionAccessKeyValid, metav1.ConditionFalse, v1alpha1.ReasonSecretWriteFailed)
	w.refuseWrites = false
	w.now = w.now.Add(5 * time.Minute)
	w.reconcile()
	if w.api.mints != 1 || w.storedKey() != w.api.keys[0].key {
		t.Fatalf("after writes are allowed: %d mints, stored key is the first: %v", w.api.mints, w.storedKey() == w.api.keys[0].key)
	}
	w.expectCondition(v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
}

// A create whose answer was lost leaves a key nobody stored: the listing that
// starts the next mint finds it by name and deletes it.
func TestOrphanOfALostAnswerIsDeleted(t *testing.T) {
	w := newWorld(t, true, false)
	withIssue(w)
	w.api.mintAnswers = []answer{lostAnswer}
	w.reconcile()
	if len(w.api.live(w.now)) != 1 || w.secret.Data[v1alpha1.SecretKeyAccessKey] != nil {
		t.Fatalf("setup: %d live keys", len(w.api.live(w.now)))
	}
	for range 10 {
		w.now = w.now.Add(10 * time.Second)
		w.reconcile()
	}
	live := w.api.live(w.now)
	if len(live) != 1 || live[0].key != w.storedKey() {
		t.Fatalf("%d live keys (the stored one among them: %v), want only the stored one", len(live), len(live) > 0 && live[0].key == w.storedKey())
	}
	w.expectCondition(v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
}

// A restart between the create and the write loses the key in memory: the
// start-up sweep (or the next mint's listing) deletes it.
func TestRestartBetweenCreateAndStoreLeavesNoOrphan(t *testing.T) {
	w := newWorld(t, true, false)
	withIssue(w)
	w.readyIssued()
	w.refuseWrites = true
	w.requestRefresh("rotate-now")
	w.reconcile() // creates the second key; the write is refused
	if len(w.api.live(w.now)) != 2 {
		t.Fatalf("setup: %d live keys, want 2", len(w.api.live(w.now)))
	}
	w.mem = Memory{} // the manager restarts
	w.refuseWrites = false
	for range 6 {
		w.now = w.now.Add(10 * time.Second)
		w.reconcile()
	}
	// The refresh made a third key; the second (orphan) is deleted, the first
	// is the previous one until revokeAfter.
	live := w.api.live(w.now)
	if len(live) != 2 || w.keyByValue(w.storedKey()).deleted != (time.Time{}) {
		t.Fatalf("%d live keys after the restart, want 2 (stored and previous)", len(live))
	}
	if !w.api.keys[1].deleted.After(t0) {
		t.Fatal("the orphan of the restart is live")
	}
}

// The write succeeded and its status patch was lost: the Secret's annotations
// say which key is stored, so no sweep deletes it, and the key the status
// described becomes the previous one.
func TestLostStatusPatchNeverDeletesTheStoredKey(t *testing.T) {
	w := newWorld(t, true, false)
	withIssue(w)
	w.readyIssued()
	first := w.storedKey()
	var before v1alpha1.VoipbinCredentialStatus
	for w.storedKey() == first { // until the rotation
		before = *w.cr.Status.DeepCopy()
		w.now = w.now.Add(time.Hour)
		w.reconcile()
	}
	stored := w.storedKey()
	w.cr.Status = before // the status patch never arrived
	w.mem = Memory{}     // and the manager restarted
	for range 4 {
		w.now = w.now.Add(10 * time.Second)
		w.reconcile()
	}
	if k := w.keyByValue(stored); !k.deleted.IsZero() || w.storedKey() != stored {
		t.Fatal("the stored key was deleted or replaced")
	}
	if p := w.cr.Status.AccessKey.Previous; p == nil || p.ID != w.api.keys[0].id {
		t.Fatalf("previous = %+v, want the first key", p)
	}
}

// VoIPBIN refusing to create keys (403) needs a person: Stalled, retried on
// the slow schedule, and the stored key stays while it is valid.
func TestCreateRefusedKeepsTheStoredKey(t *testing.T) {
	w := newWorld(t, true, false)
	withIssue(w)
	w.readyIssued()
	stored := w.storedKey()
	refused := answer{failure: &Failure{Kind: Permanent, Reason: v1alpha1.ReasonAccessKeyCreateFailed, Description: "HTTP 403"}}
	w.api.mintAnswers = []answer{refused, refused, refused, refused}
	w.requestRefresh("r1")
	for range 20 {
		w.reconcile()
		w.now = w.now.Add(30 * time.Second)
	}
	if w.api.mints != 1 {
		t.Errorf("%d creates in 10 minutes after a 403, want 1", w.api.mints)
	}
	if w.storedKey() != stored {
		t.Fatal("the stored key was replaced")
	}
	w.expectCondition(v1alpha1.ConditionAccessKeyValid, metav1.ConditionTrue, v1alpha1.ReasonRefreshFailing)
	w.expectCondition(v1alpha1.ConditionStalled, metav1.ConditionTrue, v1alpha1.ReasonAccessKeyCreateFailed)
	w.expectCondition(v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonRefreshFailing)
	if w.eventsWith(v1alpha1.EventAccessKeyCreateFailed) != 1 {
		t.Errorf("%d AccessKeyCreateFailed events, want 1", w.eventsWith(v1alpha1.EventAccessKeyCreateFailed))
	}
}

// Deleting the CR deletes every key it created, then releases it; no write,
// no status patch meanwhile.
func TestDeletionDeletesEveryKey(t *testing.T) {
	w := newWorld(t, true, false)
	withIssue(w)
	w.readyIssued()
	w.requestRefresh("r1")
	w.reconcile() // a second key; the first is previous for an hour
	if len(w.api.live(w.now)) != 2 {
		t.Fatalf("setup: %d live keys", len(w.api.live(w.now)))
	}
	w.writes = 0
	status := *w.cr.Status.DeepCopy()
	w.cr.DeletionTimestamp = &metav1.Time{Time: w.now}
	p := w.reconcile()
	if n := len(w.api.live(w.now)); n != 0 || hasFinalizer(w.cr) || p.Action != HandsOff {
		t.Fatalf("after the delete: %d live keys, finalizer %v, last action %v", n, hasFinalizer(w.cr), p.Action)
	}
	if w.writes != 0 || !equalStatus(w.cr.Status, status) {
		t.Error("a write or a status change while being deleted")
	}
}

// An API that stays down holds a deleted CR for revokeHold at most; then it is
// released with a Warning event naming the keys left.
func TestDeletionIsReleasedAfterTheHold(t *testing.T) {
	w := newWorld(t, true, false)
	withIssue(w)
	w.readyIssued()
	id := w.api.keys[0].id
	w.cr.DeletionTimestamp = &metav1.Time{Time: w.now}
	for range 200 {
		w.api.listAnswers = append(w.api.listAnswers, http503)
		w.api.revokeAnswers = append(w.api.revokeAnswers, http503)
	}
	for w.now.Before(w.cr.DeletionTimestamp.Add(revokeHold)) {
		w.reconcile()
		if !hasFinalizer(w.cr) {
			t.Fatalf("released %s after the delete, before the hold", w.now.Sub(w.cr.DeletionTimestamp.Time))
		}
		w.now = w.now.Add(15 * time.Second)
	}
	w.reconcile()
	if hasFinalizer(w.cr) {
		t.Fatal("still held after the hold")
	}
	if w.api.lists > 12 {
		t.Errorf("%d listings in 10 minutes of outage: no backoff", w.api.lists)
	}
	var note string
	for _, e := range w.events {
		if e.Reason == v1alpha1.EventAccessKeysLeftBehind {
			note = e.Note
		}
	}
	if !strings.Contains(note, id) || strings.Contains(note, w.api.keys[0].key) {
		t.Errorf("AccessKeysLeftBehind note %q: want the key's id, never the key", note)
	}
}

// Switching a CR from a key of its own (secretRef) to issued keys never
// deletes the user's key: only keys the operator created are ever deleted.
func TestSwitchToIssueNeverDeletesTheUsersKey(t *testing.T) {
	w := newWorld(t, true, true)
	w.ready()
	userKeyID := w.cr.Status.AccessKey.ID
	withIssue(w)
	w.cr.Generation++
	for range 3 {
		w.reconcile()
		w.now = w.now.Add(time.Hour)
	}
	if p := w.cr.Status.AccessKey.Previous; p != nil {
		t.Fatalf("previous = %+v: the user's key %s would be deleted", p, userKeyID)
	}
	w.expectCondition(v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady)
}

// Without a usable login token nothing is created, and the condition says why.
func TestNoKeyWithoutALoginToken(t *testing.T) {
	w := newWorld(t, true, false)
	withIssue(w)
	w.loginAnswers = []answer{http400}
	w.reconcile()
	if w.api.mints+w.api.lists != 0 {
		t.Fatalf("%d creates and %d listings without a token", w.api.mints, w.api.lists)
	}
	w.expectCondition(v1alpha1.ConditionAccessKeyValid, metav1.ConditionUnknown, v1alpha1.ReasonWaitingForLogin)
}
