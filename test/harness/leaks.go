package harness

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
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

// LeakScanner looks for every form of every password, token and accesskey it was
// told about. It is safe for concurrent use.
type LeakScanner struct {
	mu      sync.Mutex
	secrets map[string]string // secret -> kind
	issuers []issuer
}

// issuer yields secrets known only later, such as the tokens a stand-in issued.
type issuer struct {
	kind   string
	issued func() []string
}

// NewLeakScanner returns a scanner that knows no secret yet.
func NewLeakScanner() *LeakScanner { return &LeakScanner{secrets: map[string]string{}} }

// Add registers secrets of kind. Secrets shorter than MinSecretLength are ignored.
func (l *LeakScanner) Add(kind string, secrets ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range secrets {
		if len(s) >= MinSecretLength {
			l.secrets[s] = kind
		}
	}
}

// AddIssuer registers a source of secrets of kind read at every scan, such as a
// stand-in's IssuedTokens.
func (l *LeakScanner) AddIssuer(kind string, issued func() []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.issuers = append(l.issuers, issuer{kind: kind, issued: issued})
}

// known returns every secret known now, with its kind.
func (l *LeakScanner) known() map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]string, len(l.secrets))
	for s, kind := range l.secrets {
		out[s] = kind
	}
	for _, is := range l.issuers {
		for _, s := range is.issued() {
			if len(s) >= MinSecretLength {
				out[s] = is.kind
			}
		}
	}
	return out
}

// Secrets returns how many secrets a scan looks for now.
func (l *LeakScanner) Secrets() int { return len(l.known()) }

// Scan returns every form of every known secret found in text, which came from
// source, sorted.
func (l *LeakScanner) Scan(source, text string) []Leak {
	known := l.known()
	var leaks []Leak
	for secret, kind := range known {
		for name, form := range Forms(secret) {
			at := strings.Index(text, form)
			if at < 0 {
				continue
			}
			leaks = append(leaks, Leak{Source: source, Kind: kind, Fingerprint: fingerprint(secret), Form: name,
				Context: maskedContext(text, at, len(form), known)})
		}
	}
	sort.Slice(leaks, func(i, j int) bool { return leaks[i].String() < leaks[j].String() })
	return leaks
}

// maskedContext returns the text around text[at:at+n] with every byte of every
// occurrence of every form of every known secret replaced: runs of masked bytes
// read <SECRET>, also where an occurrence is cut by the context's edges.
func maskedContext(text string, at, n int, known map[string]string) string {
	from, to := max(0, at-contextBytes), min(len(text), at+n+contextBytes)
	masked := make([]bool, to-from)
	for secret := range known {
		for _, form := range Forms(secret) {
			// Occurrences starting up to len(form) before the context reach into it.
			lo, hi := max(0, from-len(form)), min(len(text), to+len(form))
			for i := lo; i < hi; {
				j := strings.Index(text[i:hi], form)
				if j < 0 {
					break
				}
				for k := i + j; k < i+j+len(form); k++ {
					if k >= from && k < to {
						masked[k-from] = true
					}
				}
				i += j + 1
			}
		}
	}
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

func fingerprint(secret string) string {
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

// ClusterText returns, as JSON, every event (events.k8s.io and core) and every
// VoipbinCredential, status included, in namespace ns ("" for all): what a leak
// scan reads besides logs and metrics.
func ClusterText(ctx context.Context, c client.Reader, ns string) (events, credentials string, err error) {
	newEvents, coreEvents := &eventsv1.EventList{}, &corev1.EventList{}
	vbcs := &v1alpha1.VoipbinCredentialList{}
	texts := make([]string, 3)
	for i, list := range []client.ObjectList{newEvents, coreEvents, vbcs} {
		if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
			return "", "", err
		}
		data, err := json.Marshal(list)
		if err != nil {
			return "", "", err
		}
		texts[i] = string(data)
	}
	return texts[0] + "\n" + texts[1], texts[2], nil
}
