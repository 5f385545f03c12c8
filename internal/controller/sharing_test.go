package controller

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voipbin/credential-operator/internal/voipbin"
)

// waitingCtx counts the calls of Done: loginSharing.login calls it only when it
// waits for a login in flight, so the test knows every caller is waiting
// before it lets the one login finish.
type waitingCtx struct {
	context.Context
	waiting *atomic.Int32
}

func (c waitingCtx) Done() <-chan struct{} {
	c.waiting.Add(1)
	return c.Context.Done()
}

// blockingLoginFunc is a do function that counts its calls and answers only when
// release is closed.
type blockingLoginFunc struct {
	calls   atomic.Int32
	started chan struct{}
	release chan struct{}
	token   voipbin.Token
	err     error
}

func newBlockingLoginFunc(tok voipbin.Token, err error) *blockingLoginFunc {
	return &blockingLoginFunc{started: make(chan struct{}, 100), release: make(chan struct{}), token: tok, err: err}
}

func (b *blockingLoginFunc) do(ctx context.Context) (voipbin.Token, error) {
	b.calls.Add(1)
	b.started <- struct{}{}
	select {
	case <-b.release:
		return b.token, b.err
	case <-ctx.Done():
		return voipbin.Token{}, ctx.Err()
	}
}

// countingLoginFunc is a do function that answers at once.
type countingLoginFunc struct {
	calls atomic.Int32
	token voipbin.Token
	err   error
}

func (c *countingLoginFunc) do(context.Context) (voipbin.Token, error) {
	c.calls.Add(1)
	return c.token, c.err
}

func sharingToken(jwt string, issued time.Time, lifetime time.Duration) voipbin.Token {
	return voipbin.Token{JWT: jwt, IssuedAt: issued, ExpiresAt: issued.Add(lifetime), ExpirySource: voipbin.ExpiryFromExpire}
}

func reuseAlways(voipbin.Token) bool { return true }
func reuseNever(voipbin.Token) bool  { return false }

// pollUntil polls testCond for up to 10 s.
func pollUntil(t *testing.T, what string, testCond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !testCond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

type sharedLoginResult struct {
	tok    voipbin.Token
	shared bool
	err    error
}

// concurrentLogins starts one login that blocks in do, then n-1 more with the
// same key, and waits until they all wait for the first.
func concurrentLogins(t *testing.T, s *loginSharing, key string, n int, now time.Time,
	b *blockingLoginFunc) chan sharedLoginResult {
	t.Helper()
	results := make(chan sharedLoginResult, n)
	var wg sync.WaitGroup
	call := func(ctx context.Context) {
		defer wg.Done()
		// reuseNever: the cache is not what makes them share.
		tok, shared, err := s.login(ctx, key, false, now, reuseNever, b.do)
		results <- sharedLoginResult{tok, shared, err}
	}
	wg.Add(1)
	go call(context.Background())
	<-b.started
	waiting := &atomic.Int32{}
	for range n - 1 {
		wg.Add(1)
		go call(waitingCtx{Context: context.Background(), waiting: waiting})
	}
	pollUntil(t, "every caller to wait for the login in flight", func() bool { return waiting.Load() == int32(n-1) })
	go func() { wg.Wait(); close(results) }()
	return results
}

func TestLoginSharingConcurrentCallsShareOneLogin(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tok := sharingToken("jwt-shared", now, 7*24*time.Hour)
	s := newLoginSharing()
	b := newBlockingLoginFunc(tok, nil)
	const n = 8
	results := concurrentLogins(t, s, "key-1", n, now, b)
	close(b.release)

	var own int
	for r := range results {
		if r.err != nil {
			t.Fatalf("login: %v", r.err)
		}
		if r.tok != tok {
			t.Errorf("token = %+v, want %+v", r.tok, tok)
		}
		if !r.shared {
			own++
		}
	}
	if got := b.calls.Load(); got != 1 {
		t.Errorf("%d concurrent identical logins made %d API calls, want 1", n, got)
	}
	if own != 1 {
		t.Errorf("%d callers report their own call, want exactly 1", own)
	}
}

func TestLoginSharingFailedCallIsSharedButNotCached(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	loginErr := &voipbin.APIError{Operation: voipbin.OperationLogin, StatusCode: 503}
	s := newLoginSharing()
	// The failed call hands back a token that looks usable: it must not be
	// kept all the same.
	b := newBlockingLoginFunc(sharingToken("jwt-from-a-failed-call", now, time.Hour), loginErr)
	const n = 5
	results := concurrentLogins(t, s, "key-1", n, now, b)
	close(b.release)
	for r := range results {
		if !errors.Is(r.err, loginErr) {
			t.Errorf("err = %v, want the shared login's error", r.err)
		}
	}
	if got := b.calls.Load(); got != 1 {
		t.Errorf("%d concurrent identical logins made %d API calls, want 1", n, got)
	}

	// Nothing was cached: the next login calls the API, even with a reusable
	// check that accepts anything.
	next := &countingLoginFunc{token: sharingToken("jwt-2", now, time.Hour)}
	tok, shared, err := s.login(context.Background(), "key-1", false, now, reuseAlways, next.do)
	if err != nil || shared || tok.JWT != "jwt-2" || next.calls.Load() != 1 {
		t.Errorf("after a failed login: token %q, shared %t, err %v, calls %d; want a new call",
			tok.JWT, shared, err, next.calls.Load())
	}
}

func TestLoginSharingWaiterContextEnds(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	s := newLoginSharing()
	b := newBlockingLoginFunc(sharingToken("jwt-1", now, time.Hour), nil)
	first := make(chan sharedLoginResult, 1)
	go func() {
		tok, shared, err := s.login(context.Background(), "key-1", false, now, reuseNever, b.do)
		first <- sharedLoginResult{tok, shared, err}
	}()
	<-b.started

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := s.login(ctx, "key-1", false, now, reuseNever, b.do)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("waiter with an ended context: err = %v, want context.Canceled", err)
	}
	close(b.release)
	if r := <-first; r.err != nil || r.tok.JWT != "jwt-1" || r.shared {
		t.Errorf("the login in flight: %+v", r)
	}
	if got := b.calls.Load(); got != 1 {
		t.Errorf("%d API calls, want 1", got)
	}
}

func TestLoginSharingDifferentKeysDoNotShare(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	s := newLoginSharing()
	a := newBlockingLoginFunc(sharingToken("jwt-a", now, time.Hour), nil)
	done := make(chan sharedLoginResult, 1)
	go func() {
		tok, shared, err := s.login(context.Background(), "key-a", false, now, reuseAlways, a.do)
		done <- sharedLoginResult{tok, shared, err}
	}()
	<-a.started

	// While key-a is in flight, key-b makes its own call and does not wait.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b := &countingLoginFunc{token: sharingToken("jwt-b", now, time.Hour)}
	tok, shared, err := s.login(ctx, "key-b", false, now, reuseAlways, b.do)
	if err != nil || shared || tok.JWT != "jwt-b" || b.calls.Load() != 1 {
		t.Errorf("key-b: token %q, shared %t, err %v, calls %d; want its own call", tok.JWT, shared, err, b.calls.Load())
	}
	close(a.release)
	if r := <-done; r.err != nil || r.tok.JWT != "jwt-a" || r.shared {
		t.Errorf("key-a: %+v", r)
	}

	// Each key's cache holds its own token.
	for key, want := range map[string]string{"key-a": "jwt-a", "key-b": "jwt-b"} {
		c := &countingLoginFunc{token: sharingToken("jwt-new", now, time.Hour)}
		tok, shared, err := s.login(context.Background(), key, false, now, reuseAlways, c.do)
		if err != nil || !shared || tok.JWT != want || c.calls.Load() != 0 {
			t.Errorf("%s from the cache: token %q, shared %t, err %v, calls %d; want %q without a call",
				key, tok.JWT, shared, err, c.calls.Load(), want)
		}
	}
}

func TestLoginSharingCache(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	cached := sharingToken("jwt-cached", now, time.Hour)

	tests := []struct {
		name     string
		fresh    bool
		at       time.Time
		reusable func(voipbin.Token) bool
		wantJWT  string
		wantCall bool
	}{
		{name: "a reusable token is returned without a call", at: now.Add(time.Minute), reusable: reuseAlways,
			wantJWT: "jwt-cached"},
		{name: "a token the caller cannot use is not returned", at: now.Add(time.Minute), reusable: reuseNever,
			wantJWT: "jwt-new", wantCall: true},
		{name: "fresh bypasses the cache", fresh: true, at: now.Add(time.Minute), reusable: reuseAlways,
			wantJWT: "jwt-new", wantCall: true},
		{name: "an expired token is reuseNever returned", at: now.Add(time.Hour), reusable: reuseAlways,
			wantJWT: "jwt-new", wantCall: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newLoginSharing()
			first := &countingLoginFunc{token: cached}
			if _, shared, err := s.login(context.Background(), "key-1", false, now, reuseAlways, first.do); err != nil ||
				shared || first.calls.Load() != 1 {
				t.Fatalf("first login: shared %t, err %v, calls %d", shared, err, first.calls.Load())
			}

			var offered []voipbin.Token
			reusable := func(tok voipbin.Token) bool { offered = append(offered, tok); return tt.reusable(tok) }
			next := &countingLoginFunc{token: sharingToken("jwt-new", tt.at, time.Hour)}
			tok, shared, err := s.login(context.Background(), "key-1", tt.fresh, tt.at, reusable, next.do)
			if err != nil {
				t.Fatalf("login: %v", err)
			}
			if tok.JWT != tt.wantJWT {
				t.Errorf("token %q, want %q", tok.JWT, tt.wantJWT)
			}
			if called := next.calls.Load() == 1; called != tt.wantCall || shared == tt.wantCall {
				t.Errorf("API called: %t, shared %t; want called %t", called, shared, tt.wantCall)
			}
			for _, o := range offered {
				if o != cached {
					t.Errorf("reusable was offered %+v, want the cached token", o)
				}
			}
		})
	}
}

func TestLoginSharingNewTokenIsCached(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	s := newLoginSharing()
	first := &countingLoginFunc{token: sharingToken("jwt-1", now, time.Hour)}
	if _, _, err := s.login(context.Background(), "k", false, now, reuseAlways, first.do); err != nil {
		t.Fatal(err)
	}
	// A fresh login replaces the cached token with the newer one.
	later := now.Add(10 * time.Minute)
	second := &countingLoginFunc{token: sharingToken("jwt-2", later, time.Hour)}
	if tok, _, err := s.login(context.Background(), "k", true, later, reuseAlways, second.do); err != nil || tok.JWT != "jwt-2" {
		t.Fatalf("fresh login: %q, %v", tok.JWT, err)
	}
	third := &countingLoginFunc{token: sharingToken("jwt-3", later, time.Hour)}
	tok, shared, err := s.login(context.Background(), "k", false, later, reuseAlways, third.do)
	if err != nil || !shared || tok.JWT != "jwt-2" || third.calls.Load() != 0 {
		t.Errorf("after a fresh login: token %q, shared %t, err %v, calls %d; want jwt-2 from the cache",
			tok.JWT, shared, err, third.calls.Load())
	}
}

// endpoint is where and how a login is sent, as sharedLoginKey takes it; Hash
// stands for the status' endpoint hash, which must not matter.
type endpoint struct {
	URL                string
	InsecureSkipVerify bool
	CAPEM              []byte
	Hash               string
}

func TestSharedLoginKey(t *testing.T) {
	const password = "correct horse battery staple"
	s := newLoginSharing()
	base := endpoint{URL: "https://api.voipbin.net", CAPEM: []byte("-----BEGIN CERTIFICATE-----\nMIIB\n"), Hash: "h1"}
	key := s.sharedLoginKey(base.URL, base.InsecureSkipVerify, base.CAPEM, "alice@example.com", password)
	if key == "" {
		t.Fatal("empty key")
	}
	if again := s.sharedLoginKey(base.URL, base.InsecureSkipVerify, base.CAPEM, "alice@example.com", password); again != key {
		t.Errorf("same inputs give different keys: %q, %q", key, again)
	}
	// The endpoint's Hash is derived from URL and TLS settings (and the CA
	// Secret's version): the CA's content is what counts.
	rehashed := base
	rehashed.Hash = "h2"
	if got := s.sharedLoginKey(rehashed.URL, rehashed.InsecureSkipVerify, rehashed.CAPEM, "alice@example.com", password); got != key {
		t.Errorf("another endpoint Hash with the same URL, TLS settings and CA gives another key")
	}

	type inputs struct {
		ep                 endpoint
		username, password string
	}
	tests := []struct {
		name string
		a, b inputs
	}{
		{name: "URL", a: inputs{base, "alice@example.com", password},
			b: inputs{endpoint{URL: "https://api.voipbin.net/", CAPEM: base.CAPEM}, "alice@example.com", password}},
		{name: "insecure flag", a: inputs{endpoint{URL: "https://api.voipbin.net"}, "alice@example.com", password},
			b: inputs{endpoint{URL: "https://api.voipbin.net", InsecureSkipVerify: true}, "alice@example.com", password}},
		{name: "CA", a: inputs{base, "alice@example.com", password},
			b: inputs{endpoint{URL: base.URL, CAPEM: []byte("-----BEGIN CERTIFICATE-----\nMIIC\n")}, "alice@example.com", password}},
		{name: "CA or none", a: inputs{base, "alice@example.com", password},
			b: inputs{endpoint{URL: base.URL}, "alice@example.com", password}},
		{name: "username", a: inputs{base, "alice@example.com", password}, b: inputs{base, "bob@example.com", password}},
		{name: "password", a: inputs{base, "alice@example.com", password}, b: inputs{base, "alice@example.com", password + "!"}},
		{name: "boundary between username and password",
			a: inputs{base, "alice", "xpassword"}, b: inputs{base, "alicex", "password"}},
		{name: "boundary between CA and username",
			a: inputs{endpoint{URL: base.URL, CAPEM: []byte("CA")}, "alice", "pw"},
			b: inputs{endpoint{URL: base.URL, CAPEM: []byte("CAa")}, "lice", "pw"}},
		// Secret values are bytes: a NUL in a username or password must not let
		// two different logins share a key.
		{name: "NUL moved between username and password",
			a: inputs{base, "alice\x00x", "pw"}, b: inputs{base, "alice", "x\x00pw"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ka := s.sharedLoginKey(tt.a.ep.URL, tt.a.ep.InsecureSkipVerify, tt.a.ep.CAPEM, tt.a.username, tt.a.password)
			kb := s.sharedLoginKey(tt.b.ep.URL, tt.b.ep.InsecureSkipVerify, tt.b.ep.CAPEM, tt.b.username, tt.b.password)
			if ka == kb {
				t.Errorf("different login inputs share the key %q", ka)
			}
		})
	}

	t.Run("no password in the key", func(t *testing.T) {
		for _, form := range []string{password, "horse", hex.EncodeToString([]byte(password)),
			base64.StdEncoding.EncodeToString([]byte(password)), base64.RawURLEncoding.EncodeToString([]byte(password))} {
			if strings.Contains(key, form) {
				t.Errorf("the key %q holds %q", key, form)
			}
		}
	})
	t.Run("per-process key", func(t *testing.T) {
		// An HMAC under a random key: another process (another loginSharing)
		// computes another key, so the key is no reusable password hash.
		if other := newLoginSharing().sharedLoginKey(base.URL, base.InsecureSkipVerify, base.CAPEM, "alice@example.com", password); other == key {
			t.Error("two loginSharings compute the same key")
		}
	})
}
