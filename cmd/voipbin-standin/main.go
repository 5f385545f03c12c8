// Command voipbin-standin serves the in-memory VoIPBIN stand-in
// (internal/voipbin/voipbintest) on a real address, for the demo and for
// trying the API by hand with curl:
//
//	go run ./cmd/voipbin-standin --agent admin@example.com:pass
//	curl -s -X POST http://127.0.0.1:8080/auth/login \
//	  -H 'Content-Type: application/json' \
//	  -d '{"username":"admin@example.com","password":"pass"}'
//
// Agents and accesskeys come from repeatable flags or from a JSON file
// (--config). Requests are logged without secrets: no body, no cookie, and
// only the names of query parameters.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/voipbin/credential-operator/internal/voipbin/voipbintest"
)

// config is the --config file: JSON.
//
//	{
//	  "tokenLifetime": "1h",
//	  "rateLimits": true,
//	  "agents": [{"username": "admin@example.com", "password": "pass", "customer": ""}],
//	  "accessKeys": [{"key": "vb_...", "name": "ci", "expiresIn": "720h", "customer": ""}],
//	  "customers": {"<customer id>": "ACCOUNT_FROZEN"}
//	}
//
// An empty customer means the stand-in's default customer.
type config struct {
	TokenLifetime string            `json:"tokenLifetime"`
	RateLimits    *bool             `json:"rateLimits"`
	Agents        []agentConfig     `json:"agents"`
	AccessKeys    []accessKeyConfig `json:"accessKeys"`
	Customers     map[string]string `json:"customers"`
}

type agentConfig struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Customer string `json:"customer"`
}

type accessKeyConfig struct {
	Key       string `json:"key"`
	Name      string `json:"name"`
	ExpiresIn string `json:"expiresIn"`
	Customer  string `json:"customer"`
}

// repeated is a flag that may be given several times.
type repeated []string

// String joins the values (flag.Value).
func (r *repeated) String() string { return strings.Join(*r, ",") }

// Set adds one value (flag.Value).
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "voipbin-standin:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("voipbin-standin", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8080", "address to serve on")
	configPath := fs.String("config", "", "JSON file with agents, accesskeys, customers (see the source)")
	tokenLifetime := fs.Duration("token-lifetime", voipbintest.DefaultTokenLifetime, "lifetime of issued login tokens")
	rateLimits := fs.Bool("rate-limits", false, "enforce VoIPBIN's rate limits (/auth/* 10/s burst 20 per IP, ...)")
	keyDay := fs.Duration("accesskey-day", 24*time.Hour,
		"how long one day of a created accesskey's expire lasts (tests: 30s makes a 24h key live 30s)")
	expireFormat := fs.String("expire-format", "current", "how tokens state their expiry: current, legacy, exp or none")
	var agents, keys repeated
	fs.Var(&agents, "agent", "an agent as user:password[:customer-uuid] (repeatable)")
	fs.Var(&keys, "accesskey", "an accesskey as key[:name[:expires-in]], e.g. vb_...:ci:720h (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}

	format, err := parseExpireFormat(*expireFormat)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	var cfg config
	if *configPath != "" {
		if cfg, err = readConfig(*configPath); err != nil {
			return err
		}
	}
	lifetime := *tokenLifetime
	if cfg.TokenLifetime != "" && !flagSet(fs, "token-lifetime") {
		if lifetime, err = time.ParseDuration(cfg.TokenLifetime); err != nil {
			return fmt.Errorf("config tokenLifetime: %w", err)
		}
	}
	limits := *rateLimits
	if cfg.RateLimits != nil && !flagSet(fs, "rate-limits") {
		limits = *cfg.RateLimits
	}

	s := voipbintest.New(
		voipbintest.WithTokenLifetime(lifetime),
		voipbintest.WithExpireFormat(format),
		voipbintest.WithRateLimits(limits),
		voipbintest.WithAccessKeyDay(*keyDay),
		voipbintest.WithRequestLogger(func(r voipbintest.Request) { logRequest(logger, r) }),
	)
	for _, a := range agents {
		ac, err := parseAgent(a)
		if err != nil {
			return err
		}
		cfg.Agents = append(cfg.Agents, ac)
	}
	for _, k := range keys {
		kc, err := parseAccessKey(k)
		if err != nil {
			return err
		}
		cfg.AccessKeys = append(cfg.AccessKeys, kc)
	}
	if err := populate(s, cfg); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()
	logger.Info("VoIPBIN stand-in listening", "url", "http://"+ln.Addr().String(),
		"agents", len(cfg.Agents), "accesskeys", len(cfg.AccessKeys), "defaultCustomer", s.DefaultCustomerID(),
		"tokenLifetime", lifetime.String(), "rateLimits", limits)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func parseExpireFormat(v string) (voipbintest.ExpireFormat, error) {
	switch v {
	case "current":
		return voipbintest.ExpireCurrent, nil
	case "legacy":
		return voipbintest.ExpireLegacy, nil
	case "exp":
		return voipbintest.ExpireNumericExp, nil
	case "none":
		return voipbintest.ExpireNone, nil
	}
	return 0, fmt.Errorf("--expire-format must be current, legacy, exp or none, not %q", v)
}

// parseAgent reads user:password[:customer-uuid]. The username may not hold a
// colon; the password may, and a last segment is taken as the customer only
// when it is a UUID. Errors never quote the value (it holds a password).
func parseAgent(v string) (agentConfig, error) {
	user, rest, ok := strings.Cut(v, ":")
	if !ok || user == "" || rest == "" {
		return agentConfig{}, errors.New("--agent must be user:password[:customer-uuid]")
	}
	a := agentConfig{Username: user, Password: rest}
	if i := strings.LastIndex(rest, ":"); i > 0 && looksLikeUUID(rest[i+1:]) {
		a.Password, a.Customer = rest[:i], rest[i+1:]
	}
	return a, nil
}

// parseAccessKey reads key[:name[:expires-in]]. Errors never quote the value.
func parseAccessKey(v string) (accessKeyConfig, error) {
	parts := strings.Split(v, ":")
	if parts[0] == "" || len(parts) > 3 {
		return accessKeyConfig{}, errors.New("--accesskey must be key[:name[:expires-in]]")
	}
	k := accessKeyConfig{Key: parts[0]}
	if len(parts) > 1 {
		k.Name = parts[1]
	}
	if len(parts) > 2 {
		k.ExpiresIn = parts[2]
	}
	return k, nil
}

func readConfig(path string) (config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return config{}, err
	}
	var cfg config
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return config{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

func populate(s *voipbintest.Server, cfg config) error {
	for _, a := range cfg.Agents {
		if a.Username == "" || a.Password == "" {
			return errors.New("an agent needs a username and a password")
		}
		s.AddAgent(a.Username, a.Password, a.Customer)
	}
	for i, k := range cfg.AccessKeys {
		if k.Key == "" {
			return fmt.Errorf("accesskey %d has no key", i+1)
		}
		key := voipbintest.AccessKey{Key: k.Key, Name: k.Name, CustomerID: k.Customer}
		if k.ExpiresIn != "" {
			d, err := time.ParseDuration(k.ExpiresIn)
			if err != nil {
				return fmt.Errorf("accesskey %d: expires-in: %w", i+1, err)
			}
			key.Expire = time.Now().Add(d)
		}
		s.AddAccessKey(key)
	}
	for id, reason := range cfg.Customers {
		s.SetCustomerStatus(id, reason)
	}
	return nil
}

// logRequest logs one answered request without secrets: the names of the
// query parameters but not their values, where the credential was found but
// not the credential.
func logRequest(logger *slog.Logger, r voipbintest.Request) {
	var names []string
	for _, pair := range strings.Split(r.RawQuery, "&") {
		if name, _, _ := strings.Cut(pair, "="); name != "" && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	attrs := []any{"method", r.Method, "path", r.Path, "status", r.Status, "remote", r.RemoteIP}
	if len(names) > 0 {
		attrs = append(attrs, "queryParams", strings.Join(names, ","))
	}
	if r.Credential != voipbintest.CredentialNone {
		attrs = append(attrs, "credential", string(r.Credential))
	}
	if r.Username != "" {
		attrs = append(attrs, "username", r.Username)
	}
	if r.Fault != "" {
		attrs = append(attrs, "fault", r.Fault)
	}
	logger.Info("request", attrs...)
}

func looksLikeUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
		} else if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}
