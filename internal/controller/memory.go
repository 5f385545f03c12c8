package controller

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/internal/plan"
)

// memories holds each CR's plan.Memory: tokens obtained and not yet stored, keys
// validated and not yet recorded, failed attempts. It is keyed by name and
// checked against the UID, so that a CR deleted and created again under the same
// name starts with nothing: a token held for the old one is never stored for the
// new one. Nothing here outlives the process.
type memories struct {
	mu sync.Mutex
	m  map[types.NamespacedName]memoryEntry
}

type memoryEntry struct {
	uid types.UID
	mem plan.Memory
}

func newMemories() *memories {
	return &memories{m: map[types.NamespacedName]memoryEntry{}}
}

func keyOf(vbc *v1alpha1.VoipbinCredential) types.NamespacedName {
	return types.NamespacedName{Namespace: vbc.Namespace, Name: vbc.Name}
}

// get returns what is remembered of vbc.
func (m *memories) get(vbc *v1alpha1.VoipbinCredential) plan.Memory {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.m[keyOf(vbc)]; ok && e.uid == vbc.UID {
		return e.mem
	}
	return plan.Memory{}
}

// set remembers mem for vbc; an empty memory is dropped.
func (m *memories) set(vbc *v1alpha1.VoipbinCredential, mem plan.Memory) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if mem == (plan.Memory{}) {
		delete(m.m, keyOf(vbc))
		return
	}
	m.m[keyOf(vbc)] = memoryEntry{uid: vbc.UID, mem: mem}
}

// forget drops everything remembered of a deleted CR.
func (m *memories) forget(key types.NamespacedName) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.m, key)
}
