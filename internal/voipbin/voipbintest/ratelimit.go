package voipbintest

import (
	"net"
	"net/http"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// VoIPBIN's rate limits.
const (
	authRate      = 10 // /auth/*: per client IP
	authBurst     = 20
	apiRate       = 200 // /v1.0: per client IP
	apiBurst      = 400
	customerRate  = 1000.0 / 60 // /v1.0: per customer, about 16.7/s
	customerBurst = 33
)

// limitByIP applies the per-IP limits of /auth/* and /v1.0, when switched
// on. It reports the wait a 429 should announce.
func (s *Server) limitByIP(r *http.Request) (time.Duration, bool) {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	switch {
	case strings.HasPrefix(r.URL.Path, "/auth/"):
		return s.take(s.authLimiters, ip, authRate, authBurst)
	case strings.HasPrefix(r.URL.Path, "/v1.0/") || r.URL.Path == "/v1.0":
		return s.take(s.apiLimiters, ip, apiRate, apiBurst)
	}
	return 0, false
}

// limitByCustomer applies the per-customer limit of /v1.0, when switched on.
func (s *Server) limitByCustomer(customerID string) (time.Duration, bool) {
	return s.take(s.customerLimiters, customerID, customerRate, customerBurst)
}

// take takes a token from the bucket of key in limiters (made on first use),
// or reports how long until one is available.
func (s *Server) take(limiters map[string]*rate.Limiter, key string, r rate.Limit, burst int) (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.rateLimits {
		return 0, false
	}
	lim, ok := limiters[key]
	if !ok {
		lim = rate.NewLimiter(r, burst)
		limiters[key] = lim
	}
	res := lim.Reserve()
	if d := res.Delay(); d > 0 {
		res.Cancel()
		return d, true
	}
	return 0, false
}
