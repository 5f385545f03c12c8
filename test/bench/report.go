package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// report is the benchmark's result: every figure, next to its target when it
// has one. It is printed as a table and written as JSON.
type report struct {
	StartedAt time.Time      `json:"startedAt"`
	Command   string         `json:"command"`
	Machine   machine        `json:"machine"`
	Options   map[string]any `json:"options"`
	Scenarios []*scenario    `json:"scenarios"`
	Passed    bool           `json:"passed"`
	Error     string         `json:"error,omitempty"`
}

// machine describes where the benchmark ran.
type machine struct {
	CPUs          int    `json:"cpus"`
	Memory        string `json:"memory"`
	Go            string `json:"go"`
	Kernel        string `json:"kernel"`
	KubeAPIServer string `json:"kubeAPIServer,omitempty"`
}

// scenario is one scenario's rows.
type scenario struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Rows  []row  `json:"rows"`
}

// row is one figure. Pass is nil for a figure without a target.
type row struct {
	Figure  string  `json:"figure"`
	Value   float64 `json:"value"`
	Unit    string  `json:"unit,omitempty"`
	Display string  `json:"display"`
	Target  string  `json:"target,omitempty"`
	Pass    *bool   `json:"pass,omitempty"`
}

func newReport(o options, command string) *report {
	return &report{
		StartedAt: time.Now().UTC().Truncate(time.Second),
		Command:   command,
		Machine: machine{
			CPUs:   runtime.NumCPU(),
			Memory: memTotal(),
			Go:     runtime.Version(),
			Kernel: strings.TrimSpace(readFile("/proc/sys/kernel/osrelease")),
		},
		Options: map[string]any{
			"crs": o.crs, "sharedLogins": o.sharedLogins, "sharedCRs": o.sharedCRs,
			"unrelatedSecrets": o.unrelatedSecrets, "unrelatedNamespaces": o.unrelatedNamespaces,
			"unrelatedSize": o.unrelatedSize, "loginQPS": o.loginQPS, "loginBurst": o.loginBurst,
			"maxConcurrentReconciles": o.maxConcurrent, "workers": o.workers,
			"settle": o.settle.String(), "quiet": o.quiet.String(), "restartWindow": o.restartWindow.String(),
			"memWindow": o.memWindow.String(), "memInterval": o.memInterval.String(),
		},
	}
}

// scenario starts the rows of a scenario.
func (r *report) scenario(id, title string) *scenario {
	s := &scenario{ID: id, Title: title}
	r.Scenarios = append(r.Scenarios, s)
	return s
}

// info adds a figure without a target.
func (s *scenario) info(figure string, value float64, unit, display string) {
	s.Rows = append(s.Rows, row{Figure: figure, Value: value, Unit: unit, Display: display})
}

// check adds a figure with its target and whether it is met.
func (s *scenario) check(figure string, value float64, unit, display, target string, pass bool) {
	s.Rows = append(s.Rows, row{Figure: figure, Value: value, Unit: unit, Display: display, Target: target, Pass: &pass})
}

// missed counts the figures that missed their target.
func (r *report) missed() int {
	n := 0
	for _, s := range r.Scenarios {
		for _, row := range s.Rows {
			if row.Pass != nil && !*row.Pass {
				n++
			}
		}
	}
	return n
}

// print writes the table: each scenario's title, then its figures with their
// values, targets and results in aligned columns.
func (r *report) print(w io.Writer) {
	bw := bufio.NewWriter(w)
	defer func() { _ = bw.Flush() }()
	_, _ = fmt.Fprintf(bw, "Benchmark of %s: %d CPUs, %s memory, %s, kernel %s, kube-apiserver %s\n",
		r.StartedAt.Format(time.RFC3339), r.Machine.CPUs, r.Machine.Memory, r.Machine.Go, r.Machine.Kernel,
		r.Machine.KubeAPIServer)
	_, _ = fmt.Fprintf(bw, "$ %s\n\n", r.Command)
	figureW, valueW, targetW := len("figure"), len("value"), len("target")
	for _, s := range r.Scenarios {
		for _, row := range s.Rows {
			figureW, valueW, targetW = max(figureW, len(row.Figure)), max(valueW, len(row.Display)), max(targetW, len(row.Target))
		}
	}
	line := func(figure, value, target, result string) {
		_, _ = fmt.Fprintf(bw, "    %-*s  %-*s  %-*s  %s\n", figureW, figure, valueW, value, targetW, target, result)
	}
	line("figure", "value", "target", "result")
	for _, s := range r.Scenarios {
		_, _ = fmt.Fprintf(bw, "%s. %s\n", s.ID, s.Title)
		for _, row := range s.Rows {
			result := ""
			if row.Pass != nil {
				result = "pass"
				if !*row.Pass {
					result = "MISSED"
				}
			}
			line(row.Figure, row.Display, row.Target, result)
		}
	}
	_, _ = fmt.Fprintln(bw)
	switch {
	case r.Error != "":
		_, _ = fmt.Fprintf(bw, "Incomplete: %s\n", r.Error)
	case r.missed() > 0:
		_, _ = fmt.Fprintf(bw, "%d target(s) MISSED.\n", r.missed())
	default:
		_, _ = fmt.Fprintln(bw, "Every target met.")
	}
}

// writeJSON writes the report to path.
func (r *report) writeJSON(path string) error {
	r.Passed = r.Error == "" && r.missed() == 0
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

func readFile(path string) string {
	data, _ := os.ReadFile(path)
	return string(data)
}

// memTotal returns MemTotal of /proc/meminfo in GiB.
func memTotal() string {
	for line := range strings.Lines(readFile("/proc/meminfo")) {
		var kb float64
		if _, err := fmt.Sscanf(line, "MemTotal: %f kB", &kb); err == nil {
			return fmt.Sprintf("%.1f GiB", kb/(1<<20))
		}
	}
	return "unknown"
}

// Formats of the table's values.

func seconds(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func mib(bytes float64) string { return fmt.Sprintf("%.1f MiB", bytes/(1<<20)) }

func count(n int) string { return fmt.Sprintf("%d", n) }
