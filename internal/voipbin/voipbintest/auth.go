package voipbintest

import (
	"net/http"
	"strings"
)

// credentialOf returns the credential the real server would use: the first
// non-empty one of cookie `token`, query `token`, `Authorization: Bearer `
// (exact, case-sensitive prefix), cookie `accesskey`, query `accesskey`.
// There is no fallback: a stale token hides a valid accesskey.
func credentialOf(r *http.Request) (CredentialSource, string) {
	if c, err := r.Cookie("token"); err == nil && c.Value != "" {
		return CredentialTokenCookie, c.Value
	}
	query := r.URL.Query()
	if v := query.Get("token"); v != "" {
		return CredentialTokenQuery, v
	}
	if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && v != "" {
		return CredentialBearer, v
	}
	if c, err := r.Cookie("accesskey"); err == nil && c.Value != "" {
		return CredentialAccessKeyCookie, c.Value
	}
	if v := query.Get("accesskey"); v != "" {
		return CredentialAccessKeyQuery, v
	}
	return CredentialNone, ""
}

// principal is who an API request authenticated as.
type principal struct {
	customerID string
	agent      *agent     // for tokens
	key        *AccessKey // for accesskeys
}

// authenticate resolves r's credential. On failure it has answered: 401
// AUTHENTICATION_REQUIRED without a credential, 401 INVALID_CREDENTIALS for
// an unknown, expired or deleted one, 403 with the customer's reason for a
// disabled customer.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (principal, bool) {
	source, value := credentialOf(r)
	if source == CredentialNone {
		writeError(w, http.StatusUnauthorized, ReasonAuthenticationRequired, "Authentication is required.")
		return principal{}, false
	}
	s.mu.Lock()
	var p principal
	found := false
	now := s.now()
	switch source {
	case CredentialTokenCookie, CredentialTokenQuery, CredentialBearer:
		if t, ok := s.tokens[value]; ok && now.Before(t.expire) && verifyHS256(s.signingKey, value) {
			p = principal{customerID: t.agent.customerID, agent: t.agent}
			found = true
		}
	default:
		for _, k := range s.keys {
			if k.Key == value && k.Delete.IsZero() && now.Before(k.Expire) {
				p = principal{customerID: k.CustomerID, key: k}
				found = true
				break
			}
		}
	}
	reason := s.customers[p.customerID]
	s.mu.Unlock()
	if !found {
		writeError(w, http.StatusUnauthorized, ReasonInvalidCredentials, "The credential is invalid or has expired.")
		return principal{}, false
	}
	if reason != "" {
		writeError(w, http.StatusForbidden, reason, "The customer account is not active.")
		return principal{}, false
	}
	if retry, limited := s.limitByCustomer(p.customerID); limited {
		writeRateLimited(w, retry)
		return principal{}, false
	}
	return p, true
}
