package voipbintest

import (
	"crypto/subtle"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"
)

// loginPath is the login endpoint (no /v1.0 prefix).
const loginPath = "/auth/login"

// maxLoginBody bounds a login body the stand-in reads.
const maxLoginBody = 64 << 10

type agent struct {
	id         string
	customerID string
	username   string
	password   string
}

// issuedToken is a token the stand-in issued: valid until expire, whatever
// its claims say, and not revocable (as on the real server).
type issuedToken struct {
	agent  *agent
	expire time.Time
}

// DefaultCustomerID returns the customer that agents and keys belong to when
// none is given.
func (s *Server) DefaultCustomerID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.defaultCustomerID
}

// AddAgent adds (or replaces) an agent with customer-admin permission and
// returns its id. An empty customerID means DefaultCustomerID; an unknown one
// is created, enabled.
func (s *Server) AddAgent(username, password, customerID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if customerID == "" {
		customerID = s.defaultCustomerID
	}
	if _, ok := s.customers[customerID]; !ok {
		s.customers[customerID] = ""
	}
	a := &agent{id: newUUID(), customerID: customerID, username: username, password: password}
	s.agents[username] = a
	return a.id
}

// SetPassword changes an agent's password. Tokens already issued stay valid
// until they expire, as on the real server. It reports whether the agent
// exists.
func (s *Server) SetPassword(username, password string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.agents[username]
	if ok {
		a.password = password
	}
	return ok
}

// SetCustomerStatus disables a customer with reason ReasonAccountFrozen,
// ReasonAccountExpired or ReasonAccountDeleted, or enables it with "".
//
// As on the real server, a login answers 403 only for an expired or deleted
// customer (a frozen customer's agents can still log in); every API call
// authenticated by a token or accesskey of a disabled customer answers 403
// with the reason.
func (s *Server) SetCustomerStatus(customerID, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.customers[customerID] = reason
}

// TokenCount returns how many distinct tokens the stand-in has issued.
func (s *Server) TokenCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tokens)
}

// IssuedTokens returns every token the stand-in has issued, for leak tests
// that must look for them.
func (s *Server) IssuedTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.tokens))
	for jwt := range s.tokens {
		out = append(out, jwt)
	}
	return out
}

// handleLogin is POST /auth/login. Wrong username or password, malformed JSON
// and missing fields all get 400 with an empty body (never 401); an expired
// or deleted customer gets 403 with the envelope. Success is 200
// {"username","token"} plus a `token` cookie.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxLoginBody))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var body struct {
		Username *string `json:"username"`
		Password *string `json:"password"`
	}
	if err := json.Unmarshal(data, &body); err != nil || body.Username == nil || body.Password == nil ||
		*body.Username == "" || *body.Password == "" {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	s.setUsername(refOf(r), *body.Username)

	s.mu.Lock()
	a, ok := s.agents[*body.Username]
	if !ok || subtle.ConstantTimeCompare([]byte(a.password), []byte(*body.Password)) != 1 {
		s.mu.Unlock()
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	reason := s.customers[a.customerID]
	if reason == ReasonAccountExpired || reason == ReasonAccountDeleted {
		s.mu.Unlock()
		writeError(w, http.StatusForbidden, reason, "The customer account is not active.")
		return
	}
	now := s.now()
	expire := now.Add(s.tokenLifetime)
	claims := jwtClaims{Type: "agent", Agent: jwtAgent{
		ID: a.id, CustomerID: a.customerID, Username: a.username,
		Name: strings.SplitN(a.username, "@", 2)[0], Permission: PermissionCustomerAdmin,
	}}
	expireClaims(&claims, s.expireFormat, expire)
	jwt, err := signHS256(s.signingKey, claims)
	if err == nil {
		s.tokens[jwt] = &issuedToken{agent: a, expire: expire}
	}
	s.mu.Unlock()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "", "")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: "token", Value: jwt, Path: "/", Expires: expire, HttpOnly: true})
	writeJSON(w, http.StatusOK, struct {
		Username string `json:"username"`
		Token    string `json:"token"`
	}{*body.Username, jwt})
}
