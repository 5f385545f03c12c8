package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/voipbin/credential-operator/internal/voipbin"
	"github.com/voipbin/credential-operator/internal/voipbin/voipbintest"
	"github.com/voipbin/credential-operator/test/harness"
)

// The two API paths the operator calls (and accesskeys/{id}, which it deletes).
const (
	loginPath      = "/auth/login"
	accessKeysPath = "/v1.0/accesskeys"
	// keyPathLabel is how the record names DELETE /v1.0/accesskeys/{id}.
	keyPathLabel = accessKeysPath + "/{id}"
)

// Operations on issued accesskeys, made with a CR's login token (call.Op).
const (
	opCreate = "create" // POST /v1.0/accesskeys
	opList   = "list"   // GET /v1.0/accesskeys with the login token
	opDelete = "delete" // DELETE /v1.0/accesskeys/{id}
)

// outcome is how the stand-in answered one request, as the operator saw it.
type outcome string

const (
	outcomeOK        outcome = "ok"        // 200 with a usable body
	outcomeRejected  outcome = "rejected"  // login 400, accesskey 401/403: the credential was refused
	outcomeServer    outcome = "5xx"       // an injected 5xx burst
	outcomeDown      outcome = "down"      // a 503 of an injected outage window (SetDown)
	outcomeLimited   outcome = "429"       // 429 with Retry-After
	outcomeReset     outcome = "reset"     // connection reset, no answer
	outcomeHang      outcome = "hang"      // no answer before the client gave up
	outcomeGarbage   outcome = "garbage"   // 200 with a body that is not JSON
	outcomeOversized outcome = "oversized" // 200 with a body over the client's 1 MiB cap
	outcomeGone      outcome = "gone"      // a delete answered 404 or 409: the key was deleted already
	outcomeOther     outcome = "other"     // anything else: never expected
)

// faulted reports whether the answer was an injected fault (everything but a
// good answer, a refused credential and the unexpected).
func (o outcome) faulted() bool {
	return o != outcomeOK && o != outcomeRejected && o != outcomeOther && o != outcomeGone
}

// call is one request of the operator to the stand-in, attributed to the
// VoipbinCredential whose credential it carried.
type call struct {
	Start, End time.Time
	Path       string
	// Op is the operation on issued accesskeys (opCreate, opList, opDelete),
	// "" for a login or an accesskey check.
	Op string
	// CR is the VoipbinCredential the username or accesskey belongs to ("" if unknown).
	CR      string
	Outcome outcome
	Status  int
	// RetryAfter is the Retry-After of a 429.
	RetryAfter time.Duration
	// Token is the JWT a successful login issued (kept in memory only; printed as
	// a fingerprint), Expire its expire claim.
	Token  string
	Expire time.Time
}

// recorder sits in front of the stand-in's handler and records every call with
// what the stand-in's own log lacks for a soak: the username of a faulted login
// (the stand-in reads it only when it handles the login), the accesskey's owner,
// the issued token and a classification of the answer.
type recorder struct {
	next http.Handler
	// onToken is told every issued token before the operator receives it, so
	// that the leak scans know it before it could appear anywhere.
	onToken func(string)

	mu      sync.Mutex
	calls   []call
	byUser  map[string]string // username -> CR
	byKey   map[string]string // accesskey -> CR
	byToken map[string]string // issued login token -> CR
	down    map[string]bool   // path -> an outage window is on
}

func newRecorder(next http.Handler, onToken func(string)) *recorder {
	return &recorder{next: next, onToken: onToken, byUser: map[string]string{}, byKey: map[string]string{},
		byToken: map[string]string{}, down: map[string]bool{}}
}

// attribute maps a username and an accesskey ("" for none) to a CR.
func (r *recorder) attribute(cr, username, accessKey string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byUser[username] = cr
	if accessKey != "" {
		r.byKey[accessKey] = cr
	}
}

// setDown records whether an outage window is on for path.
func (r *recorder) setDown(path string, on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down[path] = on
}

// snapshot returns a copy of every call recorded so far.
func (r *recorder) snapshot() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	keyPath := strings.HasPrefix(req.URL.Path, accessKeysPath+"/") && req.Method == http.MethodDelete
	if req.URL.Path != loginPath && req.URL.Path != accessKeysPath && !keyPath {
		r.next.ServeHTTP(w, req)
		return
	}
	c := call{Start: time.Now(), Path: req.URL.Path}
	if keyPath {
		c.Path = keyPathLabel
	}
	var who, key string
	bearer, op := bearerOp(req, keyPath)
	c.Op = op
	if req.URL.Path == loginPath {
		body, err := io.ReadAll(io.LimitReader(req.Body, 64<<10))
		if err != nil {
			return
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		var login struct {
			Username string `json:"username"`
		}
		_ = json.Unmarshal(body, &login)
		who = login.Username
	} else if ck, err := req.Cookie("accesskey"); err == nil {
		key = ck.Value
	}
	cw := &captureWriter{ResponseWriter: w, keepBody: req.URL.Path == loginPath}
	r.next.ServeHTTP(cw, req)
	c.End = time.Now()
	c.Status = cw.status

	r.mu.Lock()
	switch {
	case who != "":
		c.CR = r.byUser[who]
	case bearer != "":
		c.CR = r.byToken[bearer]
	default:
		c.CR = r.byKey[key]
	}
	down := r.down[c.Path]
	r.mu.Unlock()

	c.Outcome = classify(cw, c.Path, down)
	if c.Outcome == outcomeLimited {
		c.RetryAfter, _ = voipbin.ParseRetryAfter(cw.Header().Get("Retry-After"), c.End)
	}
	if c.Outcome == outcomeOK && c.Path == loginPath {
		var answer struct {
			Token string `json:"token"`
		}
		if err := json.Unmarshal(cw.body.Bytes(), &answer); err == nil && answer.Token != "" {
			c.Token = answer.Token
			c.Expire = tokenExpire(answer.Token)
			if r.onToken != nil {
				r.onToken(answer.Token)
			}
			r.mu.Lock()
			r.byToken[answer.Token] = c.CR
			r.mu.Unlock()
		}
	}
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
}

// bearerOp returns the login token of a call on issued keys and which call it
// is (create, list, delete), or "" for a login or an accesskey check.
func bearerOp(req *http.Request, keyPath bool) (token, op string) {
	b, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
	switch {
	case !ok || req.URL.Path == loginPath:
		return "", ""
	case keyPath:
		return b, opDelete
	case req.Method == http.MethodPost:
		return b, opCreate
	}
	return b, opList
}

// classify sorts an answer by what was written.
func classify(cw *captureWriter, path string, down bool) outcome {
	switch {
	case cw.hijacked:
		return outcomeReset
	case cw.status == 0:
		return outcomeHang
	case cw.status == http.StatusOK && strings.HasPrefix(cw.Header().Get("Content-Type"), "text/html"):
		return outcomeGarbage
	case cw.status == http.StatusOK && cw.Header().Get("Content-Length") == strconv.Itoa(voipbintest.OversizedBodyBytes):
		return outcomeOversized
	case cw.status == http.StatusOK:
		return outcomeOK
	case cw.status == http.StatusTooManyRequests:
		return outcomeLimited
	case cw.status == http.StatusServiceUnavailable && down:
		return outcomeDown
	case cw.status >= 500:
		return outcomeServer
	case path == keyPathLabel && (cw.status == http.StatusNotFound || cw.status == http.StatusConflict):
		return outcomeGone
	case path == loginPath && cw.status == http.StatusBadRequest,
		path == accessKeysPath && (cw.status == http.StatusUnauthorized || cw.status == http.StatusForbidden):
		return outcomeRejected
	default:
		return outcomeOther
	}
}

// captureWriter records the status, whether the connection was hijacked (a
// reset) and, for logins, the body (to learn the issued token).
type captureWriter struct {
	http.ResponseWriter
	keepBody bool
	status   int
	hijacked bool
	body     bytes.Buffer
}

func (w *captureWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *captureWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.keepBody && w.body.Len() < 64<<10 {
		w.body.Write(b)
	}
	return w.ResponseWriter.Write(b)
}

// Hijack lets the stand-in reset the connection, and records that it did.
func (w *captureWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.hijacked = true
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// standIn is the VoIPBIN stand-in served on a real loopback listener, behind
// the recorder.
type standIn struct {
	api *voipbintest.Server
	rec *recorder
	srv *harness.StandIn
	url string
}

// startStandIn serves a stand-in issuing tokens that live lifetime, and
// accesskeys that live keyDay per day asked for.
func startStandIn(lifetime, keyDay time.Duration, onToken func(string)) (*standIn, error) {
	api := voipbintest.New(voipbintest.WithTokenLifetime(lifetime), voipbintest.WithAccessKeyDay(keyDay))
	rec := newRecorder(api.Handler(), onToken)
	srv, err := harness.ServeStandIn(rec)
	if err != nil {
		return nil, err
	}
	return &standIn{api: api, rec: rec, srv: srv, url: srv.URL}, nil
}

func (s *standIn) stop() { _ = s.srv.Close() }

// keyValues returns every key the stand-in holds or held (for the leak scans).
func (s *standIn) keyValues() []string {
	keys := s.api.AccessKeys()
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, k.Key)
	}
	return out
}

// tokenExpire returns the expire claim of a JWT, or the zero time when it has
// none (a hand-edited value).
func tokenExpire(jwt string) time.Time {
	if strings.Count(jwt, ".") != 2 {
		return time.Time{}
	}
	t, src := voipbin.ParseTokenExpiry(jwt, time.Time{})
	if src != voipbin.ExpiryFromExpire {
		return time.Time{}
	}
	return t
}
