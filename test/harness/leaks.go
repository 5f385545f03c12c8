package harness

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

// MinSecretLength is the shortest secret the scanner looks for: shorter strings
// occur in ordinary text by chance.
const MinSecretLength = 8

// contextBytes is how much text around a leak a report shows (secrets masked).
const contextBytes = 80

// Forms returns, by name, the forms in which secret could leak: raw, base64 in the
// standard and URL alphabets, each padded and unpadded (Secret data is std base64;
// JWT parts are unpadded URL base64), and for a JWT its signature alone.
func Forms(secret string) map[string]string {
	b := []byte(secret)
	forms := map[string]string{
		"raw":              secret,
		"base64-std":       base64.StdEncoding.EncodeToString(b),
		"base64-url":       base64.URLEncoding.EncodeToString(b),
		"base64-std-nopad": base64.RawStdEncoding.EncodeToString(b),
		"base64-url-nopad": base64.RawURLEncoding.EncodeToString(b),
	}
	if parts := strings.Split(secret, "."); len(parts) == 3 && len(parts[2]) >= 16 {
		forms["jwt-signature"] = parts[2]
	}
	return forms
}

// Leak is one form of one secret found in one source.
type Leak struct {
	// Source names the text scanned ("logs of manager 3", "events", "status").
	Source string
	// Kind is the secret's kind ("password", "token", "accesskey") and
	// Fingerprint a short hash of it: a leak report never shows the secret.
	Kind, Fingerprint string
	// Form is the name of the form found (see Forms).
	Form string
	// Context is the text around the first occurrence, every known secret masked.
	Context string
}

func (l Leak) String() string {
	return fmt.Sprintf("%s: %s %s (%s): ...%s...", l.Source, l.Kind, l.Fingerprint, l.Form, l.Context)
}

// indexPrefix is how many leading bytes of a form the scanner indexes it by:
// no form is shorter (MinSecretLength), and eight bytes of random text rarely
// start a form by chance.
const indexPrefix = MinSecretLength

// needle is one form of one secret.
type needle struct {
	form, formName string
	kind           string
	fingerprint    string
}

// LeakScanner looks for every form of every password, token and accesskey it was
// told about, in one pass over a text whatever the number of secrets: the soak
// scans gigabytes of logs for tens of thousands of forms. It is safe for
// concurrent use.
type LeakScanner struct {
	mu      sync.RWMutex
	secrets map[string]bool
	issuers []issuer
	// byPrefix holds the needles by their first indexPrefix bytes.
	byPrefix map[string][]*needle
	// first3 has a bit for the first three bytes of every needle: most
	// positions of a text are ruled out by one read of it, before a map lookup.
	first3 []uint64
	// longest is the length of the longest needle.
	longest int
}

// issuer yields secrets known only later, such as the tokens a stand-in issued.
type issuer struct {
	kind   string
	issued func() []string
}

// NewLeakScanner returns a scanner that knows no secret yet.
func NewLeakScanner() *LeakScanner {
	return &LeakScanner{secrets: map[string]bool{}, byPrefix: map[string][]*needle{}, first3: make([]uint64, 1<<24/64)}
}

// Add registers secrets of kind. Secrets shorter than MinSecretLength are
// ignored, and so is a secret added before (it keeps its first kind).
func (l *LeakScanner) Add(kind string, secrets ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range secrets {
		if len(s) < MinSecretLength || l.secrets[s] {
			continue
		}
		l.secrets[s] = true
		fp := Fingerprint(s)
		for name, form := range Forms(s) {
			n := &needle{form: form, formName: name, kind: kind, fingerprint: fp}
			l.byPrefix[form[:indexPrefix]] = append(l.byPrefix[form[:indexPrefix]], n)
			b := prefix3(form)
			l.first3[b/64] |= 1 << (b % 64)
			l.longest = max(l.longest, len(form))
		}
	}
}

func prefix3(s string) uint32 { return uint32(s[0])<<16 | uint32(s[1])<<8 | uint32(s[2]) }

// AddIssuer registers a source of secrets of kind read at every scan, such as a
// stand-in's IssuedTokens.
func (l *LeakScanner) AddIssuer(kind string, issued func() []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.issuers = append(l.issuers, issuer{kind: kind, issued: issued})
}

// refresh adds what the issuers issued since the last scan.
func (l *LeakScanner) refresh() {
	l.mu.RLock()
	issuers := append([]issuer(nil), l.issuers...)
	l.mu.RUnlock()
	for _, is := range issuers {
		l.Add(is.kind, is.issued()...)
	}
}

// Secrets returns how many secrets a scan looks for now.
func (l *LeakScanner) Secrets() int {
	l.refresh()
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.secrets)
}

// Scan returns the first occurrence of every form of every known secret found
// in text, which came from source, sorted.
func (l *LeakScanner) Scan(source, text string) []Leak {
	l.refresh()
	l.mu.RLock()
	defer l.mu.RUnlock()
	leaks := l.scan(source, text, map[*needle]bool{})
	sortLeaks(leaks)
	return leaks
}

// fileChunk is how much of a file ScanFile holds in memory at once.
const fileChunk = 4 << 20

// ScanFile is Scan of a file of any size, read in chunks that overlap by the
// longest form, so that no occurrence is cut.
func (l *LeakScanner) ScanFile(source, path string) ([]Leak, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	return l.scanReader(source, f, fileChunk)
}

func (l *LeakScanner) scanReader(source string, r io.Reader, chunk int) ([]Leak, error) {
	l.refresh()
	l.mu.RLock()
	defer l.mu.RUnlock()
	overlap := max(l.longest, 1)
	buf := make([]byte, 0, chunk+overlap)
	seen := map[*needle]bool{}
	var leaks []Leak
	for {
		n, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		leaks = append(leaks, l.scan(source, string(buf), seen)...)
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			sortLeaks(leaks)
			return leaks, nil
		}
		if err != nil {
			return leaks, err
		}
		buf = append(buf[:0], buf[len(buf)-overlap:]...)
	}
}

// scan returns a Leak for every needle found in text and not in seen, and adds
// it to seen. l.mu must be held.
func (l *LeakScanner) scan(source, text string, seen map[*needle]bool) []Leak {
	var leaks []Leak
	l.match(text, func(n *needle, at int) {
		if seen[n] {
			return
		}
		seen[n] = true
		leaks = append(leaks, Leak{Source: source, Kind: n.kind, Fingerprint: n.fingerprint, Form: n.formName,
			Context: l.maskedContext(text, at, len(n.form))})
	})
	return leaks
}

// match calls found for every occurrence of every needle in text. l.mu must be held.
func (l *LeakScanner) match(text string, found func(n *needle, at int)) {
	for i := 0; i+indexPrefix <= len(text); i++ {
		if b := prefix3(text[i:]); l.first3[b/64]&(1<<(b%64)) == 0 {
			continue
		}
		for _, n := range l.byPrefix[text[i:i+indexPrefix]] {
			if strings.HasPrefix(text[i:], n.form) {
				found(n, i)
			}
		}
	}
}

func sortLeaks(leaks []Leak) {
	sort.Slice(leaks, func(i, j int) bool { return leaks[i].String() < leaks[j].String() })
}

// maskedContext returns the text around text[at:at+n] with every byte of every
// occurrence of every form of every known secret replaced: runs of masked bytes
// read <SECRET>, also where an occurrence is cut by the context's edges.
// l.mu must be held.
func (l *LeakScanner) maskedContext(text string, at, n int) string {
	from, to := max(0, at-contextBytes), min(len(text), at+n+contextBytes)
	masked := make([]bool, to-from)
	// Occurrences starting up to the longest form before the context reach into it.
	lo, hi := max(0, from-l.longest), min(len(text), to+l.longest)
	l.match(text[lo:hi], func(nd *needle, j int) {
		for k := max(lo+j, from); k < min(lo+j+len(nd.form), to); k++ {
			masked[k-from] = true
		}
	})
	var b strings.Builder
	for i := range masked {
		switch {
		case !masked[i]:
			b.WriteByte(text[from+i])
		case i == 0 || !masked[i-1]:
			b.WriteString("<SECRET>")
		}
	}
	return strings.ReplaceAll(b.String(), "\n", " ")
}

// Fingerprint names a secret without revealing it: the first 4 bytes of its
// SHA-256, in hex.
func Fingerprint(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:4])
}

// ProveFinds is the scanner's positive control on real text: a random secret,
// planted in sample in every form, must be found in every form, and not in sample
// without it. It returns an error saying what was missed.
func ProveFinds(sample string) error {
	planted := "planted-" + RandomString(24) + "." + RandomString(8) + "." + RandomString(24)
	control := NewLeakScanner()
	control.Add("planted", planted)
	if found := control.Scan("sample", sample); len(found) > 0 {
		return fmt.Errorf("the scanner found a secret that is not in the sample: %v", found)
	}
	var b strings.Builder
	b.WriteString(sample)
	forms := Forms(planted)
	for name, form := range forms {
		fmt.Fprintf(&b, "\n{\"level\":\"debug\",\"msg\":\"control\",\"form\":%q,\"value\":%q}\n", name, form)
	}
	found := map[string]bool{}
	for _, leak := range control.Scan("sample", b.String()) {
		found[leak.Form] = true
		if strings.Contains(leak.Context, planted) {
			return fmt.Errorf("a leak report shows the secret itself: %s", leak)
		}
	}
	for name := range forms {
		if !found[name] {
			return fmt.Errorf("the scanner missed the planted secret's %s form", name)
		}
	}
	return nil
}

// RandomString returns n random lowercase letters and digits: passwords and
// other values a test must be able to find again.
func RandomString(n int) string {
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

// ClusterText is what a leak scan reads of a cluster besides logs and metrics.
type ClusterText struct {
	// Events holds every event (events.k8s.io and core) as JSON; EventCount
	// counts them.
	Events     string
	EventCount int
	// Credentials holds every VoipbinCredential, status included, as JSON.
	Credentials string
}

// ReadClusterText reads the ClusterText of namespace ns ("" for all).
func ReadClusterText(ctx context.Context, c client.Reader, ns string) (ClusterText, error) {
	newEvents, coreEvents := &eventsv1.EventList{}, &corev1.EventList{}
	vbcs := &v1alpha1.VoipbinCredentialList{}
	texts := make([]string, 3)
	for i, list := range []client.ObjectList{newEvents, coreEvents, vbcs} {
		if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
			return ClusterText{}, err
		}
		data, err := json.Marshal(list)
		if err != nil {
			return ClusterText{}, err
		}
		texts[i] = string(data)
	}
	return ClusterText{Events: texts[0] + "\n" + texts[1], EventCount: len(newEvents.Items) + len(coreEvents.Items),
		Credentials: texts[2]}, nil
}
