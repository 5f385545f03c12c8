package controller

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

func testMemoryCR(namespace, name string, uid types.UID) *v1alpha1.VoipbinCredential {
	vbc := testCredential(true, true)
	vbc.Namespace, vbc.Name, vbc.UID = namespace, name, uid
	return vbc
}

func TestAttemptMemory(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	cr := testMemoryCR("apps", "billing", "uid-1")

	expect := func(t *testing.T, a *attemptMemory, vbc *v1alpha1.VoipbinCredential, p part, want failedAttempt, wantOK bool) {
		t.Helper()
		got, ok := a.get(vbc, p)
		if ok != wantOK || got.inputs != want.inputs || !got.notBefore.Equal(want.notBefore) {
			t.Errorf("get(%s/%s uid %s, part %d) = (%+v, %t), want (%+v, %t)",
				vbc.Namespace, vbc.Name, vbc.UID, p, got, ok, want, wantOK)
		}
	}
	none := failedAttempt{}

	t.Run("nothing remembered", func(t *testing.T) {
		a := newAttemptMemory()
		expect(t, a, cr, partLogin, none, false)
		expect(t, a, cr, partAccessKey, none, false)
	})

	t.Run("failed, then get", func(t *testing.T) {
		a := newAttemptMemory()
		a.failed(cr, partLogin, "3|uid/1|h", t0.Add(time.Minute))
		expect(t, a, cr, partLogin, failedAttempt{inputs: "3|uid/1|h", notBefore: t0.Add(time.Minute)}, true)
		expect(t, a, cr, partAccessKey, none, false)
	})

	t.Run("a later failure replaces the earlier one", func(t *testing.T) {
		a := newAttemptMemory()
		a.failed(cr, partLogin, "in-1", t0.Add(time.Minute))
		a.failed(cr, partLogin, "in-2", t0.Add(2*time.Minute))
		expect(t, a, cr, partLogin, failedAttempt{inputs: "in-2", notBefore: t0.Add(2 * time.Minute)}, true)
	})

	t.Run("parts are separate", func(t *testing.T) {
		a := newAttemptMemory()
		a.failed(cr, partLogin, "login-in", t0.Add(time.Minute))
		a.failed(cr, partAccessKey, "key-in", t0.Add(10*time.Minute))
		expect(t, a, cr, partLogin, failedAttempt{inputs: "login-in", notBefore: t0.Add(time.Minute)}, true)
		expect(t, a, cr, partAccessKey, failedAttempt{inputs: "key-in", notBefore: t0.Add(10 * time.Minute)}, true)

		a.succeeded(cr, partLogin)
		expect(t, a, cr, partLogin, none, false)
		expect(t, a, cr, partAccessKey, failedAttempt{inputs: "key-in", notBefore: t0.Add(10 * time.Minute)}, true)

		a.succeeded(cr, partAccessKey)
		expect(t, a, cr, partAccessKey, none, false)
		if len(a.m) != 0 {
			t.Errorf("%d entries left after both parts succeeded, want 0 (memory follows failing CRs only)", len(a.m))
		}
	})

	t.Run("succeeded with nothing remembered", func(t *testing.T) {
		a := newAttemptMemory()
		a.succeeded(cr, partLogin)
		expect(t, a, cr, partLogin, none, false)
		if len(a.m) != 0 {
			t.Errorf("%d entries after a success, want 0", len(a.m))
		}
	})

	t.Run("CRs are separate", func(t *testing.T) {
		a := newAttemptMemory()
		otherName := testMemoryCR("apps", "payments", "uid-2")
		otherNamespace := testMemoryCR("shop", "billing", "uid-3")
		a.failed(cr, partLogin, "in", t0)
		expect(t, a, otherName, partLogin, none, false)
		expect(t, a, otherNamespace, partLogin, none, false)
		a.failed(otherNamespace, partLogin, "other-in", t0.Add(time.Hour))
		expect(t, a, cr, partLogin, failedAttempt{inputs: "in", notBefore: t0}, true)
		a.succeeded(otherNamespace, partLogin)
		expect(t, a, cr, partLogin, failedAttempt{inputs: "in", notBefore: t0}, true)
	})

	t.Run("forget", func(t *testing.T) {
		a := newAttemptMemory()
		other := testMemoryCR("apps", "payments", "uid-2")
		a.failed(cr, partLogin, "in", t0)
		a.failed(cr, partAccessKey, "in", t0)
		a.failed(other, partLogin, "other-in", t0)
		a.forget(types.NamespacedName{Namespace: "apps", Name: "billing"})
		expect(t, a, cr, partLogin, none, false)
		expect(t, a, cr, partAccessKey, none, false)
		expect(t, a, other, partLogin, failedAttempt{inputs: "other-in", notBefore: t0}, true)
		a.forget(types.NamespacedName{Namespace: "apps", Name: "never-seen"})
	})

	t.Run("a new CR of the same name (another UID) starts afresh", func(t *testing.T) {
		a := newAttemptMemory()
		a.failed(cr, partLogin, "old-login", t0.Add(time.Hour))
		a.failed(cr, partAccessKey, "old-key", t0.Add(time.Hour))
		recreated := testMemoryCR("apps", "billing", "uid-9")
		expect(t, a, recreated, partLogin, none, false)
		expect(t, a, recreated, partAccessKey, none, false)

		a.failed(recreated, partLogin, "new-login", t0.Add(time.Minute))
		expect(t, a, recreated, partLogin, failedAttempt{inputs: "new-login", notBefore: t0.Add(time.Minute)}, true)
		// The old CR's other part is not inherited.
		expect(t, a, recreated, partAccessKey, none, false)
		// Nor does the old UID see the new entry.
		expect(t, a, cr, partLogin, none, false)
	})
}

func TestAttemptMemoryConcurrent(t *testing.T) {
	a := newAttemptMemory()
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vbc := testMemoryCR("apps", fmt.Sprintf("cr-%d", i%4), types.UID(fmt.Sprintf("uid-%d", i%4)))
			for j := range 200 {
				p := part(j % 2)
				a.failed(vbc, p, fmt.Sprintf("in-%d", j), t0.Add(time.Duration(j)*time.Second))
				// Another goroutine on the same CR may succeed in between: the
				// answer is not checked, only that it races with nothing.
				_, _ = a.get(vbc, p)
				a.succeeded(vbc, p)
				if j%50 == 0 {
					a.forget(keyOf(vbc))
				}
			}
		}()
	}
	wg.Wait()
	for i := range 4 {
		vbc := testMemoryCR("apps", fmt.Sprintf("cr-%d", i), types.UID(fmt.Sprintf("uid-%d", i)))
		for _, p := range []part{partLogin, partAccessKey} {
			if got, ok := a.get(vbc, p); ok {
				t.Errorf("cr-%d part %d: %+v left after every failure was followed by a success", i, p, got)
			}
		}
	}
}
