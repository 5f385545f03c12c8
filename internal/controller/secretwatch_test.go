package controller

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// fakeSecrets serves secretWatch's list and watch from the test.
type fakeSecrets struct {
	mu       sync.Mutex
	version  string
	watchers chan *watch.RaceFreeFakeWatcher
	from     []string // the resourceVersion each watch started at
}

func (f *fakeSecrets) list(context.Context, string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.version, nil
}

func (f *fakeSecrets) watch(_ context.Context, _ string, opts metav1.ListOptions) (watch.Interface, error) {
	f.mu.Lock()
	f.from = append(f.from, opts.ResourceVersion)
	f.mu.Unlock()
	w := watch.NewRaceFreeFake()
	f.watchers <- w
	return w, nil
}

func (f *fakeSecrets) starts() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.from...)
}

func secretMeta(name, rv string) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", ResourceVersion: rv}}
}

// nextRequest waits for the queue's next request.
func nextRequest(t *testing.T, q workqueue.TypedRateLimitingInterface[reconcile.Request]) string {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		req, _ := q.Get()
		q.Done(req)
		got <- req.Name
	}()
	select {
	case name := <-got:
		return name
	case <-time.After(5 * time.Second):
		t.Fatal("no request queued")
		return ""
	}
}

func TestSecretWatchForwardsResumesAndResyncs(t *testing.T) {
	fake := &fakeSecrets{version: "100", watchers: make(chan *watch.RaceFreeFakeWatcher, 4)}
	sw := &secretWatch{
		namespaces: []string{"ns"},
		list:       fake.list,
		watch:      fake.watch,
		credentialsNaming: func(_ context.Context, s *metav1.PartialObjectMetadata) []reconcile.Request {
			if s.Name != "login" {
				return nil // a Secret no VoipbinCredential names
			}
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "uses-login"}}}
		},
		credentialsIn: func(context.Context, string) []reconcile.Request {
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "every-credential"}}}
		},
		log: logr.Discard(),
	}
	q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
	defer q.ShutDown()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := sw.Start(ctx, q); err != nil {
		t.Fatal(err)
	}

	// Events are mapped to the credentials that name the Secret; others are dropped.
	w1 := <-fake.watchers
	w1.Add(secretMeta("unrelated", "101"))
	w1.Modify(secretMeta("login", "102"))
	if got := nextRequest(t, q); got != "uses-login" {
		t.Fatalf("queued %q", got)
	}
	if q.Len() != 0 {
		t.Errorf("%d more requests: the unrelated Secret was queued", q.Len())
	}

	// The API server closes the watch: it is resumed from the last version seen,
	// with no resync.
	w1.Action(watch.Bookmark, secretMeta("", "150"))
	w1.Stop()
	w2 := <-fake.watchers
	if starts := fake.starts(); len(starts) != 2 || starts[0] != "100" || starts[1] != "150" {
		t.Fatalf("watches started at %v, want [100 150]", starts)
	}
	w2.Delete(secretMeta("login", "151"))
	if got := nextRequest(t, q); got != "uses-login" {
		t.Fatalf("queued %q after the resume", got)
	}

	// 410 Gone: the version is too old to resume. The watch starts again from
	// now, and every credential of the namespace is reconciled once.
	fake.mu.Lock()
	fake.version = "900"
	fake.mu.Unlock()
	w2.Error(&metav1.Status{Status: metav1.StatusFailure, Code: http.StatusGone, Reason: metav1.StatusReasonExpired})
	if got := nextRequest(t, q); got != "every-credential" {
		t.Fatalf("queued %q after a 410, want the resync", got)
	}
	<-fake.watchers
	if starts := fake.starts(); len(starts) != 3 || starts[2] != "900" {
		t.Fatalf("watches started at %v, want the third at 900", starts)
	}
}

// TestSecretWatchDropsOwnWrites: the version of a credential's managed Secret
// the operator wrote does not wake that credential again; a later version and
// a deletion do.
func TestSecretWatchDropsOwnWrites(t *testing.T) {
	fake := &fakeSecrets{version: "100", watchers: make(chan *watch.RaceFreeFakeWatcher, 4)}
	sw := &secretWatch{
		namespaces: []string{"ns"},
		list:       fake.list,
		watch:      fake.watch,
		credentialsNaming: func(_ context.Context, s *metav1.PartialObjectMetadata) []reconcile.Request {
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: "ns", Name: s.Name}}}
		},
		credentialsIn: func(context.Context, string) []reconcile.Request { return nil },
		ownWrite:      func(req reconcile.Request, rv string) bool { return req.Name == "app" && rv == "101" },
		log:           logr.Discard(),
	}
	q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
	defer q.ShutDown()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := sw.Start(ctx, q); err != nil {
		t.Fatal(err)
	}
	w := <-fake.watchers
	w.Add(secretMeta("app", "101"))      // our own write: dropped
	w.Modify(secretMeta("other", "101")) // not that credential's own write
	if got := nextRequest(t, q); got != "other" {
		t.Fatalf("queued %q, want other", got)
	}
	w.Modify(secretMeta("app", "102"))
	if got := nextRequest(t, q); got != "app" {
		t.Fatalf("queued %q for a later version, want app", got)
	}
	w.Delete(secretMeta("app", "101"))
	if got := nextRequest(t, q); got != "app" {
		t.Fatalf("queued %q for a deletion, want app", got)
	}
	if q.Len() != 0 {
		t.Errorf("%d more requests", q.Len())
	}
}
