package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/voipbin/credential-operator/test/harness"
)

// startOperator runs the manager binary (test/harness) against the demo's
// kubeconfig, allowed to call only the stand-in, with its logs in
// paths.operatorLog, and waits until it is ready.
func startOperator(paths demoPaths, kubeconfig, standInURL string) (*harness.Manager, error) {
	// The log is this run's: the harness appends.
	if err := os.Remove(paths.operatorLog); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return harness.StartManager(harness.ManagerOptions{
		Binary: paths.manager, Kubeconfig: kubeconfig,
		AllowedAPIURLs: []string{standInURL},
		// The log a user reads: the operator's default verbosity, not the
		// harness's highest.
		Args:    []string{"--zap-log-level=info"},
		LogPath: paths.operatorLog,
	})
}

// exitError describes an unexpected exit of the operator.
func exitError(op *harness.Manager) error {
	return fmt.Errorf("the operator exited unexpectedly (%v); see its log %s", op.Err(), op.LogPath())
}

// childProcess is a direct child of the demo: etcd, kube-apiserver or the manager.
type childProcess struct {
	pid  int
	name string
}

// childProcesses lists the demo's direct children from /proc, so that the
// user (and the demo's test) can check they are gone after the demo.
func childProcesses() []childProcess {
	self := os.Getpid()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var children []childProcess
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		name, ppid, ok := parseStat(string(stat))
		if ok && ppid == self {
			children = append(children, childProcess{pid: pid, name: name})
		}
	}
	sort.Slice(children, func(i, j int) bool { return children[i].pid < children[j].pid })
	return children
}

// parseStat reads the command name and the parent PID of /proc/<pid>/stat:
// "pid (comm) state ppid ...", where comm may hold spaces and parentheses.
func parseStat(stat string) (name string, ppid int, ok bool) {
	open, closing := strings.IndexByte(stat, '('), strings.LastIndexByte(stat, ')')
	if open < 0 || closing < open {
		return "", 0, false
	}
	fields := strings.Fields(stat[closing+1:])
	if len(fields) < 2 {
		return "", 0, false
	}
	ppid, err := strconv.Atoi(fields[1])
	return stat[open+1 : closing], ppid, err == nil
}

// alive reports whether pid still exists and is not a zombie.
func alive(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	closing := strings.LastIndexByte(string(stat), ')')
	fields := strings.Fields(string(stat)[closing+1:])
	return len(fields) > 0 && fields[0] != "Z"
}

func describeProcesses(children []childProcess) string {
	parts := make([]string, 0, len(children))
	for _, c := range children {
		parts = append(parts, fmt.Sprintf("%s pid %d", c.name, c.pid))
	}
	return strings.Join(parts, ", ")
}

// reportLeftovers says whether every child the demo started has exited.
func reportLeftovers(out console, children []childProcess) {
	if len(children) == 0 {
		return
	}
	var left []childProcess
	for _, c := range children {
		if alive(c.pid) {
			left = append(left, c)
		}
	}
	if len(left) > 0 {
		out.printf("WARNING: still running: %s\n", describeProcesses(left))
		return
	}
	out.printf("Stopped: %s. No process left.\n", describeProcesses(children))
}
