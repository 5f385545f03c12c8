package main

import (
	"fmt"
)

// Targets of the scaling run, on the 2-core machine with the control plane in
// the same machine. The times hold at every size (the issue sets them for
// 10,000 credentials; a smaller size must not be slower); the heap target is
// a slope.
const (
	maxReadySeconds      = 120
	maxRestartSeconds    = 30
	maxHeapSlopeKiB      = 8
	maxScalingWritesPerC = 2
)

// figure is one line of the scaling table: a value at each size, its slope per
// credential between the two largest sizes, and a target on each size or on
// the slope.
type figure struct {
	name string
	// value is the figure at one size, in base units (seconds, bytes, counts);
	// ok is false when it was not measured (a wait that timed out).
	value func(r sizeResult) (v float64, ok bool)
	// show formats a value for the table.
	show func(v float64) string
	// slopeUnit and slopeScale show the slope per credential (value units per
	// credential times slopeScale); an empty slopeUnit: no slope is shown.
	slopeUnit  string
	slopeScale float64
	// target describes the target; passes checks one size, slopePasses the
	// slope (either may be nil).
	target      string
	passes      func(r sizeResult) bool
	slopePasses func(slope float64) bool
}

// Units of the slopes.
const (
	kib = "KiB"
	ms  = "ms"
)

func always(f func(r sizeResult) float64) func(r sizeResult) (float64, bool) {
	return func(r sizeResult) (float64, bool) { return f(r), true }
}

// The figures that are not measured when a wait timed out.
func readySeconds(r sizeResult) (float64, bool)   { return r.ReadySeconds, r.ReadyError == "" }
func cpuSeconds(r sizeResult) (float64, bool)     { return r.CPUSeconds, r.ReadyError == "" }
func restartSeconds(r sizeResult) (float64, bool) { return r.RestartSeconds, r.RestartError == "" }

func showSeconds(v float64) string { return fmt.Sprintf("%.2f s", v) }
func showMiB(v float64) string     { return mib(v) }
func showCount(v float64) string   { return fmt.Sprintf("%.0f", v) }
func showRatio(v float64) string   { return fmt.Sprintf("%.2f", v) }

// scalingFigures are the lines of the scaling table, in order.
var scalingFigures = []figure{
	{
		name: "time from the last create to all Ready", value: readySeconds,
		show: showSeconds, slopeUnit: ms, slopeScale: 1000,
		target: fmt.Sprintf("<= %d s", maxReadySeconds),
		passes: func(r sizeResult) bool { return r.ReadyError == "" && r.ReadySeconds <= maxReadySeconds },
	},
	{
		name: "time to create them (the benchmark's client)", value: always(func(r sizeResult) float64 { return r.CreateSeconds }),
		show: showSeconds, slopeUnit: ms, slopeScale: 1000,
	},
	{
		name: "manager CPU, first create to all Ready", value: cpuSeconds,
		show: showSeconds, slopeUnit: ms, slopeScale: 1000,
	},
	{
		name: "heap in use after the creates, settled (after a GC)", value: always(func(r sizeResult) float64 { return r.HeapInuse }),
		show: showMiB, slopeUnit: kib, slopeScale: 1.0 / 1024,
		target:      fmt.Sprintf("slope <= %d KiB", maxHeapSlopeKiB),
		slopePasses: func(slope float64) bool { return slope/1024 <= maxHeapSlopeKiB },
	},
	{
		name: "live heap after the creates, settled (after a GC)", value: always(func(r sizeResult) float64 { return r.HeapAlloc }),
		show: showMiB, slopeUnit: kib, slopeScale: 1.0 / 1024,
	},
	{
		name: "RSS after the creates, settled (median)", value: always(func(r sizeResult) float64 { return r.RSS }),
		show: showMiB, slopeUnit: kib, slopeScale: 1.0 / 1024,
	},
	{
		name: "heap in use after the restart (after a GC)", value: always(func(r sizeResult) float64 { return r.RestartHeapInuse }),
		show: showMiB, slopeUnit: kib, slopeScale: 1.0 / 1024,
		target:      fmt.Sprintf("slope <= %d KiB", maxHeapSlopeKiB),
		slopePasses: func(slope float64) bool { return slope/1024 <= maxHeapSlopeKiB },
	},
	{
		name: "live heap after the restart (after a GC)", value: always(func(r sizeResult) float64 { return r.RestartHeapAlloc }),
		show: showMiB, slopeUnit: kib, slopeScale: 1.0 / 1024,
	},
	{
		name: "RSS after the restart (median)", value: always(func(r sizeResult) float64 { return r.RestartRSS }),
		show: showMiB, slopeUnit: kib, slopeScale: 1.0 / 1024,
	},
	{
		name: "API-server writes per credential (the operator's)", value: always(sizeResult.WritesPerCR),
		show: showRatio, target: fmt.Sprintf("<= %d", maxScalingWritesPerC),
		passes: func(r sizeResult) bool { return r.WritesPerCR() <= maxScalingWritesPerC },
	},
	{
		name: "API-server writes (the operator's)", value: always(func(r sizeResult) float64 { return float64(r.Writes) }),
		show: showCount, slopeUnit: "writes", slopeScale: 1,
	},
	{
		name:  "events recorded per credential (writes of events, not above)",
		value: always(func(r sizeResult) float64 { return float64(r.Events) / float64(r.CRs) }),
		show:  showRatio,
	},
	{
		name:  "reconciles per credential to reach Ready",
		value: always(func(r sizeResult) float64 { return float64(r.Reconciles) / float64(r.CRs) }),
		show:  showRatio,
	},
	{
		name: "logins", value: always(func(r sizeResult) float64 { return float64(r.LoginsMade) }),
		show: showCount, target: "= CRs / 100",
		passes: func(r sizeResult) bool { return r.LoginsMade == r.Logins },
	},
	{
		name: "429 answers", value: always(func(r sizeResult) float64 { return float64(r.TooMany) }),
		show: showCount,
	},
	{
		name: "quiet window: VoIPBIN calls", value: always(func(r sizeResult) float64 { return float64(r.QuietCalls) }),
		show: showCount, target: "0", passes: func(r sizeResult) bool { return r.QuietCalls == 0 },
	},
	{
		name: "quiet window: API-server writes", value: always(func(r sizeResult) float64 { return float64(r.QuietWrites) }),
		show: showCount, target: "0", passes: func(r sizeResult) bool { return r.QuietWrites == 0 },
	},
	{
		name: "quiet window: reconciles", value: always(func(r sizeResult) float64 { return float64(r.QuietReconcls) }),
		show: showCount,
	},
	{
		name: "restart: start to every credential reconciled once", value: restartSeconds,
		show: showSeconds, slopeUnit: ms, slopeScale: 1000,
		target: fmt.Sprintf("<= %d s", maxRestartSeconds),
		passes: func(r sizeResult) bool { return r.RestartError == "" && r.RestartSeconds <= maxRestartSeconds },
	},
	{
		name: "restart: logins", value: always(func(r sizeResult) float64 { return float64(r.RestartLogins) }),
		show: showCount, target: "0", passes: func(r sizeResult) bool { return r.RestartLogins == 0 },
	},
	{
		name: "restart: API-server writes", value: always(func(r sizeResult) float64 { return float64(r.RestartWrites) }),
		show: showCount,
	},
	{
		name: "restart: SIGTERM to exit", value: always(func(r sizeResult) float64 { return r.StopSeconds }),
		show: showSeconds,
	},
}

// slope returns the figure's growth per credential between the two largest
// sizes, and false when there are not two sizes with a value.
func (f figure) slope(sizes []sizeResult) (float64, bool) {
	var xs, ys []float64
	for _, r := range sizes {
		if v, ok := f.value(r); ok {
			xs, ys = append(xs, float64(r.CRs)), append(ys, v)
		}
	}
	n := len(xs)
	if n < 2 || xs[n-1] == xs[n-2] {
		return 0, false
	}
	return (ys[n-1] - ys[n-2]) / (xs[n-1] - xs[n-2]), true
}
