package harness

import (
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeManagerEnv makes the test binary act as a manager (see fakeManager).
const fakeManagerEnv = "HARNESS_FAKE_MANAGER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(fakeManagerEnv); mode != "" {
		fakeManager(mode)
		return
	}
	os.Exit(m.Run())
}

// fakeManager stands in for the manager binary: it prints its arguments, serves
// /readyz on --health-probe-bind-address, and exits on SIGTERM. Mode "exit" exits
// at once with status 3; mode "stubborn" ignores SIGTERM; mode "fail" exits with
// status 2 on SIGTERM.
func fakeManager(mode string) {
	fmt.Println("args:", strings.Join(os.Args[1:], " "))
	if mode == "exit" {
		fmt.Println("cannot start")
		os.Exit(3)
	}
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM)
	for _, arg := range os.Args[1:] {
		if addr, ok := strings.CutPrefix(arg, "--health-probe-bind-address="); ok {
			mux := http.NewServeMux()
			mux.HandleFunc("/readyz", func(http.ResponseWriter, *http.Request) {})
			go func() { _ = http.ListenAndServe(addr, mux) }()
		}
	}
	for range signals {
		fmt.Println("SIGTERM")
		switch mode {
		case "fail":
			os.Exit(2)
		case "stubborn":
		default:
			os.Exit(0)
		}
	}
}

func startFake(t *testing.T, mode string, o ManagerOptions) (*Manager, error) {
	t.Helper()
	o.Binary, o.Kubeconfig = os.Args[0], "/kubeconfig"
	o.Env = append(o.Env, fakeManagerEnv+"="+mode)
	return StartManager(o)
}

func TestStartManagerPassesFlagsAndKeepsLogs(t *testing.T) {
	var copied LogBuffer
	m, err := startFake(t, "run", ManagerOptions{
		AllowedAPIURLs:  []string{"http://127.0.0.1:1/a", "http://127.0.0.1:2"},
		WatchNamespaces: []string{"one", "two"},
		Args:            []string{"--api-timeout=5s", "--metrics-bind-address=:8080"},
		Output:          &copied,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"--kubeconfig=/kubeconfig", "--leader-elect=false", "--zap-log-level=10",
		"--allowed-api-urls=http://127.0.0.1:1/a,http://127.0.0.1:2", "--watch-namespaces=one,two",
		"--health-probe-bind-address=" + m.ProbeAddr(),
		// The caller's arguments come last, so that they win.
		"--metrics-bind-address=0 --health-probe-bind-address=" + m.ProbeAddr() + " --zap-log-level=10 " +
			"--allowed-api-urls=http://127.0.0.1:1/a,http://127.0.0.1:2 --watch-namespaces=one,two " +
			"--api-timeout=5s --metrics-bind-address=:8080",
	} {
		if !strings.Contains(m.Logs(), want) {
			t.Errorf("the manager's output lacks %q:\n%s", want, m.Logs())
		}
	}
	took, err := m.Stop()
	if err != nil || took > 5*time.Second {
		t.Errorf("Stop took %s: %v", took, err)
	}
	select {
	case <-m.Exited():
	default:
		t.Error("Exited is open after Stop")
	}
	if !strings.Contains(m.LogTail(1), "SIGTERM") || copied.String() != m.Logs() {
		t.Errorf("logs after the stop %q; copy %q", m.Logs(), copied.String())
	}
	if took, err := m.Stop(); took != 0 || err != nil {
		t.Errorf("a second Stop: %s, %v", took, err)
	}
}

func TestStartManagerReportsAnEarlyExit(t *testing.T) {
	_, err := startFake(t, "exit", ManagerOptions{})
	if err == nil || !strings.Contains(err.Error(), "exited while starting") || !strings.Contains(err.Error(), "cannot start") {
		t.Fatalf("err = %v, want the exit and the manager's output", err)
	}
}

func TestStopKillsAStubbornManager(t *testing.T) {
	probe, err := FreeLoopbackAddr()
	if err != nil {
		t.Fatal(err)
	}
	m, err := startFake(t, "stubborn", ManagerOptions{ProbeAddr: probe, StopTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if m.ProbeAddr() != probe {
		t.Errorf("ProbeAddr %q, want %q", m.ProbeAddr(), probe)
	}
	took, err := m.Stop()
	if err == nil || !strings.Contains(err.Error(), "killed") || took < 500*time.Millisecond {
		t.Errorf("Stop of a manager ignoring SIGTERM: %s, %v", took, err)
	}
	if m.Err() == nil {
		t.Error("Err() is nil for a killed manager")
	}
}

func TestStopReportsAFailedExit(t *testing.T) {
	m, err := startFake(t, "fail", ManagerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Stop(); err == nil || !strings.Contains(err.Error(), "exit status 2") {
		t.Errorf("Stop of a manager exiting 2 on SIGTERM: %v", err)
	}
	if _, err := m.Stop(); err == nil {
		t.Error("a second Stop forgets the failed exit")
	}
}

func TestStopWithTheSignalThatEndsItIsNoError(t *testing.T) {
	m, err := startFake(t, "stubborn", ManagerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if took, err := m.StopWith(syscall.SIGKILL); err != nil || took > 5*time.Second {
		t.Errorf("StopWith(SIGKILL): %s, %v", took, err)
	}
	if m.Err() == nil {
		t.Error("Err() is nil for a killed manager")
	}
}

// TestLogPathAppendsToAFile: with LogPath the output goes to the file, runs
// append, and Logs and LogTail read it.
func TestLogPathAppendsToAFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "manager.log")
	if err := os.WriteFile(path, []byte("=== run 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	var copied LogBuffer
	m, err := startFake(t, "run", ManagerOptions{LogPath: path, Output: &copied})
	if err != nil {
		t.Fatal(err)
	}
	if m.Started().Before(before) || m.Started().After(time.Now()) || m.LogPath() != path {
		t.Errorf("Started %s (test began %s), LogPath %q", m.Started(), before, m.LogPath())
	}
	if _, err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), "=== run 1\nargs: ") || !strings.HasSuffix(string(data), "SIGTERM\n") {
		t.Errorf("log file %q", data)
	}
	if m.Logs() != string(data) || m.LogTail(1) != "SIGTERM" || copied.String() != strings.TrimPrefix(string(data), "=== run 1\n") {
		t.Errorf("Logs %q, LogTail %q, copy %q", m.Logs(), m.LogTail(1), copied.String())
	}
}
