package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/voipbin/credential-operator/internal/testenv"
)

// buildManager compiles this package into a temporary binary.
func buildManager(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "manager")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

func TestHelpListsFlags(t *testing.T) {
	out, _ := exec.Command(buildManager(t), "--help").CombinedOutput()
	for _, flag := range []string{
		"-metrics-bind-address", "-metrics-secure", "-health-probe-bind-address", "-leader-elect",
		"-leader-election-namespace",
		"-enable-http2", "-kubeconfig", "-zap-log-level",
		"-allowed-api-urls", "-watch-namespaces", "-max-concurrent-reconciles", "-api-timeout",
		"-login-qps", "-login-burst", "-api-qps", "-api-burst",
	} {
		if !strings.Contains(string(out), flag) {
			t.Errorf("--help does not list %s:\n%s", flag, out)
		}
	}
}

// TestManagerServesHealthz starts the real binary against an envtest API server.
func TestManagerServesHealthz(t *testing.T) {
	bin := buildManager(t)
	env, _, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = env.Stop() }()

	kubeconfigPath := adminKubeconfig(t, env)

	probeAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--kubeconfig", kubeconfigPath,
		"--health-probe-bind-address", probeAddr, "--metrics-bind-address", "0", "--leader-elect=false")
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()

	for _, path := range []string{"/healthz", "/readyz"} {
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := http.Get("http://" + probeAddr + path)
			if err == nil {
				_ = resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never answered 200 (last error %v); manager output:\n%s", path, err, logs.String())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// TestLeaderElectionOutsideCluster runs the binary with --leader-elect from
// outside a cluster, as make soak and a developer's laptop do. controller-runtime
// reads the Lease's namespace from the service account's files, which exist only
// in a pod: before --leader-election-namespace existed, the manager could not
// start with --leader-elect at all ("unable to find leader election namespace:
// not running in-cluster"). With the flag it takes the Lease in that namespace
// and says so in the leader metric.
func TestLeaderElectionOutsideCluster(t *testing.T) {
	bin := buildManager(t)
	env, cfg, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = env.Stop() }()
	kubeconfigPath := adminKubeconfig(t, env)
	clientset := kubernetes.NewForConfigOrDie(cfg)
	ctx := context.Background()
	if _, err := clientset.CoreV1().Namespaces().Create(ctx,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "operator-system"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(runCtx, bin, "--kubeconfig", kubeconfigPath, "--leader-elect",
		"--leader-election-namespace", "operator-system", "--health-probe-bind-address", "0",
		"--metrics-bind-address", metricsAddr, "--metrics-secure=false")
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()

	const leaseName = "voipbin-credential-operator.credentials.voipbin.net"
	deadline := time.Now().Add(30 * time.Second)
	for {
		lease, err := clientset.CoordinationV1().Leases("operator-system").Get(ctx, leaseName, metav1.GetOptions{})
		if err == nil && lease.Spec.HolderIdentity != nil && *lease.Spec.HolderIdentity != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no Lease %s held in operator-system within 30s (last error %v); manager output:\n%s", leaseName, err, logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	families, code := scrape(t, &http.Client{Timeout: 5 * time.Second}, "http://"+metricsAddr+"/metrics", "")
	if code != http.StatusOK {
		t.Fatalf("scraping the metrics: HTTP %d", code)
	}
	if got, ok := series(families, "leader_election_master_status", map[string]string{"name": leaseName}); !ok || got != 1 {
		t.Errorf("leader_election_master_status = %v (present %t), want 1", got, ok)
	}
}

// adminKubeconfig writes a kubeconfig of a system:masters user of env, for the
// manager binary's --kubeconfig, and returns its path.
func adminKubeconfig(t *testing.T, env *envtest.Environment) string {
	t.Helper()
	user, err := env.ControlPlane.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
