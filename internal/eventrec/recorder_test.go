package eventrec

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
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
