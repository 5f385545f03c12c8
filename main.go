// Command voipbin-credential-operator runs the VoipbinCredential controller manager.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	// Import all Kubernetes client auth plugins (e.g. Azure, GCP, OIDC) so that
	// --kubeconfig works against any cluster.
	_ "k8s.io/client-go/plugin/pkg/client/auth"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/internal/controller"
	"github.com/voipbin/credential-operator/internal/logging"
	"github.com/voipbin/credential-operator/internal/metrics"
	"github.com/voipbin/credential-operator/internal/version"
	"github.com/voipbin/credential-operator/internal/voipbin"
)

var (
	scheme   = runtime.NewScheme()
	setupLog = ctrl.Log.WithName("setup")
)

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(v1alpha1.AddToScheme(scheme))
}

func main() {
	var (
		metricsAddr          string
		probeAddr            string
		pprofAddr            string
		secureMetrics        bool
		enableLeaderElection bool
		leaderElectionNS     string
		leaderElectionID     string
		enableHTTP2          bool
		showVersion          bool
		allowedURLs          string
		watchNamespaces      string
		maxConcurrent        int
		apiTimeout           time.Duration
		loginQPS, apiQPS     float64
		loginBurst, apiBurst int
		leaseDuration        time.Duration
		renewDeadline        time.Duration
		retryPeriod          time.Duration
		rolloutRestarts      bool
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", "0",
		"The address the metrics endpoint binds to. Use :8443 for HTTPS or :8080 for HTTP, or 0 to disable it.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "The address the probe endpoint binds to.")
	flag.StringVar(&pprofAddr, "pprof-bind-address", "0",
		"The address Go's pprof endpoints (/debug/pprof/) bind to, for profiling; 0 disables them. Unauthenticated: "+
			"bind it to loopback (127.0.0.1:6060) and reach it with kubectl port-forward.")
	flag.BoolVar(&enableLeaderElection, "leader-elect", false,
		"Enable leader election, so that only one manager is active at a time.")
	flag.StringVar(&leaderElectionID, "leader-election-id", "voipbin-credential-operator.credentials.voipbin.net",
		"Name of the leader election Lease. Managers split by --watch-namespaces that keep their Leases in one "+
			"namespace need one name each; the replicas of one manager share it.")
	flag.StringVar(&leaderElectionNS, "leader-election-namespace", "",
		"Namespace of the leader election Lease. Empty: the namespace the manager runs in, read from its service "+
			"account; outside a cluster (--kubeconfig) there is none, so --leader-elect needs this flag there.")
	flag.DurationVar(&leaseDuration, "leader-elect-lease-duration", 15*time.Second,
		"How long a standby waits, after the leader stopped renewing its lease, before taking over.")
	flag.DurationVar(&renewDeadline, "leader-elect-renew-deadline", 10*time.Second,
		"How long the leader keeps trying to renew its lease before giving up leadership.")
	flag.DurationVar(&retryPeriod, "leader-elect-retry-period", 2*time.Second,
		"How often leader election clients try to acquire or renew the lease.")
	flag.BoolVar(&secureMetrics, "metrics-secure", true,
		"Serve metrics over HTTPS with authentication and authorization (TokenReview, SubjectAccessReview). "+
			"Use --metrics-secure=false for plain HTTP.")
	flag.BoolVar(&enableHTTP2, "enable-http2", false,
		"Enable HTTP/2 for the metrics server. Off by default: HTTP/2 Stream Cancellation and Rapid Reset CVEs.")
	flag.BoolVar(&showVersion, "version", false, "Print the version and exit.")
	flag.StringVar(&allowedURLs, "allowed-api-urls", v1alpha1.DefaultAPIURL,
		"Comma-separated URL prefixes the operator may send credentials to; a VoipbinCredential whose apiURL is not "+
			"under one of them gets APIURLNotAllowed and causes no request.")
	flag.StringVar(&watchNamespaces, "watch-namespaces", "",
		"Comma-separated namespaces to watch; empty watches all namespaces.")
	flag.IntVar(&maxConcurrent, "max-concurrent-reconciles", 4,
		"Number of VoipbinCredentials reconciled in parallel. The rate limits below are shared by all of them.")
	flag.DurationVar(&apiTimeout, "api-timeout", voipbin.DefaultTimeout, "Timeout of each VoIPBIN API request.")
	flag.Float64Var(&loginQPS, "login-qps", voipbin.DefaultLoginQPS,
		"Logins per second per API host, for all credentials together (VoIPBIN allows 10/s per client IP).")
	flag.IntVar(&loginBurst, "login-burst", voipbin.DefaultLoginBurst, "Burst of logins per API host (VoIPBIN allows 20).")
	flag.Float64Var(&apiQPS, "api-qps", voipbin.DefaultAPIQPS, "Other VoIPBIN API calls per second per API host.")
	flag.IntVar(&apiBurst, "api-burst", voipbin.DefaultAPIBurst, "Burst of other VoIPBIN API calls per API host.")
	flag.BoolVar(&rolloutRestarts, "enable-rollout-restarts", false,
		"Restart the Deployments, StatefulSets and DaemonSets a VoipbinCredential lists in spec.rolloutRestartTargets "+
			"(its own namespace only) after its credential changes. Needs get and patch on them (the "+
			"rollout-restarts kustomize component, the chart's rolloutRestarts.enabled); the README's security "+
			"section says what it lets a VoipbinCredential's author do.")
	opts := zap.Options{Development: false}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()

	if showVersion {
		fmt.Println(version.Version)
		return
	}
	logger := logging.Capped(zap.New(zap.UseFlagOptions(&opts)))
	ctrl.SetLogger(logger)
	klog.SetLogger(logger)

	allowed, err := controller.ParseAllowedURLs(allowedURLs)
	if err != nil {
		setupLog.Error(err, "invalid --allowed-api-urls")
		os.Exit(1)
	}
	namespaces := splitList(watchNamespaces)

	var tlsOpts []func(*tls.Config)
	if !enableHTTP2 {
		// HTTP/2 Rapid Reset (CVE-2023-44487) and Stream Cancellation (CVE-2023-39325):
		// serve HTTP/1.1 only unless asked otherwise.
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}

	metricsOptions := metricsserver.Options{
		BindAddress:   metricsAddr,
		SecureServing: secureMetrics,
		TLSOpts:       tlsOpts,
	}
	if secureMetrics {
		// Only callers allowed by RBAC to "get /metrics" may scrape.
		metricsOptions.FilterProvider = filters.WithAuthenticationAndAuthorization
	}

	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                        scheme,
		Cache:                         controller.ManagerCacheOptions(namespaces),
		Client:                        controller.ClientOptions(),
		Metrics:                       metricsOptions,
		HealthProbeBindAddress:        probeAddr,
		PprofBindAddress:              pprofAddr,
		LeaderElection:                enableLeaderElection,
		LeaderElectionID:              leaderElectionID,
		LeaderElectionNamespace:       leaderElectionNS,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 &leaseDuration,
		RenewDeadline:                 &renewDeadline,
		RetryPeriod:                   &retryPeriod,
	})
	if err != nil {
		setupLog.Error(err, "unable to create manager")
		os.Exit(1)
	}

	apiObserver, err := metrics.NewAPIObserver(ctrlmetrics.Registry)
	if err != nil {
		setupLog.Error(err, "unable to register the API metrics")
		os.Exit(1)
	}
	ctrlmetrics.Registry.MustRegister(metrics.NewCredentialCollector(mgr.GetCache()))
	restartCounter, err := metrics.NewRestartCounter(ctrlmetrics.Registry)
	if err != nil {
		setupLog.Error(err, "unable to register the rollout restart metrics")
		os.Exit(1)
	}
	eventsDropped, err := metrics.NewEventDropCounter(ctrlmetrics.Registry)
	if err != nil {
		setupLog.Error(err, "unable to register the event metrics")
		os.Exit(1)
	}

	if _, err := controller.Setup(mgr, controller.Options{
		AllowedURLs:             allowed,
		WatchNamespaces:         namespaces,
		MaxConcurrentReconciles: maxConcurrent,
		EnableRolloutRestarts:   rolloutRestarts,
		RestartObserver:         restartCounter,
		OnEventDropped:          eventsDropped.Inc,
		API: controller.APIOptions{
			Timeout:  apiTimeout,
			LoginQPS: loginQPS, LoginBurst: loginBurst,
			APIQPS: apiQPS, APIBurst: apiBurst,
			Observer: apiObserver,
		},
	}); err != nil {
		setupLog.Error(err, "unable to set up the controller")
		os.Exit(1)
	}

	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		setupLog.Error(err, "unable to set up health check")
		os.Exit(1)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		setupLog.Error(err, "unable to set up ready check")
		os.Exit(1)
	}

	setupLog.Info("starting manager", "version", version.Version)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		setupLog.Error(err, "problem running manager")
		os.Exit(1)
	}
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var items []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}
