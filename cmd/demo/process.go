package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// operatorStopTimeout is how long the operator gets to exit after SIGTERM
// before its process group is killed: a manager without leader election stops
// in well under a second.
const operatorStopTimeout = 10 * time.Second

// operatorProcess is the operator binary running as a child process, in its
// own process group.
type operatorProcess struct {
	cmd     *exec.Cmd
	logFile *os.File
	// exited is closed when the process has exited; err is then its exit error.
	exited chan struct{}
	err    error
}

// startOperator runs the manager binary against the demo's kubeconfig, allowed
// to call only the stand-in, with its logs in paths.operatorLog.
func startOperator(paths demoPaths, standInURL string) (*operatorProcess, error) {
	probeAddr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(paths.operatorLog)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(paths.manager,
		"--kubeconfig="+paths.kubeconfig,
		"--allowed-api-urls="+standInURL,
		"--leader-elect=false",
		"--health-probe-bind-address="+probeAddr,
		"--metrics-bind-address=0",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own group: a Ctrl-C in the terminal reaches the demo only, which
		// stops the operator before the API server it talks to.
		Setpgid: true,
		// If the demo dies without cleaning up (SIGKILL), the operator goes too.
		Pdeathsig: syscall.SIGTERM,
	}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("starting the operator: %w", err)
	}
	p := &operatorProcess{cmd: cmd, logFile: logFile, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// exitError describes an unexpected exit of the operator.
func (p *operatorProcess) exitError() error {
	return fmt.Errorf("the operator exited unexpectedly (%v); see its log %s", p.err, p.logFile.Name())
}

// stop sends SIGTERM to the operator's process group, waits for it to exit,
// and kills the group if it does not within operatorStopTimeout.
func (p *operatorProcess) stop() error {
	defer func() { _ = p.logFile.Close() }()
	pgid := p.cmd.Process.Pid
	select {
	case <-p.exited:
		return nil
	default:
	}
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(operatorStopTimeout):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-p.exited
	return fmt.Errorf("the operator did not stop within %s of SIGTERM and was killed", operatorStopTimeout)
}

// freeLoopbackAddr returns a loopback address with a port that was free a
// moment ago.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
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
