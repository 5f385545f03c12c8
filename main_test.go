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

	user, err := env.ControlPlane.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfigPath := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfigPath, kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}

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
