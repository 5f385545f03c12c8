package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/internal/voipbin/voipbintest"
	"github.com/voipbin/credential-operator/test/harness"
)

// TestShortSoak is the soak's short version, run by make test: 30 CRs for 60
// seconds of faults, in which every fault kind, both hand-over kinds and both
// restart kinds happen at least once. It fails when an invariant fails, or when
// a kind of fault was never carried out (the test would prove less than it says).
// SOAK_SEED picks another seed.
func TestShortSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the manager, starts a control plane and runs for about two minutes")
	}
	start := time.Now()
	// As make build builds it.
	t.Setenv("CGO_ENABLED", "0")
	bin, err := harness.BuildManager(t.TempDir(), "-trimpath")
	if err != nil {
		t.Fatal(err)
	}
	// Kept when the test fails: the managers' logs and the report.
	dir, err := os.MkdirTemp("", "soak-short-")
	if err != nil {
		t.Fatal(err)
	}

	o := ShortOptions()
	if seed, err := strconv.ParseInt(os.Getenv("SOAK_SEED"), 10, 64); err == nil {
		o.Seed = seed
	}
	o.Root, o.Dir, o.Manager = harness.RepoRoot(), dir, bin
	var out bytes.Buffer
	o.Out = &out
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	rep, err := Run(ctx, o)
	t.Logf("soak output (%s in all):\n%s", time.Since(start).Round(time.Second), out.String())
	if err != nil {
		t.Fatalf("the soak could not run: %v (logs in %s)", err, dir)
	}
	for _, group := range [][]weighted{apiKinds, clusterKinds, processKinds} {
		for _, k := range group {
			if rep.Done[k.kind] == 0 {
				t.Errorf("%s was never carried out", k.kind)
			}
		}
	}
	if rep.Failed() {
		t.Fatalf("an invariant failed; the managers' logs and report.txt are in %s", dir)
	}
	if !t.Failed() {
		_ = os.RemoveAll(dir)
	}
}

// The checks of issued keys (invariants 7 to 9) each shown to catch what they
// are for, on a fabricated record: a soak with no cluster and no managers,
// whose stand-in record, Secret writes and snapshot the test writes.

// keySoak is a soak ready for the end-of-run checks, with one CR issuing its
// keys (soak-001), created a minute before its end.
func keySoak(t *testing.T) (*soak, *crInfo, time.Time) {
	t.Helper()
	o := DefaultOptions()
	o.Out = io.Discard
	j := newJournal(io.Discard)
	s := &soak{o: o, j: j, si: &standIn{rec: newRecorder(nil, nil)}}
	s.mon = newMonitor(j, nil, nil, expiryGrace, nil)
	t0 := time.Now().Add(-5 * time.Minute)
	cr := &crInfo{Name: crName(1), Issue: true, ManagedSecret: crName(1) + "-token"}
	j.addCR(cr)
	j.event(cr, t0, evCreated, true)
	s.end = time.Now()
	s.faultsStopped = s.end.Add(-3 * time.Minute)
	return s, cr, t0
}

// issuedKey is a key the stand-in created for cr at create, living the soak's key day.
func issuedKey(cr *crInfo, id string, create time.Time, day time.Duration) voipbintest.AccessKey {
	return voipbintest.AccessKey{ID: id, Name: "vbc-" + crNamespace + "-" + cr.Name + "-0123abcd",
		Key: "vb_" + id + "-" + harness.RandomString(24), Create: create, Expire: create.Add(day)}
}

// storeKey makes the monitor see cr's Secret holding k (written by the operator).
func storeKey(s *soak, cr *crInfo, k voipbintest.AccessKey) {
	s.mon.onSecret(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: cr.ManagedSecret, Namespace: crNamespace,
			Annotations: map[string]string{v1alpha1.AnnotationAccessKeyID: k.ID}},
		Data: map[string][]byte{v1alpha1.SecretKeyAccessKey: []byte(k.Key)},
	}, false)
}

func violations(s *soak, inv int) []violation {
	var out []violation
	for _, v := range s.j.allViolations() {
		if v.Invariant == inv {
			out = append(out, v)
		}
	}
	return out
}

func TestKeyOwner(t *testing.T) {
	for name, want := range map[string]string{
		"vbc-soak-soak-017-0123abcd":       "soak-017",
		"vbc-soak-canary-x1-y2-0123abcd":   "canary-x1-y2",
		"vbc-other-soak-017-0123abcd":      "",
		"soak-015":                         "",
		"vbc-soak-" + crName(203) + "-abc": crName(203),
	} {
		if got, _ := keyOwner(name); got != want {
			t.Errorf("keyOwner(%q) = %q, want %q", name, got, want)
		}
	}
}

// Invariant 7: a stored key deleted at VoIPBIN is caught; an expired one is
// caught unless every attempt to replace it met a fault; a live one is fine.
func TestInvariant7CatchesAStoredKeyThatDoesNotAuthenticate(t *testing.T) {
	day := 90 * time.Second
	for _, tc := range []struct {
		name    string
		key     func(voipbintest.AccessKey, time.Time) voipbintest.AccessKey
		calls   func(cr string, expire time.Time) []call
		violate bool
	}{
		{"live", func(k voipbintest.AccessKey, _ time.Time) voipbintest.AccessKey { return k }, nil, false},
		{"deleted while stored", func(k voipbintest.AccessKey, now time.Time) voipbintest.AccessKey {
			k.Delete = now.Add(-5 * time.Second)
			return k
		}, nil, true},
		{"expired, a create succeeded", func(k voipbintest.AccessKey, now time.Time) voipbintest.AccessKey {
			k.Expire = now.Add(-5 * time.Second)
			return k
		}, func(cr string, expire time.Time) []call {
			return []call{{Start: expire.Add(-20 * time.Second), End: expire.Add(-19 * time.Second), Path: accessKeysPath, Op: opCreate, CR: cr, Outcome: outcomeOK}}
		}, true},
		{"expired, no attempt at all", func(k voipbintest.AccessKey, now time.Time) voipbintest.AccessKey {
			k.Expire = now.Add(-5 * time.Second)
			return k
		}, nil, true},
		{"expired, every attempt faulted", func(k voipbintest.AccessKey, now time.Time) voipbintest.AccessKey {
			k.Expire = now.Add(-5 * time.Second)
			return k
		}, func(cr string, expire time.Time) []call {
			return []call{
				{Start: expire.Add(-25 * time.Second), End: expire.Add(-25 * time.Second), Path: accessKeysPath, Op: opList, CR: cr, Outcome: outcomeDown},
				{Start: expire.Add(-15 * time.Second), End: expire.Add(-15 * time.Second), Path: accessKeysPath, Op: opList, CR: cr, Outcome: outcomeOK},
				{Start: expire.Add(-15 * time.Second), End: expire.Add(-14 * time.Second), Path: accessKeysPath, Op: opCreate, CR: cr, Outcome: outcomeReset},
			}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, cr, _ := keySoak(t)
			s.o.KeyDay = day
			now := time.Now().Add(-time.Minute)
			k := issuedKey(cr, "00000000-0000-4000-8000-000000000001", now.Add(-60*time.Second), day)
			storeKey(s, cr, k)
			k = tc.key(k, now)
			s.mon.watchKeys(func() []voipbintest.AccessKey { return []voipbintest.AccessKey{k} })
			s.mon.checkKeys(now)
			if tc.calls != nil {
				s.si.rec.calls = tc.calls(cr.Name, k.Expire)
			}
			a := newAnalysis(s)
			a.checkKeyEpisodes()
			if got := len(violations(s, 7)) > 0; got != tc.violate {
				t.Errorf("violation of invariant 7: %v, want %v (%v)", got, tc.violate, s.j.allViolations())
			}
		})
	}
}

// Invariant 7: a Secret deleted by hand must hold a key again within the
// bound (a control: restored in 5 s); a Secret that loses its key otherwise
// is caught at once.
func TestInvariant7CatchesASecretLeftWithoutAKey(t *testing.T) {
	s, cr, _ := keySoak(t)
	now := time.Now().Add(-2 * time.Minute)
	k := issuedKey(cr, "00000000-0000-4000-8000-000000000001", now.Add(-30*time.Second), s.o.KeyDay)
	storeKey(s, cr, k)
	s.mon.watchKeys(func() []voipbintest.AccessKey { return []voipbintest.AccessKey{k} })
	s.j.event(cr, now.Add(-time.Second), evHandDelete, true)
	s.mon.onSecret(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: cr.ManagedSecret, Namespace: crNamespace}}, true)
	s.mon.checkKeys(now)
	storeKey(s, cr, k)
	s.mon.checkKeys(now.Add(5 * time.Second))
	newAnalysis(s).checkKeyEpisodes()
	if v := s.j.allViolations(); len(v) != 0 {
		t.Errorf("restored within the bound: violations %v", v)
	}

	for _, handDeleted := range []bool{false, true} {
		s, cr, _ := keySoak(t)
		now := time.Now().Add(-2 * time.Minute)
		k := issuedKey(cr, "00000000-0000-4000-8000-000000000001", now.Add(-30*time.Second), s.o.KeyDay)
		storeKey(s, cr, k)
		s.mon.watchKeys(func() []voipbintest.AccessKey { return []voipbintest.AccessKey{k} })
		if handDeleted {
			s.j.event(cr, now.Add(-time.Second), evHandDelete, true)
		}
		s.mon.onSecret(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: cr.ManagedSecret, Namespace: crNamespace}}, true)
		s.mon.checkKeys(now)
		// Never restored (until the end, two minutes later), no attempt faulted.
		a := newAnalysis(s)
		a.checkKeyEpisodes()
		if len(violations(s, 7)) != 1 {
			t.Errorf("hand-deleted %v: violations %v, want one of invariant 7", handDeleted, s.j.allViolations())
		}
	}
}

// Invariant 8: three live keys for longer than the grace are caught; for a
// moment they are not; expired and deleted keys are not live.
func TestInvariant8CatchesAThirdLiveKey(t *testing.T) {
	s, cr, t0 := keySoak(t)
	day := time.Hour // no key expires in the test
	k1 := issuedKey(cr, "00000000-0000-4000-8000-000000000001", t0, day)
	k2 := issuedKey(cr, "00000000-0000-4000-8000-000000000002", t0.Add(40*time.Second), day)
	k3 := issuedKey(cr, "00000000-0000-4000-8000-000000000003", t0.Add(45*time.Second), day)
	expired := issuedKey(cr, "00000000-0000-4000-8000-000000000004", t0.Add(-2*time.Hour), day)

	k1.Delete = t0.Add(50 * time.Second) // three live for 5 s: within the grace
	a := newAnalysis(s)
	a.checkLiveKeys([]voipbintest.AccessKey{expired, k1, k2, k3})
	if v := violations(s, 8); len(v) != 0 || a.keys.maxLive != 3 || a.keys.overTwo != 1 {
		t.Errorf("a short stretch: violations %v, most live %d, stretches %d", v, a.keys.maxLive, a.keys.overTwo)
	}

	k1.Delete = t0.Add(2 * time.Minute) // three live for 75 s
	a = newAnalysis(s)
	a.checkLiveKeys([]voipbintest.AccessKey{expired, k1, k2, k3})
	if v := violations(s, 8); len(v) != 1 {
		t.Errorf("three live keys for 75 s: violations %v, want one of invariant 8", v)
	}
}

// Invariant 9: at the orphan check, a key that is neither stored nor the
// previous one, a deleted CR's key not deleted, a CR still held, and a key
// left behind are each caught; stored and previous keys are fine.
func TestInvariant9CatchesOrphans(t *testing.T) {
	stored := "00000000-0000-4000-8000-000000000002"
	previous := "00000000-0000-4000-8000-000000000001"
	for _, tc := range []struct {
		name  string
		edit  func(s *soak, snap *keySnapshot, keys []voipbintest.AccessKey) []voipbintest.AccessKey
		count int
	}{
		{"stored and previous only", func(_ *soak, _ *keySnapshot, keys []voipbintest.AccessKey) []voipbintest.AccessKey {
			return keys
		}, 0},
		{"an orphan, expired", func(s *soak, snap *keySnapshot, keys []voipbintest.AccessKey) []voipbintest.AccessKey {
			o := issuedKey(s.j.cr(crName(1)), "00000000-0000-4000-8000-000000000009", snap.At.Add(-3*time.Minute), time.Minute)
			return append(keys, o)
		}, 1},
		{"the CR deleted, its keys not", func(s *soak, snap *keySnapshot, keys []voipbintest.AccessKey) []voipbintest.AccessKey {
			s.j.event(s.j.cr(crName(1)), snap.At.Add(-4*time.Minute), evDeleted, false)
			delete(snap.CRs, crName(1))
			return keys
		}, 2},
		{"the CR still held by its finalizer", func(s *soak, snap *keySnapshot, keys []voipbintest.AccessKey) []voipbintest.AccessKey {
			s.j.event(s.j.cr(crName(1)), snap.At.Add(-4*time.Minute), evDeleted, false)
			snap.CRs[crName(1)] = crKeys{Terminating: true}
			for i := range keys {
				keys[i].Delete = snap.At.Add(-time.Second)
			}
			return keys
		}, 1},
		{"keys left behind", func(s *soak, snap *keySnapshot, keys []voipbintest.AccessKey) []voipbintest.AccessKey {
			s.j.event(s.j.cr(crName(1)), snap.At.Add(-4*time.Minute), evDeleted, false)
			delete(snap.CRs, crName(1))
			for i := range keys {
				keys[i].Delete = snap.At.Add(-time.Minute)
			}
			snap.LeftBehind = []string{crName(1)}
			return keys
		}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, cr, _ := keySoak(t)
			snap := &keySnapshot{At: s.faultsStopped.Add(2 * time.Minute), CRs: map[string]crKeys{
				cr.Name: {SecretKeyID: stored, StatusID: stored, PreviousID: previous},
			}}
			keys := []voipbintest.AccessKey{
				issuedKey(cr, previous, snap.At.Add(-70*time.Second), 90*time.Second),
				issuedKey(cr, stored, snap.At.Add(-5*time.Second), 90*time.Second),
			}
			snap.Keys = tc.edit(s, snap, keys)
			s.orphanSnap = snap
			a := newAnalysis(s)
			a.checkOrphans(snap)
			if v := violations(s, 9); len(v) != tc.count {
				t.Errorf("violations of invariant 9: %v, want %d", v, tc.count)
			}
		})
	}
}
