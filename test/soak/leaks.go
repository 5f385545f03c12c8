package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"

	"github.com/voipbin/credential-operator/test/harness"
)

// Sources the leak scan reads (invariant 4).
const (
	srcLogs    = "logs"
	srcEvents  = "events"
	srcStatus  = "status"
	srcMetrics = "metrics"
)

var leakSources = []string{srcLogs, srcEvents, srcStatus, srcMetrics}

// controlKind is the kind under which positive controls are registered with
// the scanner: strings that must be found in every source.
const controlKind = "control"

// leakLedger keeps invariant 4's books over the harness's scanner, which looks
// for every form (raw, base64 in both alphabets, padded or not, a JWT's
// signature alone) of every password, token and accesskey the soak knows: what
// was scanned, by source; the first occurrence of every leak; and where each
// positive control was found.
type leakLedger struct {
	scanner *harness.LeakScanner

	mu       sync.Mutex
	leaks    map[string]string          // "source|kind fingerprint|form" -> leak, reported once
	controls map[string]map[string]bool // control fingerprint -> sources where found
	names    map[string]string          // control fingerprint -> its name
	bytes    map[string]int64
	texts    map[string]int
}

func newLeakLedger() *leakLedger {
	return &leakLedger{scanner: harness.NewLeakScanner(), leaks: map[string]string{},
		controls: map[string]map[string]bool{}, names: map[string]string{}, bytes: map[string]int64{}, texts: map[string]int{}}
}

// add registers a secret of kind ("password", "token", "accesskey").
func (l *leakLedger) add(kind, secret string) { l.scanner.Add(kind, secret) }

// addIssuer registers secrets of kind known only later (the keys the stand-in
// creates for the operator), read at every scan.
func (l *leakLedger) addIssuer(kind string, issued func() []string) {
	l.scanner.AddIssuer(kind, issued)
}

// addControl registers a positive control: a string that must be found (in its
// raw form) in every source.
func (l *leakLedger) addControl(name, s string) {
	l.mu.Lock()
	l.controls[harness.Fingerprint(s)] = map[string]bool{}
	l.names[harness.Fingerprint(s)] = name
	l.mu.Unlock()
	l.scanner.Add(controlKind, s)
}

// scan scans text from source.
func (l *leakLedger) scan(source, text string) {
	l.record(source, int64(len(text)), l.scanner.Scan(source, text))
}

// scanFile scans a file from source (a manager's log: gigabytes in all).
func (l *leakLedger) scanFile(source, path string) error {
	found, err := l.scanner.ScanFile(source, path)
	if err != nil {
		return err
	}
	var size int64
	if info, err := os.Stat(path); err == nil {
		size = info.Size()
	}
	l.record(source, size, found)
	return nil
}

func (l *leakLedger) record(source string, size int64, found []harness.Leak) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bytes[source] += size
	l.texts[source]++
	for _, leak := range found {
		if leak.Kind == controlKind {
			if leak.Form == "raw" {
				l.controls[leak.Fingerprint][source] = true
			}
			continue
		}
		if key := source + "|" + leak.Kind + " " + leak.Fingerprint + "|" + leak.Form; l.leaks[key] == "" {
			l.leaks[key] = leak.String()
		}
	}
}

// leakResult is invariant 4's outcome.
type leakResult struct {
	secrets  int
	bytes    map[string]int64
	texts    map[string]int
	leaks    []string
	controls map[string][]string // control name -> sources where found
	// missedControls lists the controls not found in a source.
	missedControls []string
}

func (l *leakLedger) result() leakResult {
	secrets := l.scanner.Secrets() - len(l.controls)
	l.mu.Lock()
	defer l.mu.Unlock()
	r := leakResult{secrets: secrets, bytes: map[string]int64{}, texts: map[string]int{}, controls: map[string][]string{}}
	for k, v := range l.bytes {
		r.bytes[k] = v
	}
	for k, v := range l.texts {
		r.texts[k] = v
	}
	for _, leak := range l.leaks {
		r.leaks = append(r.leaks, leak)
	}
	sort.Strings(r.leaks)
	for fp, found := range l.controls {
		name := l.names[fp]
		for _, src := range leakSources {
			if found[src] {
				r.controls[name] = append(r.controls[name], src)
			} else {
				r.missedControls = append(r.missedControls, fmt.Sprintf("control %s not found in %s", name, src))
			}
		}
	}
	sort.Strings(r.missedControls)
	return r
}

// sampleControl proves the scanner on real text (harness.ProveFinds): a planted
// secret, appended to sample in every form, must be found in every form.
func sampleControl(sample []byte) error { return harness.ProveFinds(string(sample)) }

// errNoLog is returned when there is no manager log to sample.
var errNoLog = errors.New("no manager log to sample")

// logSample returns the start of the first manager log, for the synthetic
// control and the verbosity check.
func (s *soak) logSample() ([]byte, error) {
	logs := s.m.allLogs()
	if len(logs) == 0 {
		return nil, errNoLog
	}
	f, err := os.Open(logs[0])
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	return io.ReadAll(io.LimitReader(f, 4<<20))
}
