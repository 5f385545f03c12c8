// Package eventrec records events.k8s.io/v1 Events with bounded memory.
//
// client-go's events.k8s.io broadcaster (what controller-runtime's
// GetEventRecorder returns) keeps a copy of every event it sent in a map, to
// detect series, and forgets it only 6 to 12 minutes later; it also starts a
// goroutine per event. The operator records one event per credential when it
// first becomes Ready, so a burst of N new credentials holds N events (about a
// KiB each) for up to 12 minutes. This recorder writes the same Events (same
// API, same fields, same verbs: create, and patch for a series) through a
// bounded queue and a few workers, and keeps only a bounded number of small
// series records: memory does not grow with the number of credentials.
package eventrec

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	eventsclient "k8s.io/client-go/kubernetes/typed/events/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/tools/record/util"
	"k8s.io/client-go/tools/reference"
	"k8s.io/utils/clock"
)

const (
	// DefaultQueue is the number of events waiting to be written; more are
	// dropped (and counted).
	DefaultQueue = 4096
	// DefaultWorkers is the number of events written at once.
	DefaultWorkers = 4
	// DefaultMaxSeries is the number of series records kept.
	DefaultMaxSeries = 1024
	// SeriesWindow is how long an event may be continued by an isomorphic one
	// (same type, reason, action, object and version) as a series, the window
	// client-go uses.
	SeriesWindow = 6 * time.Minute
	// writeTimeout bounds one write.
	writeTimeout = 10 * time.Second
	// drainTimeout bounds the writes of what is queued when the recorder stops.
	drainTimeout = 2 * time.Second
	// attempts is how many times a create that failed transiently (the API
	// server unavailable, throttling, a timeout, a broken connection) is made,
	// retryDelay apart, doubling, within writeTimeout. client-go's broadcaster
	// retries longer (12 times, 10 s apart) but holds a goroutine and the event
	// meanwhile; here a worker waits, and a full queue drops (and counts).
	attempts   = 3
	retryDelay = 500 * time.Millisecond
)

// Options configure a Recorder; zero values mean the defaults.
type Options struct {
	Queue, Workers, MaxSeries int
	// OnDrop is called for each dropped event (nil: only counted).
	OnDrop func()
	Clock  clock.PassiveClock
	Logger logr.Logger
}

// Recorder is an events.EventRecorder that writes events.k8s.io/v1 Events
// asynchronously. It is a manager Runnable: events recorded before Start wait
// in the queue.
type Recorder struct {
	scheme              *runtime.Scheme
	client              eventsclient.EventsGetter
	reportingController string
	reportingInstance   string
	opts                Options

	queue   chan *eventsv1.Event
	dropped atomic.Int64

	mu     sync.Mutex
	series map[seriesKey]*seriesRecord
}

var _ events.EventRecorder = (*Recorder)(nil)

// seriesKey is what makes two events isomorphic, client-go's key: type,
// reason, action, and the whole references, the regarding object's
// resourceVersion included (so an event of a later version of the object is an
// event of its own); the note is not part of it.
type seriesKey struct {
	eventType, reason, action string
	regarding, related        corev1.ObjectReference
}

// seriesRecord is what a series needs of the first event: where it is, and
// how many times it happened.
type seriesRecord struct {
	name  string
	count int32
	last  time.Time
}

// New returns a Recorder writing through c on behalf of reportingController.
func New(scheme *runtime.Scheme, c eventsclient.EventsGetter, reportingController string, opts Options) *Recorder {
	if opts.Queue <= 0 {
		opts.Queue = DefaultQueue
	}
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	if opts.MaxSeries <= 0 {
		opts.MaxSeries = DefaultMaxSeries
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	hostname, _ := os.Hostname()
	return &Recorder{
		scheme:              scheme,
		client:              c,
		reportingController: reportingController,
		reportingInstance:   reportingController + "-" + hostname,
		opts:                opts,
		queue:               make(chan *eventsv1.Event, opts.Queue),
		series:              map[seriesKey]*seriesRecord{},
	}
}

// Dropped returns the number of events dropped because the queue was full.
func (r *Recorder) Dropped() int64 { return r.dropped.Load() }

// NeedLeaderElection is false: a follower records nothing, and the queue must
// drain whoever leads.
func (r *Recorder) NeedLeaderElection() bool { return false }

// Eventf queues an event on regarding. It never blocks: when the queue is
// full the event is dropped and counted.
func (r *Recorder) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	message := fmt.Sprintf(note, args...)
	ref, err := reference.GetReference(r.scheme, regarding)
	if err != nil {
		r.opts.Logger.Error(err, "Could not construct a reference, the event is not recorded",
			"eventType", eventtype, "reason", reason)
		return
	}
	var refRelated *corev1.ObjectReference
	if related != nil {
		if refRelated, err = reference.GetReference(r.scheme, related); err != nil {
			refRelated = nil
		}
	}
	if eventtype != corev1.EventTypeNormal && eventtype != corev1.EventTypeWarning {
		r.opts.Logger.Error(nil, "Unsupported event type, the event is not recorded", "eventType", eventtype)
		return
	}
	now := r.opts.Clock.Now()
	namespace := ref.Namespace
	if namespace == "" {
		namespace = metav1.NamespaceDefault
	}
	ev := &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Name:      util.GenerateEventName(ref.Name, now.UnixNano()),
			Namespace: namespace,
		},
		EventTime:           metav1.NewMicroTime(now),
		ReportingController: r.reportingController,
		ReportingInstance:   r.reportingInstance,
		Action:              action,
		Reason:              reason,
		Regarding:           *ref,
		Related:             refRelated,
		Note:                message,
		Type:                eventtype,
	}
	select {
	case r.queue <- ev:
	default:
		r.dropped.Add(1)
		if r.opts.OnDrop != nil {
			r.opts.OnDrop()
		}
		r.opts.Logger.V(1).Info("Event queue full, the event is dropped",
			"object", klogRef(ref), "type", eventtype, "reason", reason)
	}
}

// Start writes queued events until ctx ends, then for a short while what is
// still queued.
func (r *Recorder) Start(ctx context.Context) error {
	var wg sync.WaitGroup
	for range r.opts.Workers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case ev := <-r.queue:
					r.write(ctx, ev)
				}
			}
		})
	}
	wg.Go(func() {
		t := time.NewTicker(SeriesWindow)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				r.prune()
			}
		}
	})
	wg.Wait()
	drain, cancel := context.WithTimeout(context.WithoutCancel(ctx), drainTimeout)
	defer cancel()
	for drain.Err() == nil {
		select {
		case ev := <-r.queue:
			r.write(drain, ev)
		default:
			return nil
		}
	}
	return nil
}

func keyOf(ev *eventsv1.Event) seriesKey {
	key := seriesKey{eventType: ev.Type, reason: ev.Reason, action: ev.Action, regarding: ev.Regarding}
	if ev.Related != nil {
		key.related = *ev.Related
	}
	return key
}

// write writes ev: a patch of the series when an isomorphic event was written
// within SeriesWindow, a create otherwise (or when the series' event is gone).
func (r *Recorder) write(ctx context.Context, ev *eventsv1.Event) {
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	key := keyOf(ev)
	now := r.opts.Clock.Now()
	r.mu.Lock()
	s, ok := r.series[key]
	var name string
	var count int32
	if ok && now.Sub(s.last) < SeriesWindow {
		s.count++
		s.last = now
		name, count = s.name, s.count
	}
	r.mu.Unlock()
	r.opts.Logger.V(1).Info(ev.Note, "type", ev.Type, "object", klogRef(&ev.Regarding), "reason", ev.Reason)
	if name != "" {
		err := r.patchSeries(ctx, ev.Namespace, name, count, now)
		if err == nil {
			return
		}
		if !apierrors.IsNotFound(err) {
			r.opts.Logger.Error(err, "Unable to write the event's series", "reason", ev.Reason)
			return
		}
	}
	if err := r.create(ctx, ev); err != nil {
		r.opts.Logger.Error(err, "Unable to write the event", "reason", ev.Reason)
		return
	}
	r.remember(key, ev.Name, now)
}

// create creates ev, again after a transient failure, up to attempts times.
func (r *Recorder) create(ctx context.Context, ev *eventsv1.Event) error {
	delay := retryDelay
	for attempt := 1; ; attempt++ {
		_, err := r.client.Events(ev.Namespace).Create(ctx, ev, metav1.CreateOptions{})
		if err == nil || attempt == attempts || !transient(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
		delay *= 2
	}
}

// transient reports whether a failed write may succeed if made again: any
// error that is not an API status (a broken connection), or a status saying
// the server is busy, unavailable or timed out.
func transient(err error) bool {
	if _, ok := err.(apierrors.APIStatus); !ok {
		return true
	}
	return apierrors.IsServiceUnavailable(err) || apierrors.IsTooManyRequests(err) || apierrors.IsServerTimeout(err) ||
		apierrors.IsTimeout(err) || apierrors.IsInternalError(err)
}

func (r *Recorder) patchSeries(ctx context.Context, namespace, name string, count int32, now time.Time) error {
	patch, err := json.Marshal(map[string]any{"series": eventsv1.EventSeries{
		Count: count, LastObservedTime: metav1.NewMicroTime(now)}})
	if err != nil {
		return err
	}
	_, err = r.client.Events(namespace).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	return err
}

// remember starts a series with the event just created, if there is room.
func (r *Recorder) remember(key seriesKey, name string, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.series[key]; !ok && len(r.series) >= r.opts.MaxSeries {
		r.pruneLocked(now)
		if len(r.series) >= r.opts.MaxSeries {
			return
		}
	}
	r.series[key] = &seriesRecord{name: name, count: 1, last: now}
}

func (r *Recorder) prune() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pruneLocked(r.opts.Clock.Now())
}

func (r *Recorder) pruneLocked(now time.Time) {
	for k, s := range r.series {
		if now.Sub(s.last) >= SeriesWindow {
			delete(r.series, k)
		}
	}
}

// klogRef names an object reference as namespace/name.
func klogRef(ref *corev1.ObjectReference) string {
	if ref.Namespace == "" {
		return ref.Name
	}
	return ref.Namespace + "/" + ref.Name
}
