package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

// readyTracker follows the Ready condition of every VoipbinCredential in its
// namespaces through an informer (a watch, not polling: the time a credential
// turned Ready is known within milliseconds, and 2000 CRs are not listed
// every second).
type readyTracker struct {
	mu    sync.Mutex
	ready map[types.NamespacedName]bool
	count map[string]int
	// lastReady is when the count of Ready credentials of a namespace last grew.
	lastReady map[string]time.Time
	// changed is closed (and replaced) on every change of a count.
	changed chan struct{}
}

// startReadyTracker starts the informer in runCtx and waits, within ctx, for
// its first list.
func startReadyTracker(runCtx, ctx context.Context, cfg *rest.Config, scheme *runtime.Scheme,
	namespaces []string) (*readyTracker, error) {
	nsConfigs := map[string]cache.Config{}
	for _, ns := range namespaces {
		nsConfigs[ns] = cache.Config{}
	}
	c, err := cache.New(cfg, cache.Options{Scheme: scheme, DefaultNamespaces: nsConfigs})
	if err != nil {
		return nil, err
	}
	inf, err := c.GetInformer(ctx, &v1alpha1.VoipbinCredential{})
	if err != nil {
		return nil, err
	}
	t := &readyTracker{
		ready:     map[types.NamespacedName]bool{},
		count:     map[string]int{},
		lastReady: map[string]time.Time{},
		changed:   make(chan struct{}),
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { t.observe(obj, false) },
		UpdateFunc: func(_, obj any) { t.observe(obj, false) },
		DeleteFunc: func(obj any) { t.observe(obj, true) },
	}); err != nil {
		return nil, err
	}
	go func() { _ = c.Start(runCtx) }()
	if !c.WaitForCacheSync(ctx) {
		return nil, errors.New("the VoipbinCredential informer did not sync")
	}
	return t, nil
}

func (t *readyTracker) observe(obj any, deleted bool) {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj, deleted = d.Obj, true
	}
	vbc, ok := obj.(*v1alpha1.VoipbinCredential)
	if !ok {
		return
	}
	key := types.NamespacedName{Namespace: vbc.Namespace, Name: vbc.Name}
	ready := !deleted && meta.IsStatusConditionTrue(vbc.Status.Conditions, v1alpha1.ConditionReady)
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ready[key] == ready {
		return
	}
	if ready {
		t.ready[key] = true
		t.count[key.Namespace]++
		t.lastReady[key.Namespace] = now
	} else {
		delete(t.ready, key)
		t.count[key.Namespace]--
	}
	close(t.changed)
	t.changed = make(chan struct{})
}

// errNotReady: not all credentials were Ready in time.
var errNotReady = errors.New("not all Ready")

// waitReady waits until n VoipbinCredentials of ns are Ready and returns when
// the last of them turned Ready. It gives up after timeout (errNotReady), when
// ctx ends, or when the manager exits.
func (t *readyTracker) waitReady(ctx context.Context, ns string, n int, timeout time.Duration,
	mgr *managerProcess) (time.Time, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		t.mu.Lock()
		count, at, changed := t.count[ns], t.lastReady[ns], t.changed
		t.mu.Unlock()
		if count >= n {
			return at, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-mgr.m.Exited():
			return time.Time{}, mgr.exitError()
		case <-deadline.C:
			return time.Time{}, fmt.Errorf("%w: %d of %d in %s after %s", errNotReady, count, n, ns, timeout)
		}
	}
}
