package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/test/harness"
)

// demoTimeout bounds `make demo DEMO_ONCE=1`: it may have to build the
// manager from a cold cache (minutes on 2 cores); the demo itself takes ~10 s.
const demoTimeout = 12 * time.Minute

// TestMakeDemoOnce runs `make demo DEMO_ONCE=1` from the repository root as a
// user would, and checks that it exits 0 with every sample Ready, lists the
// managed Secrets' keys, prints no secret, and leaves no process behind.
func TestMakeDemoOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the manager and starts a control plane")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	secrets := sampleSecretValues(t, filepath.Join(root, "config", "samples"))
	dir := t.TempDir()

	output, err := runMakeDemo(t, root, dir)
	t.Logf("make demo DEMO_ONCE=1 output:\n%s", output)
	if err != nil {
		t.Fatalf("make demo DEMO_ONCE=1: %v", err)
	}

	// Every sample Ready=True in the kubectl-style table.
	rows := tableRows(output)
	for _, name := range []string{"billing", "reports", "dialer"} {
		// A missing row is nil: too short.
		if row := rows[name]; len(row) < 3 || row[1] != "True" || row[2] != v1alpha1.ReasonReady {
			t.Errorf("row %s = %q, want READY True and REASON Ready", name, row)
		}
	}

	// Each managed Secret's keys, as the operator writes them for each kind of sample.
	for secret, keys := range map[string]string{
		"billing-voipbin": "apiURL, expiresAt, token",
		"reports-voipbin": "accesskey, apiURL",
		"dialer-voipbin":  "accesskey, apiURL, expiresAt, token",
	} {
		want := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(secret) + ` \(.*\n    keys: +` + regexp.QuoteMeta(keys) + `$`)
		if !want.MatchString(output) {
			t.Errorf("the output does not list the keys %q of Secret %s", keys, secret)
		}
	}
	if !strings.Contains(output, "token:      expires ") {
		t.Error("the output does not show the token expiry")
	}

	// No secret value, raw or base64, in the output, nor in the operator's log.
	operatorLog, err := os.ReadFile(filepath.Join(dir, "operator.log"))
	if err != nil {
		t.Errorf("reading the operator log: %v", err)
	}
	if found := leaks(output, secrets); len(found) > 0 {
		t.Errorf("the demo output holds secret material: %q", found)
	}
	if found := leaks(string(operatorLog), secrets); len(found) > 0 {
		t.Errorf("the operator log holds secret material: %q", found)
	}

	// Every process the demo started has exited.
	pids := startedProcesses(output)
	for _, name := range []string{"etcd", "kube-apiserver", "manager"} {
		pid, ok := pids[name]
		if !ok {
			t.Errorf("the output does not give the pid of %s", name)
			continue
		}
		if processRuns(pid, name) {
			t.Errorf("%s (pid %d) still runs after the demo exited", name, pid)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// TestLeaksFindsPlantedSecrets is the positive control of the scan above: a
// scan that finds nothing proves nothing unless it finds what is planted.
func TestLeaksFindsPlantedSecrets(t *testing.T) {
	secrets := []string{"not-a-real-password"}
	for _, planted := range []string{
		"password not-a-real-password here",
		"b64 " + base64.StdEncoding.EncodeToString([]byte("not-a-real-password")),
		"b64url " + base64.RawURLEncoding.EncodeToString([]byte("not-a-real-password")),
		"token eyJhbGciOiJIUzI1NiJ9.eyJ4Ijoie30.c2ln",
	} {
		if len(leaks(planted, secrets)) == 0 {
			t.Errorf("leaks(%q) found nothing", planted)
		}
	}
	if found := leaks("billing-voipbin   keys: apiURL, expiresAt, token   vb_FAKEFAKE...", secrets); len(found) > 0 {
		t.Errorf("leaks found %q in clean output", found)
	}
}

// runMakeDemo runs `make demo DEMO_ONCE=1` in root with the demo's files in
// dir. make and its children run in their own process group, which gets
// SIGTERM on a timeout (make passes it on; the demo then stops what it started).
func runMakeDemo(t *testing.T, root, dir string) (string, error) {
	t.Helper()
	timeout := demoTimeout
	if deadline, ok := t.Deadline(); ok && time.Until(deadline)-time.Minute < timeout {
		timeout = time.Until(deadline) - time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", "demo", "DEMO_ONCE=1", "DEMO_DIR="+dir)
	cmd.Dir = root
	// A make running this test (make test) must not pass its jobserver or
	// level to this one.
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); name != "MAKEFLAGS" && name != "MFLAGS" && name != "MAKELEVEL" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	err := cmd.Run()
	return out.String(), err
}

// sampleSecretValues returns the passwords and accesskeys of the sample Secrets.
func sampleSecretValues(t *testing.T, dir string) []string {
	t.Helper()
	samples, err := loadSamples(testScheme(), dir)
	if err != nil {
		t.Fatal(err)
	}
	values := append([]string{}, samples.accessKeys()...)
	for _, a := range samples.agents {
		values = append(values, a.password)
	}
	// The samples' known fake values, in case the samples stop referring to them.
	return append(values, "not-a-real-password", "vb_FAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKE")
}

// jwtPattern matches a JWT: base64url JSON objects start with "eyJ" ("{\"").
var jwtPattern = regexp.MustCompile(`eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*`)

// leaks returns what text holds of secrets, in every form the harness's
// scanner knows (raw, base64 in both alphabets, padded or not), and of any JWT:
// the tokens the demo's stand-in issued are not known here, and every JWT in
// the output or the log is one of them.
func leaks(text string, secrets []string) []string {
	scanner := harness.NewLeakScanner()
	scanner.Add("secret", secrets...)
	var found []string
	for _, leak := range scanner.Scan("demo", text) {
		found = append(found, leak.String())
	}
	found = append(found, jwtPattern.FindAllString(text, -1)...)
	if strings.Contains(text, "eyJ") && len(found) == 0 {
		found = append(found, "eyJ")
	}
	return found
}

// tableRows returns the fields of each row of the first table whose header
// starts with NAME and READY, by name.
func tableRows(output string) map[string][]string {
	rows := map[string][]string{}
	inTable := false
	for _, line := range strings.Split(output, "\n") {
		fields := strings.Fields(line)
		switch {
		case !inTable && len(fields) > 1 && fields[0] == "NAME" && fields[1] == "READY":
			inTable = true
		case inTable && len(fields) == 0:
			return rows
		case inTable:
			rows[fields[0]] = fields
		}
	}
	return rows
}

// processLine is the demo's line naming the processes it started.
var processLine = regexp.MustCompile(`(?m)^processes +(.*)$`)

// startedProcesses returns the pids the demo says it started, by name.
func startedProcesses(output string) map[string]int {
	pids := map[string]int{}
	m := processLine.FindStringSubmatch(output)
	if m == nil {
		return pids
	}
	for _, part := range strings.Split(m[1], ", ") {
		name, pid, ok := strings.Cut(part, " pid ")
		if n, err := strconv.Atoi(pid); ok && err == nil {
			pids[name] = n
		}
	}
	return pids
}

// processRuns reports whether pid is a live (not zombie) process named name;
// a pid reused by another program does not count.
func processRuns(pid int, name string) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	comm, _, ok := parseStat(string(stat))
	return ok && comm == name && alive(pid)
}

// TestProcessRunsSeesALiveProcess shows that the leftover check above can
// fail: it sees a running child, and no longer sees it once it has exited.
func TestProcessRunsSeesALiveProcess(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep command:", err)
	}
	pid := cmd.Process.Pid
	if !processRuns(pid, "sleep") {
		t.Errorf("processRuns(%d, sleep) = false for a running sleep", pid)
	}
	if processRuns(pid, "etcd") {
		t.Errorf("processRuns(%d, etcd) = true for a sleep", pid)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if processRuns(pid, "sleep") {
		t.Errorf("processRuns(%d, sleep) = true after it exited", pid)
	}
}
