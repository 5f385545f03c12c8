package controller

import (
	"fmt"

	"k8s.io/client-go/metadata"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
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
	r := NewReconciler(mgr.GetClient(), mgr.GetAPIReader(), mgr.GetCache(),
		mgr.GetEventRecorder("voipbin-credential-operator"), opts.AllowedURLs, opts.API)
	if opts.Clock != nil {
		r.Clock = opts.Clock
	}
	r.EnableRolloutRestarts, r.RestartObserver = opts.EnableRolloutRestarts, opts.RestartObserver
	if err := r.SetupWithManager(mgr, secrets, opts.MaxConcurrentReconciles); err != nil {
		return nil, fmt.Errorf("setting up the controller: %w", err)
	}
	return r, nil
}
