package controller

import (
	"crypto/sha256"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/voipbin/credential-operator/internal/plan"
	"github.com/voipbin/credential-operator/internal/voipbin"
)

// APIOptions configures the VoIPBIN clients the reconciler makes.
type APIOptions struct {
	// Timeout bounds each request (--api-timeout).
	Timeout time.Duration
	// LoginQPS and LoginBurst limit logins per API host, shared by all workers.
	LoginQPS   float64
	LoginBurst int
	// APIQPS and APIBurst limit other calls per API host, shared by all workers.
	APIQPS   float64
	APIBurst int
	// Observer sees every request (metrics).
	Observer voipbin.Observer
}

// maxClients bounds the client cache: a client is kept per API URL and TLS
// settings, and a CA bundle that keeps changing must not grow it without end.
const maxClients = 256

// apiClients hands out one voipbin.Client per endpoint (URL and TLS settings),
// all clients of one API host sharing one Throttle: VoIPBIN limits by client IP,
// so every worker and every CR counts against the same budget, and a 429's
// Retry-After holds for all of them.
type apiClients struct {
	opts APIOptions

	mu        sync.Mutex
	clients   map[string]*voipbin.Client
	throttles map[string]*voipbin.Throttle
}

func newAPIClients(opts APIOptions) *apiClients {
	return &apiClients{opts: opts, clients: map[string]*voipbin.Client{}, throttles: map[string]*voipbin.Throttle{}}
}

// get returns the client for apiURL with the given TLS settings.
func (a *apiClients) get(apiURL string, caPEM []byte, insecureSkipVerify bool) (*voipbin.Client, error) {
	sum := sha256.Sum256(caPEM)
	key := fmt.Sprintf("%s\n%t\n%x", apiURL, insecureSkipVerify, sum)
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, ok := a.clients[key]; ok {
		return c, nil
	}
	c, err := voipbin.New(apiURL, voipbin.Options{
		CACertPEM:          caPEM,
		InsecureSkipVerify: insecureSkipVerify,
		Timeout:            a.opts.Timeout,
		Throttle:           a.throttleLocked(apiURL),
		Observer:           a.opts.Observer,
	})
	if err != nil {
		return nil, err
	}
	if len(a.clients) >= maxClients {
		for k, old := range a.clients {
			old.CloseIdleConnections()
			delete(a.clients, k)
		}
	}
	a.clients[key] = c
	return c, nil
}

// throttleLocked returns the Throttle of apiURL's host, making it on first use.
// a.mu must be held.
func (a *apiClients) throttleLocked(apiURL string) *voipbin.Throttle {
	host := apiURL
	if u, err := url.Parse(apiURL); err == nil {
		host = u.Host
	}
	t, ok := a.throttles[host]
	if !ok {
		t = voipbin.NewThrottle(a.opts.LoginQPS, a.opts.LoginBurst, a.opts.APIQPS, a.opts.APIBurst)
		a.throttles[host] = t
	}
	return t
}

// AllowedURLs is the --allowed-api-urls list (see plan.AllowedURLs).
type AllowedURLs = plan.AllowedURLs

// ParseAllowedURLs parses a comma-separated list of http(s) URL prefixes.
func ParseAllowedURLs(list string) (AllowedURLs, error) { return plan.ParseAllowedURLs(list) }
