package voipbintest

import (
	"net"
	"net/http"
	"time"
)

// CredentialSource names where the server found the credential it used, in
// its order of precedence.
type CredentialSource string

const (
	// CredentialNone: no credential anywhere.
	CredentialNone CredentialSource = ""
	// CredentialTokenCookie: cookie `token`.
	CredentialTokenCookie CredentialSource = "cookie:token"
	// CredentialTokenQuery: query parameter `token`.
	CredentialTokenQuery CredentialSource = "query:token"
	// CredentialBearer: header `Authorization: Bearer <jwt>`.
	CredentialBearer CredentialSource = "header:bearer"
	// CredentialAccessKeyCookie: cookie `accesskey`.
	CredentialAccessKeyCookie CredentialSource = "cookie:accesskey"
	// CredentialAccessKeyQuery: query parameter `accesskey`.
	CredentialAccessKeyQuery CredentialSource = "query:accesskey"
)

// Request is the stand-in's record of one request. Records are made when the
// request arrives; Status is filled in before the answer leaves.
type Request struct {
	// Time is when the request arrived (the stand-in's clock).
	Time time.Time
	// Method and Path of the request; RawQuery as sent (it may hold a
	// credential: never log it as is).
	Method, Path, RawQuery string
	// RemoteIP is the client's IP address.
	RemoteIP string
	// UserAgent, Accept and ContentType headers as sent.
	UserAgent, Accept, ContentType string
	// Authorization is true when an Authorization header was sent.
	Authorization bool
	// Credential is where the first non-empty credential was found, the one
	// the server uses (even on paths that need none).
	Credential CredentialSource
	// TokenCookie is true when a `token` cookie was sent, even empty.
	TokenCookie bool
	// AccessKeyCookie is true when an `accesskey` cookie was sent, even empty.
	AccessKeyCookie bool
	// Status is the HTTP status answered; 0 when none was (connection reset,
	// or the client gave up during a hang).
	Status int
	// Username is the username of a login request, once its body was read.
	Username string
	// Fault names the injected fault that answered ("status", "hang",
	// "reset", "garbage", "oversized", "redirect", "down"), or "".
	Fault string

	seq uint64 // tells a record from a later one at the same index after Reset
}

// recordRef points at one record.
type recordRef struct {
	idx int
	seq uint64
}

func (s *Server) record(r *http.Request) recordRef {
	source, _ := credentialOf(r)
	_, tokenErr := r.Cookie("token")
	_, keyErr := r.Cookie("accesskey")
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	rec := Request{
		Method:          r.Method,
		Path:            r.URL.Path,
		RawQuery:        r.URL.RawQuery,
		RemoteIP:        ip,
		UserAgent:       r.UserAgent(),
		Accept:          r.Header.Get("Accept"),
		ContentType:     r.Header.Get("Content-Type"),
		Authorization:   r.Header.Get("Authorization") != "",
		Credential:      source,
		TokenCookie:     tokenErr == nil,
		AccessKeyCookie: keyErr == nil,
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec.Time = s.now()
	s.seq++
	rec.seq = s.seq
	s.requests = append(s.requests, rec)
	return recordRef{idx: len(s.requests) - 1, seq: rec.seq}
}

// update changes the record ref points at, unless Reset dropped it meanwhile.
func (s *Server) update(ref recordRef, f func(*Request)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ref.idx < len(s.requests) && s.requests[ref.idx].seq == ref.seq {
		f(&s.requests[ref.idx])
	}
}

func (s *Server) setStatus(ref recordRef, status int) {
	s.update(ref, func(r *Request) { r.Status = status })
}

func (s *Server) setFault(ref recordRef, fault string) {
	s.update(ref, func(r *Request) { r.Fault = fault })
}

func (s *Server) setUsername(ref recordRef, username string) {
	s.update(ref, func(r *Request) { r.Username = username })
}

// request returns a copy of the record ref points at (the zero Request when
// Reset dropped it).
func (s *Server) request(ref recordRef) Request {
	var out Request
	s.update(ref, func(r *Request) { out = *r })
	return out
}

// Requests returns a copy of every request recorded since the start or the
// last Reset, in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// RequestsTo returns the recorded requests to path.
func (s *Server) RequestsTo(path string) []Request {
	var out []Request
	for _, r := range s.Requests() {
		if r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// Hits returns how many requests to path were recorded, whatever their answer.
func (s *Server) Hits(path string) int { return len(s.RequestsTo(path)) }

// Count returns how many requests to path were answered with status (0
// counts requests that got no answer).
func (s *Server) Count(path string, status int) int {
	n := 0
	for _, r := range s.RequestsTo(path) {
		if r.Status == status {
			n++
		}
	}
	return n
}

// CountStatus returns how many requests, to any path, were answered with
// status.
func (s *Server) CountStatus(status int) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Status == status {
			n++
		}
	}
	return n
}

// LoginCount returns how many login requests for username were recorded,
// whatever their answer.
func (s *Server) LoginCount(username string) int {
	n := 0
	for _, r := range s.RequestsTo(loginPath) {
		if r.Username == username {
			n++
		}
	}
	return n
}

// Reset forgets the recorded requests (not the agents, keys, tokens, faults
// or limits).
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}
