package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// MaxLogLevel is the --zap-log-level the harness runs managers at: above the
// binary's own cap (internal/logging.MaxVerbosity), so that every line the binary
// can ever write is written, and leak scans see it.
const MaxLogLevel = 10

const (
	// defaultStartTimeout bounds the wait for a new manager's readiness probe: a
	// manager against a local API server is ready within a few seconds, even on a
	// busy machine.
	defaultStartTimeout = 30 * time.Second
	// defaultStopTimeout is how long a manager gets to exit after SIGTERM before
	// its process group is killed: without leader election it stops within a second.
	defaultStopTimeout = 10 * time.Second
	// probeInterval is how often the readiness probe is polled while starting.
	probeInterval = 100 * time.Millisecond
)

// BuildManager compiles the manager (the repository's root package) into dir and
// returns the binary's path. buildFlags go to go build (for example -race).
func BuildManager(dir string, buildFlags ...string) (string, error) {
	bin := filepath.Join(dir, "manager")
	args := append(append([]string{"build"}, buildFlags...), "-o", bin, ".")
	cmd := exec.Command("go", args...)
	cmd.Dir = RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build of the manager: %w\n%s", err, out)
	}
	return bin, nil
}

// BuildManagerAndStartControlPlane builds the manager into o.Dir and starts the
// control plane, both at once: on 2 cores they take about as long. On error,
// whatever started is stopped.
func BuildManagerAndStartControlPlane(o ControlPlaneOptions, buildFlags ...string) (string, *ControlPlane, error) {
	type build struct {
		bin string
		err error
	}
	built := make(chan build, 1)
	go func() {
		bin, err := BuildManager(o.Dir, buildFlags...)
		built <- build{bin, err}
	}()
	cp, err := StartControlPlane(o)
	b := <-built
	if err == nil && b.err != nil {
		err = errors.Join(b.err, cp.Stop())
	}
	if err != nil {
		return "", nil, err
	}
	return b.bin, cp, nil
}

// LeaderElectionID is the name of the manager's Lease (main.go), for tests of
// leader election: who holds it, and the leader_election_master_status series.
const LeaderElectionID = "voipbin-credential-operator.credentials.voipbin.net"

// ManagerOptions configures StartManager.
type ManagerOptions struct {
	// Binary is the manager binary (BuildManager) and Kubeconfig its --kubeconfig.
	Binary, Kubeconfig string
	// AllowedAPIURLs and WatchNamespaces become --allowed-api-urls and
	// --watch-namespaces (empty: the flags' defaults).
	AllowedAPIURLs, WatchNamespaces []string
	// ProbeAddr is the --health-probe-bind-address, whose readiness probe
	// StartManager waits for; empty: a free loopback port.
	ProbeAddr string
	// Args are added after the harness's flags (--leader-elect=false,
	// --metrics-bind-address=0, --zap-log-level=MaxLogLevel), so they may override
	// them: the last value wins. They must not set --health-probe-bind-address
	// (see ProbeAddr).
	Args []string
	// Env is added to the parent's environment.
	Env []string
	// LogPath, if set, is a file the manager's output is appended to (created if
	// missing) instead of being kept in memory: for runs whose logs would not fit
	// (the soak writes gigabytes). Logs and LogTail then read the file.
	LogPath string
	// Output, if set, receives the manager's output too (a terminal, a test's log).
	Output io.Writer
	// StartTimeout bounds the wait for the readiness probe; StopTimeout the wait
	// for the exit after SIGTERM. Zero: 30 s and 10 s.
	StartTimeout, StopTimeout time.Duration
}

// Manager is the manager binary running as a child process in its own process
// group, its output (stdout and stderr) kept in memory or in a file.
type Manager struct {
	cmd         *exec.Cmd
	probeAddr   string
	stopTimeout time.Duration
	started     time.Time
	// logs keeps the output in memory; logFile receives it instead with LogPath.
	logs    *LogBuffer
	logFile *os.File
	exited  chan struct{}
	err     error
	// sent is the signal the last StopWith sent (0: none).
	sent syscall.Signal
}

// StartManager starts the manager and waits until its readiness probe answers.
func StartManager(o ManagerOptions) (*Manager, error) {
	probeAddr := o.ProbeAddr
	if probeAddr == "" {
		var err error
		if probeAddr, err = FreeLoopbackAddr(); err != nil {
			return nil, err
		}
	}
	args := []string{
		"--kubeconfig=" + o.Kubeconfig,
		"--leader-elect=false",
		"--metrics-bind-address=0",
		"--health-probe-bind-address=" + probeAddr,
		fmt.Sprintf("--zap-log-level=%d", MaxLogLevel),
	}
	if len(o.AllowedAPIURLs) > 0 {
		args = append(args, "--allowed-api-urls="+strings.Join(o.AllowedAPIURLs, ","))
	}
	if len(o.WatchNamespaces) > 0 {
		args = append(args, "--watch-namespaces="+strings.Join(o.WatchNamespaces, ","))
	}
	m := &Manager{
		cmd:         exec.Command(o.Binary, append(args, o.Args...)...),
		probeAddr:   probeAddr,
		stopTimeout: orDefault(o.StopTimeout, defaultStopTimeout),
		exited:      make(chan struct{}),
	}
	out, err := m.openLogs(o)
	if err != nil {
		return nil, err
	}
	m.cmd.Stdout, m.cmd.Stderr = out, out
	m.cmd.Env = append(os.Environ(), o.Env...)
	m.cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own group: a Ctrl-C in a terminal reaches the parent only, which stops
		// the manager before the API server it talks to.
		Setpgid: true,
		// If the parent dies without cleaning up (SIGKILL), the manager goes too.
		Pdeathsig: syscall.SIGTERM,
	}
	m.started = time.Now()
	if err := m.cmd.Start(); err != nil {
		m.closeLogs()
		return nil, fmt.Errorf("starting the manager: %w", err)
	}
	go func() {
		m.err = m.cmd.Wait()
		m.closeLogs()
		close(m.exited)
	}()
	if err := m.waitReady(orDefault(o.StartTimeout, defaultStartTimeout)); err != nil {
		_, _ = m.Stop()
		return nil, err
	}
	return m, nil
}

// openLogs returns where the manager's output goes: memory or o.LogPath, and
// o.Output. A file alone is handed to the process as it is, so that no
// goroutine of ours copies the soak's gigabytes.
func (m *Manager) openLogs(o ManagerOptions) (io.Writer, error) {
	var sink io.Writer
	if o.LogPath != "" {
		f, err := os.OpenFile(o.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return nil, fmt.Errorf("opening the manager's log: %w", err)
		}
		m.logFile, sink = f, f
	} else {
		m.logs = &LogBuffer{}
		sink = m.logs
	}
	if o.Output != nil {
		sink = io.MultiWriter(sink, o.Output)
	}
	return sink, nil
}

func (m *Manager) closeLogs() {
	if m.logFile != nil {
		_ = m.logFile.Close()
	}
}

func orDefault(d, fallback time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return fallback
}

// waitReady polls the readiness probe until it answers 200.
func (m *Manager) waitReady(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	httpClient := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+m.probeAddr+"/readyz", nil)
		if resp, err := httpClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-m.exited:
			return fmt.Errorf("the manager exited while starting (%v); its output:\n%s", m.err, m.LogTail(40))
		case <-ctx.Done():
			return fmt.Errorf("the manager was not ready within %s; its output:\n%s", timeout, m.LogTail(40))
		case <-time.After(probeInterval):
		}
	}
}

// Pid is the manager's process id (and process group id).
func (m *Manager) Pid() int { return m.cmd.Process.Pid }

// ProbeAddr is the address of the manager's health and readiness probes.
func (m *Manager) ProbeAddr() string { return m.probeAddr }

// Started is when the process was started (just before the exec): times
// measured from it include the manager's own start-up.
func (m *Manager) Started() time.Time { return m.started }

// LogPath is the file of ManagerOptions.LogPath, or "" for logs in memory.
func (m *Manager) LogPath() string {
	if m.logFile == nil {
		return ""
	}
	return m.logFile.Name()
}

// Logs returns everything the manager wrote so far, also after it stopped.
func (m *Manager) Logs() string {
	if m.logFile == nil {
		return m.logs.String()
	}
	data, _ := os.ReadFile(m.logFile.Name())
	return string(data)
}

// tailBytes is how much of the end of a log file LogTail reads: more than the
// lines anyone asks for.
const tailBytes = 256 << 10

// LogTail returns the last n lines of the manager's output.
func (m *Manager) LogTail(n int) string {
	if m.logFile == nil {
		return m.logs.Tail(n)
	}
	f, err := os.Open(m.logFile.Name())
	if err != nil {
		return ""
	}
	defer func() { _ = f.Close() }()
	if info, err := f.Stat(); err == nil && info.Size() > tailBytes {
		_, _ = f.Seek(-tailBytes, io.SeekEnd)
	}
	data, _ := io.ReadAll(f)
	return lastLines(string(data), n)
}

// Exited is closed when the process has exited; Err then says how.
func (m *Manager) Exited() <-chan struct{} { return m.exited }

// Err is the process's exit error, once Exited is closed.
func (m *Manager) Err() error {
	select {
	case <-m.exited:
		return m.err
	default:
		return nil
	}
}

// Stop stops the manager with SIGTERM; see StopWith.
func (m *Manager) Stop() (time.Duration, error) { return m.StopWith(syscall.SIGTERM) }

// StopWith sends sig to the manager's process group and waits for it to exit,
// killing the group when it has not within the stop timeout. It returns how long
// the manager took, and an error when it had to be killed or exited with an
// error other than being ended by sig (a manager that handles SIGTERM exits 0).
// A manager that had already exited returns at once, with its exit error (none
// when it was ended by the signal an earlier StopWith sent, such as a test's
// SIGKILL).
func (m *Manager) StopWith(sig syscall.Signal) (time.Duration, error) {
	start := time.Now()
	select {
	case <-m.exited:
		if m.sent != 0 {
			return 0, endedBy(m.err, m.sent)
		}
		return 0, m.err
	default:
	}
	m.sent = sig
	_ = syscall.Kill(-m.Pid(), sig)
	select {
	case <-m.exited:
		return time.Since(start), endedBy(m.err, sig)
	case <-time.After(m.stopTimeout):
	}
	_ = syscall.Kill(-m.Pid(), syscall.SIGKILL)
	<-m.exited
	return time.Since(start), fmt.Errorf("the manager did not stop within %s of %s and was killed", m.stopTimeout, sig)
}

// endedBy returns err, the exit error of a process, unless it says the process
// was ended by sig.
func endedBy(err error, sig syscall.Signal) error {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == sig {
			return nil
		}
	}
	return err
}

// LogBuffer is a goroutine-safe, growing log sink.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Tail returns the last n lines written.
func (b *LogBuffer) Tail(n int) string { return lastLines(b.String(), n) }

// lastLines returns the last n lines of text.
func lastLines(text string, n int) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
