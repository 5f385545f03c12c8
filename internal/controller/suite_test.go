package controller_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
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
)

// The controller's integration tests run a real manager (the production wiring of
// controller.Setup) against a real kube-apiserver and etcd (envtest), with the
// real VoIPBIN client talking to the stand-in over HTTP. Each test has its own
// namespace, stand-in and manager (watching only that namespace), so tests run in
// parallel and each one's API call counts are its own.

var (
	restConfig *rest.Config
	k8sClient  client.Client
	scheme     = runtime.NewScheme()
	// allLogs receives every log line of every manager, at the highest verbosity,
	// and client-go's klog lines: the leak tests scan it.
	allLogs = &syncBuffer{}
)

func TestMain(m *testing.M) {
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)
	// The production logger (capped as main.go caps it) at the highest verbosity.
	logger := logging.Capped(zap.New(zap.WriteTo(allLogs), zap.Level(zapcore.Level(-10))))
	ctrl.SetLogger(logger)
	klog.SetLogger(logger)

	env, cfg, err := testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	restConfig = cfg
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if code == 0 {
		code = scanAllForLeaks()
	}
	_ = env.Stop()
	os.Exit(code)
}

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

// env is one test's world: a namespace, a stand-in and a manager.
type env struct {
	t      *testing.T
	ctx    context.Context
	ns     string
	api    *voipbintest.Server
	c      client.Client
	logs   *syncBuffer
	opts   controller.Options
	mgr    ctrl.Manager
	rec    *controller.VoipbinCredentialReconciler
	cancel context.CancelFunc
	done   chan struct{}
}

// newEnv creates a namespace and a stand-in whose tokens live tokenLifetime, and
// starts a manager. configure may change the operator's options first.
func newEnv(t *testing.T, tokenLifetime time.Duration, configure ...func(*controller.Options)) *env {
	t.Helper()
	ns := fmt.Sprintf("t%d-%s", nsSeq.Add(1), strings.ToLower(strings.ReplaceAll(t.Name(), "_", "-")))
	if len(ns) > 60 {
		ns = strings.TrimRight(ns[:60], "-")
	}
	ns = strings.ReplaceAll(ns, "/", "-")
	api := voipbintest.New(voipbintest.WithTokenLifetime(tokenLifetime))
	api.Start()
	t.Cleanup(api.Close)
	rememberStandIn(api)
	e := &env{t: t, ctx: context.Background(), ns: ns, api: api, c: k8sClient, logs: &syncBuffer{}}
	must(t, k8sClient.Create(e.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	allowed, err := controller.ParseAllowedURLs(api.URL())
	must(t, err)
	e.opts = controller.Options{
		AllowedURLs:             allowed,
		WatchNamespaces:         []string{ns},
		MaxConcurrentReconciles: 4,
		API:                     controller.APIOptions{Timeout: 2 * time.Second, LoginQPS: 5, LoginBurst: 10, APIQPS: 10, APIBurst: 20},
	}
	for _, f := range configure {
		f(&e.opts)
	}
	e.startManager()
	t.Cleanup(e.stopManager)
	return e
}

// startManager starts a manager wired exactly as main.go wires it.
func (e *env) startManager() {
	e.t.Helper()
	logger := logging.Capped(zap.New(zap.WriteTo(io.MultiWriter(allLogs, e.logs)), zap.Level(zapcore.Level(-10)))).
		WithValues("test", e.t.Name())
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:                 scheme,
		Logger:                 logger,
		Cache:                  controller.ManagerCacheOptions(e.opts.WatchNamespaces),
		Client:                 controller.ClientOptions(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             ctrlConfigUniqueNames(),
	})
	must(e.t, err)
	rec, err := controller.Setup(mgr, e.opts)
	must(e.t, err)
	e.mgr, e.rec = mgr, rec
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan struct{})
	go func() {
		defer close(e.done)
		if err := mgr.Start(ctx); err != nil {
			e.t.Errorf("manager: %v", err)
		}
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

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond every 100 ms until it holds or timeout passes.
func (e *env) eventually(timeout time.Duration, what string, cond func() (bool, string)) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		ok, detail := cond()
		if ok {
			return
		}
		last = detail
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out after %s waiting for %s; last: %s", timeout, what, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// loginSecret creates a login Secret.
func (e *env) loginSecret(name, username, password string) *corev1.Secret {
	e.t.Helper()
	rememberSecret(password)
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns},
		Data:       map[string][]byte{"username": []byte(username), "password": []byte(password)},
	}
	must(e.t, e.c.Create(e.ctx, s))
	return s
}

// setSecretData replaces one key of a Secret.
func (e *env) setSecretData(name, key, value string) {
	e.t.Helper()
	if key == "password" || key == "accesskey" {
		rememberSecret(value)
	}
	s := e.secret(name)
	s.Data[key] = []byte(value)
	must(e.t, e.c.Update(e.ctx, s))
}

// credential creates a VoipbinCredential against the stand-in.
func (e *env) credential(name string, mutate ...func(*v1alpha1.VoipbinCredential)) *v1alpha1.VoipbinCredential {
	e.t.Helper()
	vbc := &v1alpha1.VoipbinCredential{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns},
		Spec:       v1alpha1.VoipbinCredentialSpec{APIURL: e.api.URL(), SecretName: name + "-out"},
	}
	for _, m := range mutate {
		m(vbc)
	}
	must(e.t, e.c.Create(e.ctx, vbc))
	return vbc
}

func withLogin(secretName string) func(*v1alpha1.VoipbinCredential) {
	return func(v *v1alpha1.VoipbinCredential) {
		v.Spec.Login = &v1alpha1.LoginSpec{SecretRef: v1alpha1.LoginSecretRef{Name: secretName}}
	}
}

func withAccessKey(secretName string) func(*v1alpha1.VoipbinCredential) {
	return func(v *v1alpha1.VoipbinCredential) {
		v.Spec.AccessKey = &v1alpha1.AccessKeySpec{SecretRef: v1alpha1.AccessKeySecretRef{Name: secretName}}
	}
}

func (e *env) get(name string) *v1alpha1.VoipbinCredential {
	e.t.Helper()
	vbc := &v1alpha1.VoipbinCredential{}
	must(e.t, e.c.Get(e.ctx, client.ObjectKey{Namespace: e.ns, Name: name}, vbc))
	return vbc
}

// update applies mutate to the current version of a VoipbinCredential.
func (e *env) update(name string, mutate func(*v1alpha1.VoipbinCredential)) {
	e.t.Helper()
	for {
		vbc := e.get(name)
		mutate(vbc)
		err := e.c.Update(e.ctx, vbc)
		if err == nil {
			return
		}
		if !strings.Contains(err.Error(), "the object has been modified") {
			e.t.Fatal(err)
		}
	}
}

// secret returns a Secret, or nil if it does not exist.
func (e *env) secret(name string) *corev1.Secret {
	e.t.Helper()
	s := &corev1.Secret{}
	if err := e.c.Get(e.ctx, client.ObjectKey{Namespace: e.ns, Name: name}, s); err != nil {
		if client.IgnoreNotFound(err) == nil {
			return nil
		}
		e.t.Fatal(err)
	}
	return s
}

// condition returns a condition of a VoipbinCredential, or nil.
func (e *env) condition(name, condType string) *metav1.Condition {
	e.t.Helper()
	return meta.FindStatusCondition(e.get(name).Status.Conditions, condType)
}

// waitCondition waits until condType has status and reason.
func (e *env) waitCondition(name, condType string, status metav1.ConditionStatus, reason string, timeout time.Duration) {
	e.t.Helper()
	e.eventually(timeout, fmt.Sprintf("%s %s=%s %s", name, condType, status, reason), func() (bool, string) {
		c := e.condition(name, condType)
		if c == nil {
			return false, "no condition"
		}
		return c.Status == status && c.Reason == reason, fmt.Sprintf("%s %s: %s", c.Status, c.Reason, c.Message)
	})
}

func (e *env) waitReady(name string, timeout time.Duration) {
	e.t.Helper()
	e.waitCondition(name, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonReady, timeout)
}

// events returns the events recorded on a VoipbinCredential with reason.
func (e *env) events(name, reason string) []eventsv1.Event {
	e.t.Helper()
	list := &eventsv1.EventList{}
	must(e.t, e.c.List(e.ctx, list, client.InNamespace(e.ns)))
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
// controller of the same name (each test runs its own).
func ctrlConfigUniqueNames() ctrlconfig.Controller {
	skip := true
	return ctrlconfig.Controller{SkipNameValidation: &skip}
}

func keyOf(obj client.Object) client.ObjectKey { return client.ObjectKeyFromObject(obj) }

// Every password, accesskey and token the tests use, for the leak scans.
var (
	secretsMu sync.Mutex
	secrets   []string
	standIns  []*voipbintest.Server
)

func rememberSecret(s string) {
	secretsMu.Lock()
	defer secretsMu.Unlock()
	secrets = append(secrets, s)
}

func rememberStandIn(s *voipbintest.Server) {
	secretsMu.Lock()
	defer secretsMu.Unlock()
	standIns = append(standIns, s)
}

// knownSecrets returns every password and accesskey the tests used and every
// token any stand-in issued.
func knownSecrets() []string {
	secretsMu.Lock()
	defer secretsMu.Unlock()
	out := append([]string(nil), secrets...)
	for _, s := range standIns {
		out = append(out, s.IssuedTokens()...)
	}
	return out
}

// scanAllForLeaks scans the logs of every manager of every test, and every event
// and status in the cluster, for every password, accesskey and token any test
// used. It runs after all tests, so it sees all of them.
func scanAllForLeaks() int {
	events, credentials, err := clusterText(context.Background(), "")
	if err != nil {
		fmt.Fprintln(os.Stderr, "leak scan:", err)
		return 1
	}
	all := knownSecrets()
	leaks := findLeaks("logs", allLogs.String(), all)
	leaks = append(leaks, findLeaks("events", events, all)...)
	leaks = append(leaks, findLeaks("status", credentials, all)...)
	if len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: secrets leaked across the test run: %v\n", leaks)
		for _, line := range strings.Split(allLogs.String(), "\n") {
			if len(findLeaks("", line, all)) > 0 {
				fmt.Fprintf(os.Stderr, "leaking line: %.300s\n", line)
			}
		}
		for _, where := range []struct{ name, text string }{{"events", events}, {"status", credentials}} {
			for _, c := range leakContexts(where.text, all) {
				fmt.Fprintf(os.Stderr, "leaking %s: ...%s...\n", where.name, c)
			}
		}
		return 1
	}
	fmt.Printf("leak scan: %d secrets, %d bytes of logs, no leak\n", len(all), len(allLogs.String()))
	return 0
}
