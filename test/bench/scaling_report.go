package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// scalingReport is the scaling run's result: every size's figures, their
// slopes and targets. It is printed as a table and written as JSON.
type scalingReport struct {
	StartedAt time.Time      `json:"startedAt"`
	Command   string         `json:"command"`
	Commit    string         `json:"commit"`
	Machine   machine        `json:"machine"`
	Options   map[string]any `json:"options"`
	Sizes     []sizeResult   `json:"sizes"`
	Figures   []figureRow    `json:"figures"`
	Passed    bool           `json:"passed"`
	Error     string         `json:"error,omitempty"`
}

// figureRow is one figure across the sizes, as the table shows it.
type figureRow struct {
	Figure string    `json:"figure"`
	Values []float64 `json:"values"`
	// Slope is per credential, in base units (seconds, bytes, counts).
	Slope  *float64 `json:"slopePerCR,omitempty"`
	Target string   `json:"target,omitempty"`
	Pass   *bool    `json:"pass,omitempty"`

	display []string
	slope   string
}

func newScalingReport(o options, command, root string) *scalingReport {
	base := newReport(o, command)
	return &scalingReport{
		StartedAt: base.StartedAt, Command: command, Commit: gitCommit(root), Machine: base.Machine,
		Options: map[string]any{
			"sizes": o.scaling.sizes.String(), "crsPerLogin": o.scaling.perLogin,
			"loginQPS": o.loginQPS, "loginBurst": o.loginBurst, "maxConcurrentReconciles": o.maxConcurrent,
			"workers": o.workers, "settle": o.settle.String(), "quiet": o.quiet.String(),
			"memInterval": o.scaling.memInterval.String(), "restartTimeout": o.scaling.restartTimeout.String(),
		},
	}
}

// gitCommit names the commit the benchmark runs (with "-dirty" when the work
// tree has changes), or "unknown".
func gitCommit(root string) string {
	out, err := exec.Command("git", "-C", root, "describe", "--always", "--dirty", "--abbrev=7").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// evaluate computes the figures' rows from the sizes measured.
func (r *scalingReport) evaluate() {
	r.Figures = nil
	for _, f := range scalingFigures {
		row := figureRow{Figure: f.name, Target: f.target}
		pass, checked := true, false
		for _, s := range r.Sizes {
			v, ok := f.value(s)
			row.Values = append(row.Values, v)
			if ok {
				row.display = append(row.display, f.show(v))
			} else {
				row.display = append(row.display, "not measured")
			}
			if f.passes != nil {
				checked, pass = true, pass && f.passes(s)
			}
		}
		if slope, ok := f.slope(r.Sizes); ok && f.slopeUnit != "" {
			row.Slope = &slope
			row.slope = fmt.Sprintf("%.2f %s", slope*f.slopeScale, f.slopeUnit)
			if f.slopePasses != nil {
				checked, pass = true, pass && f.slopePasses(slope)
			}
		}
		if checked && len(r.Sizes) > 0 {
			row.Pass = &pass
		}
		r.Figures = append(r.Figures, row)
	}
	r.Passed = r.Error == "" && r.missed() == 0
}

// missed counts the figures that missed their target.
func (r *scalingReport) missed() int {
	n := 0
	for _, row := range r.Figures {
		if row.Pass != nil && !*row.Pass {
			n++
		}
	}
	return n
}

// print writes the table: one column per size, then the slope per credential
// between the two largest sizes, the target and the result.
func (r *scalingReport) print(w io.Writer) {
	bw := bufio.NewWriter(w)
	defer func() { _ = bw.Flush() }()
	_, _ = fmt.Fprintf(bw, "Scaling run of %s at %s: %d CPUs, %s memory, %s, kernel %s, kube-apiserver %s\n",
		r.StartedAt.Format(time.RFC3339), r.Commit, r.Machine.CPUs, r.Machine.Memory, r.Machine.Go, r.Machine.Kernel,
		r.Machine.KubeAPIServer)
	_, _ = fmt.Fprintf(bw, "$ %s\n\n", r.Command)
	header := make([]string, 0, len(r.Sizes)+4)
	header = append(header, "figure")
	for _, s := range r.Sizes {
		header = append(header, fmt.Sprintf("%d CRs", s.CRs))
	}
	slopeHeader := "slope per CR"
	if n := len(r.Sizes); n >= 2 {
		slopeHeader = fmt.Sprintf("per CR, %d to %d", r.Sizes[n-2].CRs, r.Sizes[n-1].CRs)
	}
	header = append(header, slopeHeader, "target", "result")
	lines := make([][]string, 0, len(r.Figures)+1)
	lines = append(lines, header)
	for _, row := range r.Figures {
		result := ""
		if row.Pass != nil {
			result = "pass"
			if !*row.Pass {
				result = "MISSED"
			}
		}
		lines = append(lines, append(append([]string{row.Figure}, row.display...), row.slope, row.Target, result))
	}
	widths := make([]int, len(header))
	for _, l := range lines {
		for i, cell := range l {
			widths[i] = max(widths[i], len(cell))
		}
	}
	for _, l := range lines {
		var b strings.Builder
		for i, cell := range l {
			_, _ = fmt.Fprintf(&b, "%-*s  ", widths[i], cell)
		}
		_, _ = fmt.Fprintln(bw, "    "+strings.TrimRight(b.String(), " "))
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
func (r *scalingReport) writeJSON(path string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// readScalingReport reads the JSON a scaling run wrote.
func readScalingReport(path string) (*scalingReport, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	rep := &scalingReport{}
	if err := json.Unmarshal(data, rep); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rep, nil
}
