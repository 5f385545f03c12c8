package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/internal/voipbin/voipbintest"
	"github.com/voipbin/credential-operator/test/harness"
)

// Namespaces of the benchmark's objects.
const (
	nsDistinct        = "bench-distinct"
	nsShared          = "bench-shared"
	nsUnrelatedPrefix = "bench-unrelated-"
)

// Client-side limits of the benchmark's own client: high enough that creating
// thousands of objects is not what the run waits for (the API server's own
// priority and fairness still protects it).
const (
	benchClientQPS   = 200
	benchClientBurst = 400
)

// bench is everything a run started, and what the scenarios share.
type bench struct {
	o   options
	rep *report
	out console

	root, managerBin, dir string
	kubeconfig, logPath   string
	// credentialNamespaces hold the VoipbinCredentials the tracker follows.
	credentialNamespaces []string

	api       *voipbintest.Server
	apiURL    string
	standIn   *harness.StandIn
	cp        *harness.ControlPlane
	c         client.Client
	kube      kubernetes.Interface
	tracker   *readyTracker
	stopTrack context.CancelFunc
	log       *os.File
	mgr       *managerProcess
	starts    int

	apiServerVersion string
	// distinctWrites are the API server's writes over scenario 1, for scenario 6.
	distinctWrites writeCounts
}

func newBench(o options, rep *report, out console) (*bench, error) {
	root, err := filepath.Abs(o.root)
	if err != nil {
		return nil, err
	}
	b := &bench{
		o: o, rep: rep, out: out,
		root:       root,
		managerBin: resolve(root, o.manager),
		dir:        resolve(root, o.dir),

		credentialNamespaces: []string{nsDistinct, nsShared},
	}
	if _, err := os.Stat(b.managerBin); err != nil {
		return nil, fmt.Errorf("no manager binary (make bench builds it): %w", err)
	}
	if err := os.MkdirAll(b.dir, 0o700); err != nil {
		return nil, err
	}
	b.logPath = filepath.Join(b.dir, "manager.log")
	return b, nil
}

// resolve returns p, relative to root unless absolute.
func resolve(root, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(root, p)
}

// start starts the stand-in, the control plane and the Ready tracker, and
// creates the namespaces. The manager is started by the first scenario.
func (b *bench) start(ctx context.Context) error {
	if err := b.startStandIn(); err != nil {
		return err
	}
	b.out.printf("VoIPBIN stand-in on %s, rate limits on (/auth/* 10/s burst 20 per client IP)", b.apiURL)

	started := time.Now()
	// The manager gets an admin kubeconfig: the operator's RBAC is not what
	// this measures.
	cp, err := harness.StartControlPlane(harness.ControlPlaneOptions{Dir: b.dir, Root: b.root,
		QPS: benchClientQPS, Burst: benchClientBurst})
	if err != nil {
		return err
	}
	b.cp, b.c, b.kube, b.kubeconfig = cp, cp.Client, cp.Clientset, cp.Kubeconfig
	if v, err := b.kube.Discovery().ServerVersion(); err == nil {
		b.apiServerVersion = v.GitVersion
	}
	b.out.printf("control plane %s (kube-apiserver %s) up in %s", cp.Config.Host, b.apiServerVersion,
		time.Since(started).Round(100*time.Millisecond))

	// The manager appends its output too (O_APPEND: our headers go to the end).
	log, err := os.OpenFile(b.logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	b.log = log

	namespaces := b.credentialNamespaces
	for i := range b.o.unrelatedNamespaces {
		namespaces = append(namespaces, fmt.Sprintf("%s%d", nsUnrelatedPrefix, i))
	}
	for _, ns := range namespaces {
		if err := b.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return fmt.Errorf("creating namespace %s: %w", ns, err)
		}
	}

	trackCtx, cancel := context.WithCancel(context.Background())
	b.stopTrack = cancel
	b.tracker, err = startReadyTracker(trackCtx, ctx, b.cp.Config, b.c.Scheme(), b.credentialNamespaces)
	return err
}

// startStandIn serves the stand-in on a free loopback port with VoIPBIN's rate
// limits switched on.
func (b *bench) startStandIn() error {
	b.api = voipbintest.New(voipbintest.WithRateLimits(true))
	standIn, err := harness.ServeStandIn(b.api.Handler())
	if err != nil {
		return err
	}
	b.standIn, b.apiURL = standIn, standIn.URL
	return nil
}

// close stops everything start and the scenarios started, the manager first
// (it talks to the API server and the stand-in), and reports the first error.
func (b *bench) close() error {
	var errs []error
	if b.mgr != nil {
		if _, err := b.mgr.stop(); err != nil {
			errs = append(errs, err)
		}
		b.mgr = nil
	}
	if b.stopTrack != nil {
		b.stopTrack()
	}
	if err := b.cp.Stop(); err != nil {
		errs = append(errs, fmt.Errorf("stopping the control plane: %w", err))
	}
	if b.standIn != nil {
		_ = b.standIn.Close()
	}
	if b.log != nil {
		_ = b.log.Close()
	}
	if b.kubeconfig != "" {
		_ = os.Remove(b.kubeconfig)
	}
	b.out.printf("stopped the manager, the control plane and the stand-in; the manager's log is %s", b.logPath)
	return errors.Join(errs...)
}

// parallel calls f(ctx, i) for i in [0, n) on b.o.workers goroutines, and
// returns the first error (which stops the rest) or ctx's.
func (b *bench) parallel(ctx context.Context, n int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for range min(b.o.workers, max(n, 1)) {
		wg.Go(func() {
			for i := range next {
				if err := f(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

// credential is a VoipbinCredential against the stand-in with a login from
// the Secret loginSecret.
func (b *bench) credential(ns, name, loginSecret string) *v1alpha1.VoipbinCredential {
	return &v1alpha1.VoipbinCredential{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1alpha1.VoipbinCredentialSpec{
			APIURL:     b.apiURL,
			SecretName: name + "-token",
			Login:      &v1alpha1.LoginSpec{SecretRef: v1alpha1.LoginSecretRef{Name: loginSecret}},
		},
	}
}

// loginSecret is a login Secret with username and password.
func loginSecret(ns, name, username, password string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Data:       map[string][]byte{"username": []byte(username), "password": []byte(password)},
	}
}
