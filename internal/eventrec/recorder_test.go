package eventrec

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	k8stesting "k8s.io/client-go/testing"
)

func pod(name string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name)}}
}

func start(t *testing.T, r *Recorder) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.Start(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func list(t *testing.T, c *fake.Clientset) []eventsv1.Event {
	t.Helper()
	l, err := c.EventsV1().Events("ns").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestRecordsTheEvent(t *testing.T) {
	c := fake.NewClientset()
	r := New(clientgoscheme.Scheme, c.EventsV1(), "ctl", Options{})
	start(t, r)
	r.Eventf(pod("a"), nil, corev1.EventTypeNormal, "LoggedIn", "Login", "logged in as %s", "u")
	waitFor(t, "the event", func() bool { return len(list(t, c)) == 1 })
	ev := list(t, c)[0]
	if ev.Type != corev1.EventTypeNormal || ev.Reason != "LoggedIn" || ev.Action != "Login" ||
		ev.Note != "logged in as u" || ev.ReportingController != "ctl" || ev.ReportingInstance == "" ||
		ev.Regarding.Name != "a" || ev.Regarding.UID != "uid-a" || ev.Regarding.Kind != "Pod" ||
		ev.EventTime.IsZero() || ev.Series != nil {
		t.Fatalf("unexpected event %+v", ev)
	}
}

func TestIsomorphicEventsMakeASeries(t *testing.T) {
	c := fake.NewClientset()
	r := New(clientgoscheme.Scheme, c.EventsV1(), "ctl", Options{Workers: 1})
	start(t, r)
	for i := range 3 {
		r.Eventf(pod("a"), nil, corev1.EventTypeWarning, "LoginFailed", "Login", "try %d", i)
		// One at a time: a series continues only a written event.
		waitFor(t, "the write", func() bool {
			evs := list(t, c)
			return len(evs) == 1 && (i == 0 || evs[0].Series != nil && evs[0].Series.Count == int32(i+1))
		})
	}
	r.Eventf(pod("b"), nil, corev1.EventTypeWarning, "LoginFailed", "Login", "other object")
	r.Eventf(pod("a"), nil, corev1.EventTypeNormal, "LoggedIn", "Login", "other reason")
	// A later version of the object is another event, as with client-go.
	later := pod("a")
	later.ResourceVersion = "2"
	r.Eventf(later, nil, corev1.EventTypeWarning, "LoginFailed", "Login", "later version")
	waitFor(t, "three more events", func() bool { return len(list(t, c)) == 4 })
}

func TestSeriesOfADeletedEventStartsAgain(t *testing.T) {
	c := fake.NewClientset()
	r := New(clientgoscheme.Scheme, c.EventsV1(), "ctl", Options{Workers: 1})
	start(t, r)
	r.Eventf(pod("a"), nil, corev1.EventTypeWarning, "LoginFailed", "Login", "first")
	waitFor(t, "the event", func() bool { return len(list(t, c)) == 1 })
	if err := c.EventsV1().Events("ns").Delete(context.Background(), list(t, c)[0].Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	r.Eventf(pod("a"), nil, corev1.EventTypeWarning, "LoginFailed", "Login", "second")
	waitFor(t, "the event again", func() bool { evs := list(t, c); return len(evs) == 1 && evs[0].Note == "second" })
}

func TestAFullQueueDropsAndCounts(t *testing.T) {
	c := fake.NewClientset()
	drops := 0
	r := New(clientgoscheme.Scheme, c.EventsV1(), "ctl", Options{Queue: 2, OnDrop: func() { drops++ }})
	// Not started: nothing leaves the queue.
	for i := range 5 {
		r.Eventf(pod(fmt.Sprint("p", i)), nil, corev1.EventTypeNormal, "R", "A", "n")
	}
	if r.Dropped() != 3 || drops != 3 {
		t.Fatalf("dropped %d (OnDrop %d), want 3", r.Dropped(), drops)
	}
	start(t, r)
	waitFor(t, "the queued events", func() bool { return len(list(t, c)) == 2 })
}

func TestSeriesRecordsAreBounded(t *testing.T) {
	c := fake.NewClientset()
	r := New(clientgoscheme.Scheme, c.EventsV1(), "ctl", Options{MaxSeries: 10})
	start(t, r)
	for i := range 50 {
		r.Eventf(pod(fmt.Sprint("p", i)), nil, corev1.EventTypeNormal, "R", "A", "n")
	}
	waitFor(t, "50 events", func() bool { return len(list(t, c)) == 50 })
	r.mu.Lock()
	n := len(r.series)
	r.mu.Unlock()
	if n > 10 {
		t.Fatalf("%d series records, want at most 10", n)
	}
}

func TestInvalidEventsAreNotRecorded(t *testing.T) {
	c := fake.NewClientset()
	r := New(clientgoscheme.Scheme, c.EventsV1(), "ctl", Options{})
	r.Eventf(pod("a"), nil, "Bogus", "R", "A", "n")
	r.Eventf(&unregistered{}, nil, corev1.EventTypeNormal, "R", "A", "n")
	if len(r.queue) != 0 || r.Dropped() != 0 {
		t.Fatalf("queued %d, dropped %d; want none", len(r.queue), r.Dropped())
	}
}

type unregistered struct{ corev1.Pod }

func (u *unregistered) DeepCopyObject() runtime.Object { return u }

func TestATransientFailureIsRetriedAndARefusalIsNot(t *testing.T) {
	for name, tc := range map[string]struct {
		failures  int
		err       error
		wantCalls int
		wantEvent bool
	}{
		"503 once":        {1, apierrors.NewServiceUnavailable("down"), 2, true},
		"429 twice":       {2, apierrors.NewTooManyRequests("slow down", 1), 3, true},
		"503 every time":  {10, apierrors.NewServiceUnavailable("down"), attempts, false},
		"forbidden":       {10, apierrors.NewForbidden(eventsv1.Resource("events"), "x", fmt.Errorf("no")), 1, false},
		"connection lost": {1, fmt.Errorf("connection reset by peer"), 2, true},
	} {
		t.Run(name, func(t *testing.T) {
			c := fake.NewClientset()
			var calls atomic.Int32
			c.PrependReactor("create", "events", func(k8stesting.Action) (bool, runtime.Object, error) {
				if n := calls.Add(1); int(n) <= tc.failures {
					return true, nil, tc.err
				}
				return false, nil, nil
			})
			r := New(clientgoscheme.Scheme, c.EventsV1(), "ctl", Options{Workers: 1})
			start(t, r)
			r.Eventf(pod("a"), nil, corev1.EventTypeNormal, "LoggedIn", "Login", "logged in")
			waitFor(t, "the attempts", func() bool { return int(calls.Load()) >= tc.wantCalls })
			time.Sleep(3 * retryDelay) // no more attempts than that
			if got := int(calls.Load()); got != tc.wantCalls {
				t.Fatalf("%d creates, want %d", got, tc.wantCalls)
			}
			if got := len(list(t, c)) == 1; got != tc.wantEvent {
				t.Fatalf("event written: %t, want %t", got, tc.wantEvent)
			}
		})
	}
}
