package controller

import (
	"crypto/sha256"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

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

// get returns the client for ep.
func (a *apiClients) get(ep endpoint) (*voipbin.Client, error) {
	sum := sha256.Sum256(ep.CAPEM)
	key := fmt.Sprintf("%s\n%t\n%x", ep.URL, ep.InsecureSkipVerify, sum)
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, ok := a.clients[key]; ok {
		return c, nil
	}
	c, err := voipbin.New(ep.URL, voipbin.Options{
		CACertPEM:          ep.CAPEM,
		InsecureSkipVerify: ep.InsecureSkipVerify,
		Timeout:            a.opts.Timeout,
		Throttle:           a.throttleLocked(ep.URL),
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

// AllowedURLs is the --allowed-api-urls list: URL prefixes the operator may send
// credentials to, so that a VoipbinCredential cannot send a password to a host of
// its author's choosing.
type AllowedURLs []string

// ParseAllowedURLs parses a comma-separated list of http(s) URL prefixes.
func ParseAllowedURLs(list string) (AllowedURLs, error) {
	var allowed AllowedURLs
	for i, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		u, err := url.Parse(item)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			// The item is not quoted: it may hold a password in its user info.
			return nil, fmt.Errorf("allowed API URL #%d: must be an http:// or https:// URL with a host "+
				"and no user info, query or fragment", i+1)
		}
		allowed = append(allowed, item)
	}
	if len(allowed) == 0 {
		return nil, fmt.Errorf("no allowed API URL")
	}
	return allowed, nil
}

// Allows reports whether apiURL is one of the prefixes, or below one of them at a
// path boundary: "https://api.voipbin.net" allows "https://api.voipbin.net/" and
// "https://api.voipbin.net/v2", never "https://api.voipbin.net.example.com".
func (a AllowedURLs) Allows(apiURL string) bool {
	for _, prefix := range a {
		p := strings.TrimSuffix(prefix, "/")
		if apiURL == p || strings.HasPrefix(apiURL, p+"/") {
			return true
		}
	}
	return false
}
