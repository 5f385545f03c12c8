// Package voipbintest is an in-memory stand-in for the VoIPBIN API, faithful
// to how the real server behaves, quirks included: the bare 400 of a failed
// login, the credential precedence with no fallback, a next_page_token that
// is never empty on the last page, expired keys still listed, listings
// ordered and paged by a tm_create no two keys share. Tests drive it over
// real HTTP (httptest, plain or TLS); cmd/demo and cmd/voipbin-standin serve
// it on a real listener.
//
// On top of the API it offers what tests need: fault injection per path
// (status, hang, connection reset, garbage, oversized body, redirect), a
// persistent "down" switch, VoIPBIN's rate limits (switchable), and a record
// of every request. Everything is safe for concurrent use.
package voipbintest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// maxRequestBody bounds a request body the stand-in reads.
const maxRequestBody = 1 << 20

// DefaultTokenLifetime is a login token's lifetime on the real server.
const DefaultTokenLifetime = 7 * 24 * time.Hour

// Server is the VoIPBIN stand-in. Create it with New, add agents and keys,
// then Start, StartTLS or serve Handler yourself.
type Server struct {
	mux        *http.ServeMux
	signingKey []byte
	now        func() time.Time
	logRequest func(Request)

	mu                sync.Mutex
	defaultCustomerID string
	customers         map[string]string // customer id -> disabling reason ("" = enabled)
	agents            map[string]*agent // by username
	tokens            map[string]*issuedToken
	keys              []*AccessKey
	lastKeyCreate     time.Time      // the latest tm_create of any key
	keyCreates        map[int64]bool // every key's tm_create, Unix microseconds
	tokenLifetime     time.Duration
	keyDay            time.Duration // how long a created key's "day" of expire lasts
	expireFormat      ExpireFormat
	rateLimits        bool
	authLimiters      map[string]*rate.Limiter // by client IP
	apiLimiters       map[string]*rate.Limiter // by client IP
	customerLimiters  map[string]*rate.Limiter // by customer id
	faults            map[string][]*Fault      // by path, in injection order
	down              map[string]int           // by path: status answered until cleared
	requests          []Request
	seq               uint64

	hs *httptest.Server
}

// Option configures a Server in New.
type Option func(*Server)

// WithClock sets the clock used for token and key times (time.Now by
// default). Rate limiters always use real time.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithTokenLifetime sets the lifetime of issued tokens (DefaultTokenLifetime
// by default); tests use seconds.
func WithTokenLifetime(d time.Duration) Option { return func(s *Server) { s.tokenLifetime = d } }

// WithAccessKeyDay compresses the lifetime of created accesskeys: a key
// created with expire E seconds lives E/86400 × day (24h by default, the real
// server's behaviour). The 86400-second minimum of expire still holds, so that
// tests of rotation can use short lifetimes while clients send what they would
// send to the real server.
func WithAccessKeyDay(day time.Duration) Option { return func(s *Server) { s.keyDay = day } }

// WithExpireFormat sets how issued tokens state their expiry.
func WithExpireFormat(f ExpireFormat) Option { return func(s *Server) { s.expireFormat = f } }

// WithRateLimits switches VoIPBIN's rate limits on or off (off by default).
func WithRateLimits(on bool) Option { return func(s *Server) { s.rateLimits = on } }

// WithRequestLogger calls log with the record of every request once it has
// been answered. The record holds the raw query, which may carry a
// credential: a logger must not print it as is.
func WithRequestLogger(log func(Request)) Option { return func(s *Server) { s.logRequest = log } }

// New returns a stand-in with one enabled customer (DefaultCustomerID), no
// agents and no keys. It is not serving yet.
func New(opts ...Option) *Server {
	s := &Server{
		signingKey:        make([]byte, 32),
		now:               time.Now,
		defaultCustomerID: newUUID(),
		customers:         map[string]string{},
		agents:            map[string]*agent{},
		tokens:            map[string]*issuedToken{},
		keyCreates:        map[int64]bool{},
		tokenLifetime:     DefaultTokenLifetime,
		keyDay:            24 * time.Hour,
		authLimiters:      map[string]*rate.Limiter{},
		apiLimiters:       map[string]*rate.Limiter{},
		customerLimiters:  map[string]*rate.Limiter{},
		faults:            map[string][]*Fault{},
		down:              map[string]int{},
	}
	if _, err := rand.Read(s.signingKey); err != nil {
		panic("voipbintest: no randomness: " + err.Error())
	}
	s.customers[s.defaultCustomerID] = ""
	for _, o := range opts {
		o(s)
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST /auth/login", s.handleLogin)
	s.mux.HandleFunc("GET /ping", s.handlePing)
	s.mux.HandleFunc("GET /v1.0/accesskeys", s.handleListAccessKeys)
	s.mux.HandleFunc("POST /v1.0/accesskeys", s.handleCreateAccessKey)
	s.mux.HandleFunc("GET /v1.0/accesskeys/{id}", s.handleGetAccessKey)
	s.mux.HandleFunc("DELETE /v1.0/accesskeys/{id}", s.handleDeleteAccessKey)
	return s
}

// NewServer returns a started stand-in (plain HTTP) that is closed when t
// ends.
func NewServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := New(opts...)
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// NewTLSServer returns a stand-in started with TLS (httptest's self-signed
// certificate, see CACertPEM) that is closed when t ends.
func NewTLSServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := New(opts...)
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

// Handler returns the stand-in's HTTP handler, to serve on a listener of
// one's own.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Start serves the stand-in over plain HTTP on a local port.
func (s *Server) Start() {
	s.hs = httptest.NewUnstartedServer(s.Handler())
	s.hs.Start()
}

// StartTLS serves the stand-in over HTTPS (HTTP/1.1) on a local port, with
// httptest's self-signed certificate for 127.0.0.1 and example.com.
func (s *Server) StartTLS() {
	s.hs = httptest.NewUnstartedServer(s.Handler())
	s.hs.StartTLS()
}

// URL returns the base URL of a started stand-in, e.g. http://127.0.0.1:1234.
func (s *Server) URL() string {
	if s.hs == nil {
		return ""
	}
	return s.hs.URL
}

// CACertPEM returns the PEM of the certificate a StartTLS stand-in serves
// (self-signed, so it is its own CA); nil when not serving TLS.
func (s *Server) CACertPEM() []byte {
	if s.hs == nil || s.hs.Certificate() == nil {
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.hs.Certificate().Raw})
}

// Close stops a started stand-in and closes its connections.
func (s *Server) Close() {
	if s.hs != nil {
		s.hs.CloseClientConnections()
		s.hs.Close()
	}
}

// SetTokenLifetime sets the lifetime of tokens issued from now on.
func (s *Server) SetTokenLifetime(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenLifetime = d
}

// SetAccessKeyDay changes WithAccessKeyDay for keys created from now on.
func (s *Server) SetAccessKeyDay(day time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keyDay = day
}

// SetExpireFormat sets how tokens issued from now on state their expiry.
func (s *Server) SetExpireFormat(f ExpireFormat) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireFormat = f
}

// EnableRateLimits switches VoIPBIN's rate limits on (with full buckets) or
// off: /auth/* 10/s burst 20 per client IP; /v1.0 200/s burst 400 per client
// IP and about 16.7/s burst 33 per customer. Over a limit the answer is 429
// with Retry-After (whole seconds) and reason RATE_LIMIT_EXCEEDED.
func (s *Server) EnableRateLimits(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rateLimits = on
	clear(s.authLimiters)
	clear(s.apiLimiters)
	clear(s.customerLimiters)
}

// serveHTTP records the request, then answers with a "down" status or an
// injected fault if one applies, then applies the rate limits, then routes.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	ref := s.record(r)
	r = r.WithContext(context.WithValue(r.Context(), recordRefKey{}, ref))
	// Read the body first: net/http notices a client hanging up (and cancels
	// the request context, ending a Hang fault) only once the body is read.
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody))
	if err != nil {
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if s.logRequest != nil {
		defer func() { s.logRequest(s.request(ref)) }()
	}
	rw := &recordingWriter{ResponseWriter: w, s: s, ref: ref}
	if status, ok := s.downStatus(r.URL.Path); ok {
		s.setFault(ref, "down")
		writeError(rw, status, "", "")
		return
	}
	if f, ok := s.takeFault(r.Method, r.URL.Path); ok {
		if s.applyFault(w, rw, r, ref, f) {
			return
		}
	}
	if retry, limited := s.limitByIP(r); limited {
		writeRateLimited(rw, retry)
		return
	}
	s.mux.ServeHTTP(rw, r)
}

// recordRefKey is the context key of the request's recordRef.
type recordRefKey struct{}

// refOf returns the recordRef serveHTTP put in r's context.
func refOf(r *http.Request) recordRef {
	ref, _ := r.Context().Value(recordRefKey{}).(recordRef)
	return ref
}

func (s *Server) handlePing(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"message": "pong"})
}

// recordingWriter stores the status in the request's record before the
// answer leaves, so that a test reading the record right after its client
// returned always sees it.
type recordingWriter struct {
	http.ResponseWriter
	s       *Server
	ref     recordRef
	written bool
}

// WriteHeader records status, then sends it.
func (w *recordingWriter) WriteHeader(status int) {
	if !w.written {
		w.written = true
		w.s.setStatus(w.ref, status)
	}
	w.ResponseWriter.WriteHeader(status)
}

// Write sends b, recording the implied 200 first.
func (w *recordingWriter) Write(b []byte) (int, error) {
	if !w.written {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *recordingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
