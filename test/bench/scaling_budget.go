package main

import "fmt"

// budgets are per-credential costs one size of the scaling run must stay
// within. They are counts, and a generous bound on memory, never times: make
// test runs them on machines of any speed and load, and a regression in what
// the operator does per credential must fail them, not a slow machine.
type budgets struct {
	// writesPerCR bounds the operator's API-server writes per credential.
	writesPerCR float64
	// heapPerCR bounds the live heap each credential adds to the idle manager
	// (HeapPerCR), in bytes.
	heapPerCR float64
}

// ciBudgets are the budgets of make test's run at 100 credentials. Writes as
// the targets; the heap a generous bound: the slope measured at 10,000 is a few
// KiB, but at 100 credentials the figure is the difference of two heaps of
// about 20 MiB, each after a forced collection, and moves by a few hundred KiB
// between runs (a few KiB per credential).
var ciBudgets = budgets{writesPerCR: maxScalingWritesPerC, heapPerCR: 64 << 10}

// violations lists what r spent beyond b, or what it missed: every
// credential Ready, one login per perLogin credentials, no call and no write
// in the quiet window, and neither login nor write after a graceful restart,
// once every credential was reconciled again.
func (b budgets) violations(r sizeResult) []string {
	var v []string
	add := func(format string, args ...any) { v = append(v, fmt.Sprintf(format, args...)) }
	if r.ReadyError != "" {
		add("not every credential became Ready: %s", r.ReadyError)
	}
	if r.WritesPerCR() > b.writesPerCR {
		add("%.2f API-server writes per credential (%d for %d: %s), budget %.2f", r.WritesPerCR(), r.Writes, r.CRs,
			r.WritesDetail, b.writesPerCR)
	}
	if r.LoginsMade != r.Logins {
		add("%d logins for %d distinct logins", r.LoginsMade, r.Logins)
	}
	if r.HeapPerCR() > b.heapPerCR {
		add("%.1f KiB of live heap per credential (%s idle, %s with %d), budget %.0f KiB", r.HeapPerCR()/1024,
			mib(r.IdleHeapAlloc), mib(r.HeapAlloc), r.CRs, b.heapPerCR/1024)
	}
	if r.QuietCalls != 0 || r.QuietWrites != 0 {
		add("the quiet window saw %d VoIPBIN calls and %d API-server writes, want 0 and 0", r.QuietCalls, r.QuietWrites)
	}
	if r.RestartError != "" {
		add("after the restart: %s", r.RestartError)
	}
	if r.RestartLogins != 0 || r.RestartWrites != 0 {
		add("%d logins and %d API-server writes after a graceful restart, want 0 and 0", r.RestartLogins, r.RestartWrites)
	}
	return v
}
