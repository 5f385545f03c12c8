package controller

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"sync"
	"time"

	"github.com/voipbin/credential-operator/internal/voipbin"
)

// loginSharing lets VoipbinCredentials with identical login inputs (API URL, TLS
// settings, username and password) share one API call: concurrent logins wait for
// the one in flight, and a token obtained earlier is reused while it is still
// good for the asking credential. Everything lives in memory only; the key is an
// HMAC under a random per-process key, so even a memory dump yields no password
// hash that outlives the process.
type loginSharing struct {
	secret []byte

	mu       sync.Mutex
	inflight map[string]*sharedLogin
	tokens   map[string]voipbin.Token
}

type sharedLogin struct {
	done  chan struct{}
	token voipbin.Token
	err   error
}

func newLoginSharing() *loginSharing {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	return &loginSharing{secret: secret, inflight: map[string]*sharedLogin{}, tokens: map[string]voipbin.Token{}}
}

// sharedLoginKey identifies identical login inputs.
func (s *loginSharing) sharedLoginKey(apiURL string, insecureSkipVerify bool, caPEM []byte, username, password string) string {
	m := hmac.New(sha256.New, s.secret)
	for _, part := range []string{apiURL, boolString(insecureSkipVerify), string(caPEM), username, password} {
		// Length-prefixed: Secret values may hold any byte, so no separator alone
		// keeps two different logins apart.
		_ = binary.Write(m, binary.BigEndian, uint64(len(part)))
		m.Write([]byte(part))
	}
	return hex.EncodeToString(m.Sum(nil))
}

func boolString(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// login returns a token for key. Unless fresh is set, a stored token for which
// reusable answers true is returned without an API call. Otherwise it joins the
// login in flight for key, or makes one with do. shared reports that no call of
// the caller's own was made.
func (s *loginSharing) login(ctx context.Context, key string, fresh bool, now time.Time,
	reusable func(voipbin.Token) bool, do func(context.Context) (voipbin.Token, error)) (tok voipbin.Token, shared bool, err error) {
	s.mu.Lock()
	s.dropExpiredLocked(now)
	if t, ok := s.tokens[key]; ok && !fresh && reusable(t) {
		s.mu.Unlock()
		return t, true, nil
	}
	if call, ok := s.inflight[key]; ok {
		s.mu.Unlock()
		select {
		case <-call.done:
			return call.token, true, call.err
		case <-ctx.Done():
			return voipbin.Token{}, true, ctx.Err()
		}
	}
	call := &sharedLogin{done: make(chan struct{})}
	s.inflight[key] = call
	s.mu.Unlock()

	call.token, call.err = do(ctx)

	s.mu.Lock()
	delete(s.inflight, key)
	if call.err == nil {
		if old, ok := s.tokens[key]; !ok || call.token.ExpiresAt.After(old.ExpiresAt) {
			s.tokens[key] = call.token
		}
	}
	s.mu.Unlock()
	close(call.done)
	return call.token, false, call.err
}

// dropExpiredLocked forgets expired tokens, so that memory follows the number of
// distinct logins in use.
func (s *loginSharing) dropExpiredLocked(now time.Time) {
	for k, t := range s.tokens {
		if !t.ExpiresAt.After(now) {
			delete(s.tokens, k)
		}
	}
}
