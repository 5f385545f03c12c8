package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/watch"
	toolscache "k8s.io/client-go/tools/cache"
	toolswatch "k8s.io/client-go/tools/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/test/harness"
)

// errInterrupted means SIGINT or SIGTERM arrived: the demo stops, successfully.
var errInterrupted = errors.New("interrupted")

// readyPollInterval is how often waitReady lists the VoipbinCredentials: the
// API server is local, and the first logins take well under a second.
const readyPollInterval = 250 * time.Millisecond

// waitReady waits until every VoipbinCredential in names is Ready and returns
// them, sorted by name. On a timeout it returns what it last saw.
func waitReady(ctx context.Context, c client.Client, op *harness.Manager, names []string,
	timeout time.Duration) ([]v1alpha1.VoipbinCredential, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(readyPollInterval)
	defer tick.Stop()
	var seen []v1alpha1.VoipbinCredential
	for {
		list := &v1alpha1.VoipbinCredentialList{}
		if err := c.List(ctx, list, client.InNamespace(demoNamespace)); err == nil {
			seen = seen[:0]
			for _, vbc := range list.Items {
				if slices.Contains(names, vbc.Name) {
					seen = append(seen, vbc)
				}
			}
			if len(seen) == len(names) && allReady(seen) {
				return seen, nil
			}
		}
		select {
		case <-ctx.Done():
			return seen, errInterrupted
		case <-op.Exited():
			return seen, exitError(op)
		case <-deadline.C:
			return seen, fmt.Errorf("not every sample was Ready within %s; see the operator log %s", timeout, op.LogPath())
		case <-tick.C:
		}
	}
}

func allReady(credentials []v1alpha1.VoipbinCredential) bool {
	for i := range credentials {
		if !isReady(&credentials[i]) {
			return false
		}
	}
	return true
}

// credentialState is what the renewal watch remembers of one VoipbinCredential.
type credentialState struct {
	tokenExpiresAt *metav1.Time
	ready          string // "True", or "False (Reason)"
}

func stateOf(vbc *v1alpha1.VoipbinCredential) credentialState {
	s := credentialState{ready: "Unknown"}
	if t := vbc.Status.Token; t != nil {
		s.tokenExpiresAt = t.ExpiresAt
	}
	if cond := meta.FindStatusCondition(vbc.Status.Conditions, v1alpha1.ConditionReady); cond != nil {
		s.ready = string(cond.Status)
		if cond.Status != metav1.ConditionTrue {
			s.ready += " (" + cond.Reason + ")"
		}
	}
	return s
}

// renewalWatch prints a line for each token renewal and each change of Ready.
type renewalWatch struct {
	out   console
	c     client.WithWatch
	state map[string]credentialState
}

// watchRenewals watches the VoipbinCredentials until ctx is done (then it
// returns errInterrupted) or the operator exits.
func watchRenewals(ctx context.Context, out console, c client.WithWatch, op *harness.Manager,
	initial []v1alpha1.VoipbinCredential) error {
	w := &renewalWatch{out: out, c: c, state: map[string]credentialState{}}
	for i := range initial {
		w.state[initial[i].Name] = stateOf(&initial[i])
	}
	for {
		// A list, then a watch from its resourceVersion; the RetryWatcher
		// resumes after a dropped connection, and a relist covers the rest
		// (such as a resourceVersion too old to resume from).
		list := &v1alpha1.VoipbinCredentialList{}
		if err := c.List(ctx, list, client.InNamespace(demoNamespace)); err != nil {
			if ctx.Err() != nil {
				return errInterrupted
			}
			return fmt.Errorf("listing the VoipbinCredentials: %w", err)
		}
		for i := range list.Items {
			w.observe(&list.Items[i])
		}
		err := w.watchFrom(ctx, op, list.ResourceVersion)
		if !errors.Is(err, errRelist) {
			return err
		}
	}
}

// errRelist means the watch ended and must start again from a fresh list.
var errRelist = errors.New("watch ended")

func (w *renewalWatch) watchFrom(ctx context.Context, op *harness.Manager, resourceVersion string) error {
	lw := &toolscache.ListWatch{
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			return w.c.Watch(ctx, &v1alpha1.VoipbinCredentialList{},
				&client.ListOptions{Namespace: demoNamespace, Raw: &opts})
		},
	}
	rw, err := toolswatch.NewRetryWatcherWithContext(ctx, resourceVersion, lw)
	if err != nil {
		return fmt.Errorf("watching the VoipbinCredentials: %w", err)
	}
	defer rw.Stop()
	for {
		select {
		case <-ctx.Done():
			return errInterrupted
		case <-op.Exited():
			return exitError(op)
		case ev, ok := <-rw.ResultChan():
			if !ok || ev.Type == watch.Error {
				return errRelist
			}
			if vbc, isVBC := ev.Object.(*v1alpha1.VoipbinCredential); isVBC && ev.Type != watch.Deleted {
				w.observe(vbc)
			}
		}
	}
}

// observe prints what changed since the VoipbinCredential was last seen.
func (w *renewalWatch) observe(vbc *v1alpha1.VoipbinCredential) {
	now := time.Now()
	prev, known := w.state[vbc.Name]
	cur := stateOf(vbc)
	w.state[vbc.Name] = cur
	if !known {
		return
	}
	stamp := now.Format("15:04:05")
	if prev.tokenExpiresAt != nil && cur.tokenExpiresAt != nil && !prev.tokenExpiresAt.Equal(cur.tokenExpiresAt) {
		next := "unknown"
		if t := vbc.Status.Token; t != nil && t.RenewalTime != nil {
			next = "in " + duration.HumanDuration(t.RenewalTime.Sub(now))
		}
		w.out.printf("%s  %s: token renewed, expiry %s -> %s (next renewal %s)\n", stamp, vbc.Name,
			prev.tokenExpiresAt.UTC().Format(time.RFC3339), cur.tokenExpiresAt.UTC().Format(time.RFC3339), next)
	}
	if prev.ready != cur.ready {
		w.out.printf("%s  %s: Ready %s -> %s\n", stamp, vbc.Name, prev.ready, cur.ready)
	}
}
