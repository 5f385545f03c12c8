package controller

import (
	"fmt"

	eventsclient "k8s.io/client-go/kubernetes/typed/events/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/voipbin/credential-operator/internal/eventrec"
)

// Options are the operator's own settings (its flags).
type Options struct {
	// AllowedURLs are the API URLs credentials may be sent to (--allowed-api-urls).
	AllowedURLs AllowedURLs
	// WatchNamespaces limits the operator to these namespaces (nil: all).
	WatchNamespaces []string
	// MaxConcurrentReconciles is the number of workers. Workers wait on the shared
	// rate limiters in parallel, so more workers do not mean more API calls.
	MaxConcurrentReconciles int
	// API configures the VoIPBIN clients.
	API APIOptions
	// Clock is the time source (nil: the real clock).
	Clock clock.PassiveClock
	// EnableRolloutRestarts lets the operator restart the workloads of
	// spec.rolloutRestartTargets (--enable-rollout-restarts); RestartObserver
	// counts the restarts (nil: not counted).
	EnableRolloutRestarts bool
	RestartObserver       RestartObserver
	// OnEventDropped is called for each event dropped because the queue of events
	// to write was full (nil: only logged at V(1)).
	OnEventDropped func()
}

// Setup wires the VoipbinCredential controller into mgr, which must have been
// made with ManagerCacheOptions and ClientOptions: the watch of input Secrets,
// the index, the other watches and the reconciler. It returns the reconciler.
func Setup(mgr ctrl.Manager, opts Options) (*VoipbinCredentialReconciler, error) {
	metadataClient, err := metadata.NewForConfig(mgr.GetConfig())
	if err != nil {
		return nil, fmt.Errorf("creating the metadata client: %w", err)
	}
	secrets := newSecretWatch(metadataClient, opts.WatchNamespaces, mgr.GetLogger().WithName("secret-watch"))
	recorder, err := newEventRecorder(mgr, opts.OnEventDropped)
	if err != nil {
		return nil, err
	}
	r := NewReconciler(mgr.GetClient(), mgr.GetAPIReader(), mgr.GetCache(),
		recorder, opts.AllowedURLs, opts.API)
	if opts.Clock != nil {
		r.Clock = opts.Clock
	}
	r.EnableRolloutRestarts, r.RestartObserver = opts.EnableRolloutRestarts, opts.RestartObserver
	if err := r.SetupWithManager(mgr, secrets, opts.MaxConcurrentReconciles); err != nil {
		return nil, fmt.Errorf("setting up the controller: %w", err)
	}
	return r, nil
}

// newEventRecorder returns the recorder of the credentials' events, added to
// mgr. It writes the same events.k8s.io/v1 Events as the manager's own
// recorder (GetEventRecorder) but does not keep a copy of each for minutes:
// see internal/eventrec.
func newEventRecorder(mgr ctrl.Manager, onDrop func()) (*eventrec.Recorder, error) {
	c, err := eventsclient.NewForConfigAndClient(mgr.GetConfig(), mgr.GetHTTPClient())
	if err != nil {
		return nil, fmt.Errorf("creating the events client: %w", err)
	}
	rec := eventrec.New(mgr.GetScheme(), c, "voipbin-credential-operator", eventrec.Options{
		OnDrop: onDrop, Logger: mgr.GetLogger().WithName("events"),
	})
	if err := mgr.Add(rec); err != nil {
		return nil, fmt.Errorf("adding the event recorder: %w", err)
	}
	return rec, nil
}
