package controller_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gcustom"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/internal/controller"
	"github.com/voipbin/credential-operator/internal/logging"
	"github.com/voipbin/credential-operator/internal/testenv"
	"github.com/voipbin/credential-operator/internal/voipbin/voipbintest"
	"github.com/voipbin/credential-operator/test/harness"
)

// The controller's integration specs run a real manager (the production wiring
// of controller.Setup) against a real kube-apiserver and etcd (envtest, started
// once for the suite), with the real VoIPBIN client talking to the stand-in over
// HTTP. Each spec has its own namespace, stand-in and manager (watching only that
// namespace), so each one's API call counts are its own, and the specs can run
// in parallel processes (ginkgo -p: each process starts its own control plane).
//
// Ginkgo runs the specs of one process one after the other, so `go test` takes
// the sum of the specs' times (most of it waiting on real clocks: renewals,
// backoffs, quiet periods), where the std testing suite ran two at a time.

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Controller Suite")
}

// TestMain sets the process-wide loggers before any test of this binary starts:
// the std tests of package controller, which run before TestControllers, leave
// client-go goroutines that read klog's logger, and setting it later (in
// BeforeSuite) races with them (go test -race says so). Every line any of them
// logs goes to allLogs too, where AfterSuite's leak scan reads it.
func TestMain(m *testing.M) {
	// The production logger (capped as main.go caps it) at the highest verbosity.
	logger := logging.Capped(zap.New(zap.WriteTo(allLogs), zap.Level(zapcore.Level(-10))))
	ctrl.SetLogger(logger)
	klog.SetLogger(logger)
	os.Exit(m.Run())
}

var (
	restConfig *rest.Config
	k8sClient  client.Client
	scheme     *runtime.Scheme
	// allLogs receives every log line of every manager, at the highest verbosity,
	// and client-go's klog lines: the leak scans read it.
	allLogs = &syncBuffer{}
	// leaks knows every password, accesskey and token any spec used, and every
	// token any stand-in issued: AfterSuite scans everything for them.
	leaks = harness.NewLeakScanner()
)

var _ = BeforeSuite(func() {
	// The hand-written loops these replace polled every 100 ms; Gomega's 10 ms
	// would multiply the List calls against the API server tenfold.
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	SetDefaultConsistentlyPollingInterval(100 * time.Millisecond)

	env, cfg, err := testenv.Start()
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(env.Stop) // after AfterSuite's scan, which reads the cluster
	restConfig = cfg
	scheme = harness.Scheme()
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
})

// AfterSuite scans the logs of every manager of every spec, and every event and
// status in the cluster, for every password, accesskey and token any spec used.
// It runs after all specs, so it sees all of them.
var _ = AfterSuite(func() {
	if k8sClient == nil {
		return // BeforeSuite failed: nothing ran
	}
	cluster, err := harness.ReadClusterText(context.Background(), k8sClient, "")
	Expect(err).NotTo(HaveOccurred())
	events, credentials := cluster.Events, cluster.Credentials
	logs := allLogs.String()
	found := leaks.Scan("logs", logs)
	found = append(found, leaks.Scan("events", events)...)
	found = append(found, leaks.Scan("status", credentials)...)
	Expect(found).To(BeEmpty(), "secrets leaked across the suite")
	// Positive control: the scanner finds a secret planted in these very logs.
	Expect(harness.ProveFinds(logs)).To(Succeed())
	GinkgoWriter.Printf("leak scan: %d secrets, %d bytes of logs, no leak\n", leaks.Secrets(), len(logs))
})

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var nsSeq atomic.Int64

// env is one spec's world: a namespace, a stand-in and a manager.
type env struct {
	ctx    context.Context
	spec   string // the spec's name, on every log line of its managers
	ns     string
	api    *voipbintest.Server
	c      client.Client
	logs   *syncBuffer
	opts   controller.Options
	mgr    ctrl.Manager
	cancel context.CancelFunc
	done   chan struct{}
}

var notDNSLabel = regexp.MustCompile(`[^a-z0-9-]+`)

// newEnv creates a namespace and a stand-in whose tokens live tokenLifetime, and
// starts a manager; all of it goes when the spec ends. configure may change the
// operator's options first.
func newEnv(tokenLifetime time.Duration, configure ...func(*controller.Options)) *env {
	GinkgoHelper()
	spec := CurrentSpecReport().LeafNodeText
	ns := fmt.Sprintf("t%d-%s", nsSeq.Add(1), notDNSLabel.ReplaceAllString(strings.ToLower(spec), "-"))
	ns = strings.TrimRight(ns[:min(len(ns), 60)], "-")
	api := voipbintest.New(voipbintest.WithTokenLifetime(tokenLifetime))
	api.Start()
	DeferCleanup(api.Close)
	rememberStandIn(api)
	e := &env{ctx: context.Background(), spec: spec, ns: ns, api: api, c: k8sClient, logs: &syncBuffer{}}
	Expect(k8sClient.Create(e.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	allowed, err := controller.ParseAllowedURLs(api.URL())
	Expect(err).NotTo(HaveOccurred())
	e.opts = controller.Options{
		AllowedURLs:             allowed,
		WatchNamespaces:         []string{ns},
		MaxConcurrentReconciles: 4,
		API:                     controller.APIOptions{Timeout: 2 * time.Second, LoginQPS: 5, LoginBurst: 10, APIQPS: 10, APIBurst: 20},
	}
	for _, f := range configure {
		f(&e.opts)
	}
	// Runs after the manager has stopped (cleanups run last in, first out).
	DeferCleanup(func() {
		if CurrentSpecReport().Failed() {
			GinkgoWriter.Printf("manager log of %s:\n%s", spec, e.logs.String())
		}
	})
	e.startManager()
	DeferCleanup(e.stopManager)
	return e
}

// startManager starts a manager wired exactly as main.go wires it.
func (e *env) startManager() {
	GinkgoHelper()
	logger := logging.Capped(zap.New(zap.WriteTo(io.MultiWriter(allLogs, e.logs)), zap.Level(zapcore.Level(-10)))).
		WithValues("test", e.spec)
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:                 scheme,
		Logger:                 logger,
		Cache:                  controller.ManagerCacheOptions(e.opts.WatchNamespaces),
		Client:                 controller.ClientOptions(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             ctrlConfigUniqueNames(),
	})
	Expect(err).NotTo(HaveOccurred())
	_, err = controller.Setup(mgr, e.opts)
	Expect(err).NotTo(HaveOccurred())
	e.mgr = mgr
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan struct{})
	go func() {
		defer close(e.done)
		defer GinkgoRecover()
		Expect(mgr.Start(ctx)).To(Succeed(), "manager")
	}()
}

// stopManager stops the manager and waits until it has stopped.
func (e *env) stopManager() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	<-e.done
	e.cancel = nil
}

// loginSecret creates a login Secret.
func (e *env) loginSecret(name, username, password string) *corev1.Secret {
	GinkgoHelper()
	rememberSecret("password", password)
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns},
		Data:       map[string][]byte{"username": []byte(username), "password": []byte(password)},
	}
	Expect(e.c.Create(e.ctx, s)).To(Succeed())
	return s
}

// setSecretData replaces one key of a Secret.
func (e *env) setSecretData(name, key, value string) {
	GinkgoHelper()
	if key == "password" || key == "accesskey" {
		rememberSecret(key, value)
	}
	s := e.secret(name)
	Expect(s).NotTo(BeNil(), "the Secret %s", name)
	s.Data[key] = []byte(value)
	Expect(e.c.Update(e.ctx, s)).To(Succeed())
}

// credential creates a VoipbinCredential against the stand-in.
func (e *env) credential(name string, mutate ...func(*v1alpha1.VoipbinCredential)) *v1alpha1.VoipbinCredential {
	GinkgoHelper()
	vbc := &v1alpha1.VoipbinCredential{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns},
		Spec:       v1alpha1.VoipbinCredentialSpec{APIURL: e.api.URL(), SecretName: name + "-out"},
	}
	for _, m := range mutate {
		m(vbc)
	}
	Expect(e.c.Create(e.ctx, vbc)).To(Succeed())
	return vbc
}

func withLogin(secretName string) func(*v1alpha1.VoipbinCredential) {
	return func(v *v1alpha1.VoipbinCredential) {
		v.Spec.Login = &v1alpha1.LoginSpec{SecretRef: v1alpha1.LoginSecretRef{Name: secretName}}
	}
}

func withAccessKey(secretName string) func(*v1alpha1.VoipbinCredential) {
	return func(v *v1alpha1.VoipbinCredential) {
		v.Spec.AccessKey = &v1alpha1.AccessKeySpec{SecretRef: &v1alpha1.AccessKeySecretRef{Name: secretName}}
	}
}

func withSecretTemplate(data map[string]string) func(*v1alpha1.VoipbinCredential) {
	return func(v *v1alpha1.VoipbinCredential) {
		v.Spec.SecretTemplate = &v1alpha1.SecretTemplate{Data: data}
	}
}

func withRefreshRequest(value string) func(*v1alpha1.VoipbinCredential) {
	return func(v *v1alpha1.VoipbinCredential) {
		v.Annotations = map[string]string{v1alpha1.AnnotationRefreshRequestedAt: value}
	}
}

func (e *env) get(name string) *v1alpha1.VoipbinCredential {
	GinkgoHelper()
	vbc := &v1alpha1.VoipbinCredential{}
	Expect(e.c.Get(e.ctx, client.ObjectKey{Namespace: e.ns, Name: name}, vbc)).To(Succeed())
	return vbc
}

// update applies mutate to the current version of a VoipbinCredential.
func (e *env) update(name string, mutate func(*v1alpha1.VoipbinCredential)) {
	GinkgoHelper()
	for {
		vbc := e.get(name)
		mutate(vbc)
		err := e.c.Update(e.ctx, vbc)
		if err == nil {
			return
		}
		Expect(err).To(MatchError(ContainSubstring("the object has been modified")))
	}
}

// secret returns a Secret, or nil if it does not exist.
func (e *env) secret(name string) *corev1.Secret {
	GinkgoHelper()
	s := &corev1.Secret{}
	err := e.c.Get(e.ctx, client.ObjectKey{Namespace: e.ns, Name: name}, s)
	if apierrors.IsNotFound(err) {
		return nil
	}
	Expect(err).NotTo(HaveOccurred())
	return s
}

// secretExists tells whether a Secret exists (without showing it in a failure).
func (e *env) secretExists(name string) bool {
	GinkgoHelper()
	return e.secret(name) != nil
}

// beCredential matches a string or []byte equal to want. Its failure messages
// show neither value: they are passwords, tokens and accesskeys, which the
// test's output must not show any more than the operator's logs.
func beCredential(want string) OmegaMatcher {
	return gcustom.MakeMatcher(func(actual any) (bool, error) {
		switch a := actual.(type) {
		case string:
			return a == want, nil
		case []byte:
			return string(a) == want, nil
		}
		return false, fmt.Errorf("beCredential matches a string or []byte, not %T", actual)
	}).WithTemplate("Expected the credential {{.To}} be the one expected (neither value shown)")
}

// condition returns a condition of a VoipbinCredential, or nil.
func (e *env) condition(name, condType string) *metav1.Condition {
	GinkgoHelper()
	return meta.FindStatusCondition(e.get(name).Status.Conditions, condType)
}

// haveCondition matches a *metav1.Condition of status and reason; its failure
// message shows the whole condition, message included.
func haveCondition(status metav1.ConditionStatus, reason string) OmegaMatcher {
	return gcustom.MakeMatcher(func(c *metav1.Condition) (bool, error) {
		return c != nil && c.Status == status && c.Reason == reason, nil
	}).WithTemplate("Expected the condition\n{{.FormattedActual}}\n{{.To}} be {{.Data}}", string(status)+" "+reason)
}

// waitCondition waits until condType has status and reason.
func (e *env) waitCondition(name, condType string, status metav1.ConditionStatus, reason string, timeout time.Duration) {
	GinkgoHelper()
	Eventually(func() *metav1.Condition { return e.condition(name, condType) }).WithTimeout(timeout).
		Should(haveCondition(status, reason), "%s %s=%s %s", name, condType, status, reason)
}

func (e *env) waitReady(name string, timeout time.Duration) {
	GinkgoHelper()
	e.waitCondition(name, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady, timeout)
}

// events returns the events recorded on a VoipbinCredential with reason.
func (e *env) events(name, reason string) []eventsv1.Event {
	GinkgoHelper()
	list := &eventsv1.EventList{}
	Expect(e.c.List(e.ctx, list, client.InNamespace(e.ns))).To(Succeed())
	var out []eventsv1.Event
	for _, ev := range list.Items {
		if ev.Regarding.Name == name && ev.Reason == reason {
			out = append(out, ev)
		}
	}
	return out
}

// logins returns the times of the login requests the stand-in saw for username.
func (e *env) logins(username string) []time.Time {
	var times []time.Time
	for _, r := range e.api.RequestsTo("/auth/login") {
		if r.Username == username {
			times = append(times, r.Time)
		}
	}
	return times
}

// ctrlConfigUniqueNames lets several managers in one process register a
// controller of the same name (each spec runs its own).
func ctrlConfigUniqueNames() ctrlconfig.Controller {
	skip := true
	return ctrlconfig.Controller{SkipNameValidation: &skip}
}

func keyOf(obj client.Object) client.ObjectKey { return client.ObjectKeyFromObject(obj) }

// rememberSecret tells the suite's leak scanner about a password or accesskey.
func rememberSecret(kind, secret string) { leaks.Add(kind, secret) }

// rememberStandIn tells the suite's leak scanner about every token s issues.
func rememberStandIn(s *voipbintest.Server) { leaks.AddIssuer("token", s.IssuedTokens) }
