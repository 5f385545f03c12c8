package controller

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/metadata"
	toolscache "k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// resyncDelay is the pause before a watch that could not be resumed starts again:
// it only happens when the API server no longer has the last version seen.
const resyncDelay = time.Second

// secretWatch tells the controller about changes of Secrets that VoipbinCredentials
// read (login, accesskey, CA) or that stand in the way of a managed one, and keeps
// nothing: it watches the metadata of every Secret and maps each change, by name,
// to the VoipbinCredentials that name it. A cache of even stripped metadata would
// grow with every unrelated Secret in the cluster (about 600 bytes each, measured
// by the benchmark); this grows with nothing. The Secrets themselves are read
// with the API reader when a reconcile needs them.
type secretWatch struct {
	namespaces []string // metav1.NamespaceAll for all
	// list returns the current resourceVersion of the Secrets of a namespace.
	list func(ctx context.Context, namespace string) (string, error)
	// watch watches the metadata of the Secrets of a namespace.
	watch func(ctx context.Context, namespace string, opts metav1.ListOptions) (watch.Interface, error)
	// credentialsNaming maps a Secret to the VoipbinCredentials naming it.
	credentialsNaming func(ctx context.Context, secret *metav1.PartialObjectMetadata) []reconcile.Request
	// credentialsIn returns every VoipbinCredential of a namespace.
	credentialsIn func(ctx context.Context, namespace string) []reconcile.Request
	// ownWrite reports whether version rv of a Secret is one the operator wrote
	// for the credential of req (its managed Secret), and read back: that
	// credential's reconcile has already decided on it. Nil: none is.
	ownWrite func(req reconcile.Request, rv string) bool
	log      logr.Logger
}

var _ source.TypedSource[reconcile.Request] = (*secretWatch)(nil)

// newSecretWatch returns a secretWatch of namespaces (nil: all) using the
// metadata API: no Secret data is ever transferred.
func newSecretWatch(client metadata.Interface, namespaces []string, log logr.Logger) *secretWatch {
	secrets := client.Resource(corev1.SchemeGroupVersion.WithResource("secrets"))
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
	}
	return &secretWatch{
		namespaces: namespaces,
		list: func(ctx context.Context, namespace string) (string, error) {
			list, err := secrets.Namespace(namespace).List(ctx, metav1.ListOptions{Limit: 1})
			if err != nil {
				return "", err
			}
			return list.ResourceVersion, nil
		},
		watch: func(ctx context.Context, namespace string, opts metav1.ListOptions) (watch.Interface, error) {
			return secrets.Namespace(namespace).Watch(ctx, opts)
		},
		log: log,
	}
}

// String names the source in controller-runtime's logs.
func (w *secretWatch) String() string { return "metadata watch of Secrets (nothing stored)" }

// Start takes the current version of every watched namespace before it returns,
// and watches from there. The controller starts its workers only after its
// sources have started, so every reconcile reads input Secrets that are no older
// than the watch: no change can fall between the two.
func (w *secretWatch) Start(ctx context.Context, queue workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
	for _, ns := range w.namespaces {
		rv, err := w.list(ctx, ns)
		if err != nil {
			return fmt.Errorf("listing Secrets to start their watch: %w", err)
		}
		go w.run(ctx, ns, rv, queue)
	}
	return nil
}

// run passes every change of namespace's Secrets on until ctx ends. A watch that
// breaks is resumed from the last version seen (RetryWatcher, with bookmarks); one
// that cannot be resumed (410 Gone: the API server no longer has that version)
// starts again from now, and every VoipbinCredential of the namespace is
// reconciled once, since a change may have been missed.
func (w *secretWatch) run(ctx context.Context, namespace, rv string,
	queue workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	for {
		rw, err := watchtools.NewRetryWatcherWithContext(ctx, rv, &toolscache.ListWatch{
			WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
				opts.AllowWatchBookmarks = true
				return w.watch(ctx, namespace, opts)
			},
		})
		if err == nil {
			w.forward(ctx, rw, queue)
			rw.Stop()
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(resyncDelay):
			}
			if rv, err = w.list(ctx, namespace); err == nil {
				break
			}
			w.log.Error(err, "listing Secrets to restart their watch", "namespace", namespace)
		}
		w.log.Info("the Secret watch could not be resumed; reconciling every VoipbinCredential once", "namespace", namespace)
		for _, req := range w.credentialsIn(ctx, namespace) {
			queue.Add(req)
		}
	}
}

// forward maps each event of rw to the VoipbinCredentials it concerns, until the
// watch ends or fails.
func (w *secretWatch) forward(ctx context.Context, rw *watchtools.RetryWatcher,
	queue workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-rw.ResultChan():
			if !ok {
				return
			}
			if ev.Type == watch.Error {
				w.log.V(1).Info("the Secret watch ended", "reason", metav1.StatusReason(statusReasonOf(ev.Object)))
				return
			}
			secret, ok := ev.Object.(*metav1.PartialObjectMetadata)
			if !ok || ev.Type == watch.Bookmark {
				continue
			}
			for _, req := range w.credentialsNaming(ctx, secret) {
				if ev.Type != watch.Deleted && w.ownWrite != nil && w.ownWrite(req, secret.ResourceVersion) {
					continue
				}
				queue.Add(req)
			}
		}
	}
}

func statusReasonOf(obj any) string {
	if s, ok := obj.(*metav1.Status); ok {
		return string(s.Reason)
	}
	return ""
}
