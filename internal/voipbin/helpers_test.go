package voipbin_test

import (
	"sync"
	"testing"
	"time"

	"github.com/voipbin/credential-operator/internal/voipbin"
	"github.com/voipbin/credential-operator/internal/voipbin/voipbintest"
)

// The credentials every test uses. They are distinctive so that the leak test
// can look for them (and their base64 forms) in error strings.
const (
	testUser     = "agent@example.com"
	testPassword = "pw-Zq81-SECRET-never-print"
)

// fixture is a started stand-in with one agent and one accesskey.
type fixture struct {
	s   *voipbintest.Server
	key voipbintest.AccessKey
}

func newFixture(t *testing.T, opts ...voipbintest.Option) *fixture {
	t.Helper()
	s := voipbintest.NewServer(t, opts...)
	s.AddAgent(testUser, testPassword, "")
	key := s.AddAccessKey(voipbintest.AccessKey{Name: "primary", Detail: "the key under test"})
	return &fixture{s: s, key: key}
}

// client returns a Client for the fixture's stand-in.
func (f *fixture) client(t *testing.T, opts voipbin.Options) *voipbin.Client {
	t.Helper()
	return newClient(t, f.s.URL(), opts)
}

func newClient(t *testing.T, url string, opts voipbin.Options) *voipbin.Client {
	t.Helper()
	c, err := voipbin.New(url, opts)
	if err != nil {
		t.Fatalf("New(%q): %v", url, err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// fakeClock is a settable clock for Options.Now and voipbintest.WithClock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{now: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// observation is one Observer call.
type observation struct {
	operation, code string
	duration        time.Duration
}

// recordingObserver records Observer calls.
type recordingObserver struct {
	mu   sync.Mutex
	seen []observation
}

func (o *recordingObserver) ObserveRequest(operation, code string, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seen = append(o.seen, observation{operation, code, d})
}

func (o *recordingObserver) observations() []observation {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]observation(nil), o.seen...)
}
