package controller

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

// part names one credential of a VoipbinCredential.
type part int

const (
	partLogin part = iota
	partAccessKey
)

// failedAttempt remembers, in memory, the inputs a failed attempt was made with and
// when the next one is due. While the inputs stay the same, the reconciler waits
// for notBefore whatever wakes it (its own status patch, an unrelated event);
// when they change (the CR, an input Secret, the managed Secret) it retries at
// once. After a restart nothing is remembered, so a failing credential is tried
// once more right away: one attempt per restart, never a loop.
type failedAttempt struct {
	inputs    string
	notBefore time.Time
}

type memoryEntry struct {
	uid   types.UID
	parts [2]failedAttempt
}

// attemptMemory is the failedAttempt of each credential part, by CR.
type attemptMemory struct {
	mu sync.Mutex
	m  map[types.NamespacedName]*memoryEntry
}

func newAttemptMemory() *attemptMemory {
	return &attemptMemory{m: map[types.NamespacedName]*memoryEntry{}}
}

func keyOf(vbc *v1alpha1.VoipbinCredential) types.NamespacedName {
	return types.NamespacedName{Namespace: vbc.Namespace, Name: vbc.Name}
}

// get returns the remembered failed attempt of part p, if any.
func (a *attemptMemory) get(vbc *v1alpha1.VoipbinCredential, p part) (failedAttempt, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if e, ok := a.m[keyOf(vbc)]; ok && e.uid == vbc.UID && e.parts[p].inputs != "" {
		return e.parts[p], true
	}
	return failedAttempt{}, false
}

// retry returns the failed attempt of part p remembered with the same inputs as
// inputs, or nil: no failure, or the inputs changed since.
func (a *attemptMemory) retry(vbc *v1alpha1.VoipbinCredential, p part, inputs string) *failedAttempt {
	if prev, ok := a.get(vbc, p); ok && prev.inputs == inputs {
		return &prev
	}
	return nil
}

// attemptInputs identifies what an attempt depends on: the CR's generation, the
// input Secret's version, the endpoint, the refresh request, and whether the
// managed Secret still holds the credential. A failed attempt is retried at
// once when any of them changes.
func attemptInputs(vbc *v1alpha1.VoipbinCredential, secretVersion, endpointHash string, storedPresent bool) string {
	return strings.Join([]string{
		strconv.FormatInt(vbc.Generation, 10), secretVersion, endpointHash,
		vbc.Annotations[v1alpha1.AnnotationRefreshRequestedAt], strconv.FormatBool(storedPresent),
	}, "|")
}

// failed remembers a failed attempt of part p.
func (a *attemptMemory) failed(vbc *v1alpha1.VoipbinCredential, p part, inputs string, notBefore time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.m[keyOf(vbc)]
	if !ok || e.uid != vbc.UID {
		e = &memoryEntry{uid: vbc.UID}
		a.m[keyOf(vbc)] = e
	}
	e.parts[p] = failedAttempt{inputs: inputs, notBefore: notBefore}
}

// succeeded forgets part p's failure.
func (a *attemptMemory) succeeded(vbc *v1alpha1.VoipbinCredential, p part) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if e, ok := a.m[keyOf(vbc)]; ok {
		e.parts[p] = failedAttempt{}
		if e.parts[partLogin].inputs == "" && e.parts[partAccessKey].inputs == "" {
			delete(a.m, keyOf(vbc))
		}
	}
}

// forget drops everything remembered of a deleted VoipbinCredential.
func (a *attemptMemory) forget(key types.NamespacedName) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.m, key)
}
