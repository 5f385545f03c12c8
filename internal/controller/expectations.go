package controller

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/resourceversion"
)

// writtenVersions remembers the resourceVersion of the operator's own last write
// of each object, so that a reconcile can tell a cache that has not yet seen that
// write. Acting on a stale copy would repeat work already done (an accesskey
// check) or, worse, write an older token back.
type writtenVersions struct {
	mu sync.Mutex
	m  map[types.NamespacedName]string
}

func newWrittenVersions() *writtenVersions {
	return &writtenVersions{m: map[types.NamespacedName]string{}}
}

// wrote records that the operator wrote key at resourceVersion rv.
func (w *writtenVersions) wrote(key types.NamespacedName, rv string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.m[key] = rv
}

// stale reports whether rv is older than the operator's last write of key.
// Resource versions are comparable integers (KEP-5504); one that is not is never
// taken as stale.
func (w *writtenVersions) stale(key types.NamespacedName, rv string) bool {
	w.mu.Lock()
	written, ok := w.m[key]
	w.mu.Unlock()
	if !ok {
		return false
	}
	cmp, err := resourceversion.CompareResourceVersion(rv, written)
	return err == nil && cmp < 0
}

// is reports whether rv is the version of the operator's last write of key (or
// of what it read back right after): a version a reconcile of key has already
// decided on.
func (w *writtenVersions) is(key types.NamespacedName, rv string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	written, ok := w.m[key]
	return ok && written == rv
}

// forget drops key.
func (w *writtenVersions) forget(key types.NamespacedName) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.m, key)
}
