package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
)

// Sources the leak scan reads (invariant 4).
const (
	srcLogs    = "logs"
	srcEvents  = "events"
	srcStatus  = "status"
	srcMetrics = "metrics"
)

var leakSources = []string{srcLogs, srcEvents, srcStatus, srcMetrics}

// prefixLen is the length of the prefix the scanner indexes its needles by:
// every form of every secret is longer.
const prefixLen = 12

// needle is one form of one secret.
type needle struct {
	form string
	// id names the secret without revealing it: its kind and a fingerprint.
	id       string
	formName string
	control  bool
}

// leakScanner looks for every form (raw, the four base64 alphabets, a JWT's
// signature alone) of every password, token and accesskey the soak knows, in
// one pass over each text: needles are indexed by their first prefixLen bytes.
type leakScanner struct {
	mu       sync.RWMutex
	byPrefix map[string][]needle
	// seen has a bit for the first three bytes of every needle: most text
	// positions are ruled out by one array read, before any map lookup.
	seen    []uint64
	secrets int

	hitsMu   sync.Mutex
	leaks    map[string]string          // "source|id|form" -> first occurrence context (sanitized)
	controls map[string]map[string]bool // control id -> sources where found
	bytes    map[string]int64
	texts    map[string]int
}

func newLeakScanner() *leakScanner {
	return &leakScanner{byPrefix: map[string][]needle{}, seen: make([]uint64, 1<<24/64), leaks: map[string]string{},
		controls: map[string]map[string]bool{}, bytes: map[string]int64{}, texts: map[string]int{}}
}

// secretForms returns the forms in which a secret could leak, by name.
func secretForms(secret string) map[string]string {
	forms := map[string]string{
		"raw":        secret,
		"base64":     base64.StdEncoding.EncodeToString([]byte(secret)),
		"base64url":  base64.URLEncoding.EncodeToString([]byte(secret)),
		"base64raw":  base64.RawStdEncoding.EncodeToString([]byte(secret)),
		"base64rurl": base64.RawURLEncoding.EncodeToString([]byte(secret)),
	}
	if parts := strings.Split(secret, "."); len(parts) == 3 && len(parts[2]) >= 16 {
		forms["jwt-signature"] = parts[2]
	}
	return forms
}

// add registers a secret of kind ("password", "token", "accesskey").
func (l *leakScanner) add(kind, secret string) {
	if len(secret) < prefixLen {
		return
	}
	id := kind + " " + fingerprint(secret)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.secrets++
	for name, form := range secretForms(secret) {
		if len(form) < prefixLen {
			continue
		}
		l.index(needle{form: form, id: id, formName: name})
	}
}

// index adds n. l.mu must be held.
func (l *leakScanner) index(n needle) {
	k := n.form[:prefixLen]
	l.byPrefix[k] = append(l.byPrefix[k], n)
	b := first3(n.form)
	l.seen[b/64] |= 1 << (b % 64)
}

func first3[T string | []byte](s T) uint32 { return uint32(s[0])<<16 | uint32(s[1])<<8 | uint32(s[2]) }

// addControl registers a positive control: a string that must be found (in
// its raw form) in every source.
func (l *leakScanner) addControl(id, s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.index(needle{form: s, id: id, formName: "raw", control: true})
	l.hitsMu.Lock()
	l.controls[id] = map[string]bool{}
	l.hitsMu.Unlock()
}

// scan scans text from source.
func (l *leakScanner) scan(source string, text []byte) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	l.hitsMu.Lock()
	l.bytes[source] += int64(len(text))
	l.texts[source]++
	l.hitsMu.Unlock()
	for i := 0; i+prefixLen <= len(text); i++ {
		if b := first3(text[i:]); l.seen[b/64]&(1<<(b%64)) == 0 {
			continue
		}
		candidates, ok := l.byPrefix[string(text[i:i+prefixLen])]
		if !ok {
			continue
		}
		for _, n := range candidates {
			if !bytes.HasPrefix(text[i:], []byte(n.form)) {
				continue
			}
			l.hitsMu.Lock()
			if n.control {
				l.controls[n.id][source] = true
			} else if key := source + "|" + n.id + "|" + n.formName; l.leaks[key] == "" {
				l.leaks[key] = redactedContext(text, i, len(n.form))
			}
			l.hitsMu.Unlock()
		}
	}
}

// redactedContext shows where a leak was found with the secret itself masked.
func redactedContext(text []byte, at, n int) string {
	from, to := max(at-80, 0), min(at+n+80, len(text))
	s := string(text[from:at]) + "<SECRET>" + string(text[at+n:to])
	return strings.ReplaceAll(s, "\n", " ")
}

// scanFile scans a file in chunks that overlap by more than the longest form.
func (l *leakScanner) scanFile(source, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	const chunk, overlap = 4 << 20, 4 << 10
	buf := make([]byte, 0, chunk+overlap)
	for {
		n, err := io.ReadFull(f, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > 0 {
			l.scan(source, buf)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil
		}
		if err != nil {
			return err
		}
		keep := buf[max(len(buf)-overlap, 0):]
		buf = append(buf[:0], keep...)
	}
}

// leakResult is invariant 4's outcome.
type leakResult struct {
	secrets  int
	bytes    map[string]int64
	texts    map[string]int
	leaks    []string // "source: id (form): context"
	controls map[string][]string
	// missedControls lists the controls not found in a source.
	missedControls []string
}

func (l *leakScanner) result() leakResult {
	l.mu.RLock()
	secrets := l.secrets
	l.mu.RUnlock()
	l.hitsMu.Lock()
	defer l.hitsMu.Unlock()
	r := leakResult{secrets: secrets, bytes: map[string]int64{}, texts: map[string]int{}, controls: map[string][]string{}}
	for k, v := range l.bytes {
		r.bytes[k] = v
	}
	for k, v := range l.texts {
		r.texts[k] = v
	}
	for key, ctx := range l.leaks {
		parts := strings.SplitN(key, "|", 3)
		r.leaks = append(r.leaks, fmt.Sprintf("%s: %s (%s): %s", parts[0], parts[1], parts[2], ctx))
	}
	sort.Strings(r.leaks)
	for id, found := range l.controls {
		for _, src := range leakSources {
			if found[src] {
				r.controls[id] = append(r.controls[id], src)
			} else {
				r.missedControls = append(r.missedControls, fmt.Sprintf("control %s not found in %s", id, src))
			}
		}
	}
	sort.Strings(r.missedControls)
	return r
}

// syntheticControl proves the matcher on real text: a planted secret, appended
// to sample in every form, must be found in every form.
func syntheticControl(sample []byte) error {
	planted := "planted-" + randomString(24)
	s := newLeakScanner()
	s.add("planted", planted)
	text := append([]byte(nil), sample...)
	forms := secretForms(planted)
	for _, f := range forms {
		text = append(text, []byte("\n{\"msg\":\"x\",\"value\":\""+f+"\"}\n")...)
	}
	s.scan("sample", text)
	if got := len(s.result().leaks); got != len(forms) {
		return fmt.Errorf("the scanner found %d of the %d forms of a planted secret", got, len(forms))
	}
	return nil
}

// randomString returns n random lowercase letters and digits.
func randomString(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
