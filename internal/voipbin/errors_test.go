package voipbin_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/voipbin/credential-operator/internal/voipbin"
	"github.com/voipbin/credential-operator/internal/voipbin/voipbintest"
)

// scenario runs one failure case and remembers every secret it used, so that
// the leak test can look for them in the error.
type scenario struct {
	t        *testing.T
	secrets  []string
	fixtures []*fixture
}

// fixture starts a stand-in (plain HTTP unless tls), logs in once so that a
// token exists, and forgets that request.
func (sc *scenario) fixture(opts ...voipbintest.Option) *fixture {
	f := newFixture(sc.t, opts...)
	sc.prime(f)
	return f
}

func (sc *scenario) tlsFixture() *fixture {
	s := voipbintest.NewTLSServer(sc.t)
	s.AddAgent(testUser, testPassword, "")
	f := &fixture{s: s, key: s.AddAccessKey(voipbintest.AccessKey{Name: "primary"})}
	c := newClient(sc.t, s.URL(), voipbin.Options{CACertPEM: s.CACertPEM()})
	if _, err := c.Login(context.Background(), testUser, testPassword); err != nil {
		sc.t.Fatalf("priming login over TLS: %v", err)
	}
	sc.track(f)
	return f
}

func (sc *scenario) prime(f *fixture) {
	c := f.client(sc.t, voipbin.Options{})
	if _, err := c.Login(context.Background(), testUser, testPassword); err != nil {
		sc.t.Fatalf("priming login: %v", err)
	}
	f.s.Reset()
	sc.track(f)
}

func (sc *scenario) track(f *fixture) {
	sc.fixtures = append(sc.fixtures, f)
	sc.secrets = append(sc.secrets, f.key.Key)
}

// loggedIn returns a client that has logged in: a later failure must not be
// helped (or hurt) by the token it got.
func (sc *scenario) loggedIn(f *fixture, opts voipbin.Options) *voipbin.Client {
	c := f.client(sc.t, opts)
	if _, err := c.Login(context.Background(), testUser, testPassword); err != nil {
		sc.t.Fatalf("login: %v", err)
	}
	f.s.Reset()
	return c
}

// allSecrets is every password, key and token the scenario used or saw issued.
func (sc *scenario) allSecrets() []string {
	out := append([]string{testPassword}, sc.secrets...)
	for _, f := range sc.fixtures {
		out = append(out, f.s.IssuedTokens()...)
	}
	return out
}

// failureCase is one way a call can fail, with the Kind it must have.
type failureCase struct {
	name  string
	kind  voipbin.Kind
	run   func(sc *scenario) error
	check func(t *testing.T, sc *scenario, err error)
}

const shortTimeout = 300 * time.Millisecond

func loginFault(fault voipbintest.Fault) func(sc *scenario) error {
	return func(sc *scenario) error {
		f := sc.fixture()
		f.s.InjectFault("/auth/login", fault)
		_, err := f.client(sc.t, voipbin.Options{Timeout: shortTimeout}).Login(context.Background(), testUser, testPassword)
		return err
	}
}

func validateFault(fault voipbintest.Fault) func(sc *scenario) error {
	return func(sc *scenario) error {
		f := sc.fixture()
		c := sc.loggedIn(f, voipbin.Options{Timeout: shortTimeout})
		f.s.InjectFault("/v1.0/accesskeys", fault)
		_, err := c.ValidateAccessKey(context.Background(), f.key.Key)
		return err
	}
}

func wantAPIError(status int, reason string) func(t *testing.T, sc *scenario, err error) {
	return func(t *testing.T, _ *scenario, err error) {
		t.Helper()
		var apiErr *voipbin.APIError
		if !errors.As(err, &apiErr) {
			t.Fatalf("error %T is not an *APIError: %v", err, err)
		}
		if apiErr.StatusCode != status || apiErr.Reason != reason {
			t.Errorf("status %d reason %q, want %d %q", apiErr.StatusCode, apiErr.Reason, status, reason)
		}
	}
}

func wantRetryAfter(min, max time.Duration) func(t *testing.T, sc *scenario, err error) {
	return func(t *testing.T, _ *scenario, err error) {
		t.Helper()
		d, ok := voipbin.IsRateLimited(err)
		if !ok || d < min || d > max {
			t.Errorf("IsRateLimited = %v, %v; want a wait in [%v, %v]", d, ok, min, max)
		}
	}
}

func wantErrorType[T error]() func(t *testing.T, sc *scenario, err error) {
	return func(t *testing.T, _ *scenario, err error) {
		t.Helper()
		var target T
		if !errors.As(err, &target) {
			t.Errorf("error %T (%v) is not a %T", err, err, target)
		}
	}
}

// failureCases are every failure the client must classify. The leak test runs
// them all again.
func failureCases() []failureCase {
	return []failureCase{
		{
			name: "login wrong password: 400 with an empty body",
			kind: voipbin.KindInvalidCredentials,
			run: func(sc *scenario) error {
				f := sc.fixture()
				_, err := f.client(sc.t, voipbin.Options{}).Login(context.Background(), testUser, testPassword+"-wrong")
				return err
			},
			check: wantAPIError(http.StatusBadRequest, ""),
		},
		{
			name: "login unknown user",
			kind: voipbin.KindInvalidCredentials,
			run: func(sc *scenario) error {
				f := sc.fixture()
				_, err := f.client(sc.t, voipbin.Options{}).Login(context.Background(), "nobody@example.com", testPassword)
				return err
			},
			check: wantAPIError(http.StatusBadRequest, ""),
		},
		{
			name: "login of an expired customer: 403",
			kind: voipbin.KindAccountDisabled,
			run: func(sc *scenario) error {
				f := sc.fixture()
				f.s.SetCustomerStatus(f.s.DefaultCustomerID(), voipbintest.ReasonAccountExpired)
				_, err := f.client(sc.t, voipbin.Options{}).Login(context.Background(), testUser, testPassword)
				return err
			},
			check: wantAPIError(http.StatusForbidden, "ACCOUNT_EXPIRED"),
		},
		{
			name:  "login 429 with Retry-After seconds",
			kind:  voipbin.KindRateLimited,
			run:   loginFault(voipbintest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "7"}),
			check: wantRetryAfter(7*time.Second, 7*time.Second),
		},
		{
			name: "login 429 with Retry-After as an HTTP-date",
			kind: voipbin.KindRateLimited,
			run: func(sc *scenario) error {
				when := time.Now().Add(40 * time.Second).UTC().Format(http.TimeFormat)
				return loginFault(voipbintest.Fault{Status: http.StatusTooManyRequests, RetryAfter: when})(sc)
			},
			check: wantRetryAfter(35*time.Second, 41*time.Second),
		},
		{
			name:  "login 500",
			kind:  voipbin.KindTransient,
			run:   loginFault(voipbintest.Fault{Status: http.StatusInternalServerError}),
			check: wantAPIError(http.StatusInternalServerError, "INTERNAL_ERROR"),
		},
		{
			name: "login 503 while the API is down",
			kind: voipbin.KindTransient,
			run: func(sc *scenario) error {
				f := sc.fixture()
				f.s.SetDown("/auth/login", http.StatusServiceUnavailable)
				_, err := f.client(sc.t, voipbin.Options{}).Login(context.Background(), testUser, testPassword)
				return err
			},
			check: wantAPIError(http.StatusServiceUnavailable, "INTERNAL_ERROR"),
		},
		{
			name: "login hangs past the client timeout",
			kind: voipbin.KindTransient,
			run:  loginFault(voipbintest.Fault{Hang: 5 * time.Second}),
			check: func(t *testing.T, _ *scenario, err error) {
				var te *voipbin.TransportError
				if !errors.As(err, &te) || !te.Timeout || !errors.Is(err, voipbin.ErrRequestTimeout) {
					t.Errorf("want a timed-out TransportError, got %T %v", err, err)
				}
				if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
					t.Errorf("a per-request timeout must not look like the caller's context ending: %v", err)
				}
			},
		},
		{
			name:  "login connection reset",
			kind:  voipbin.KindTransient,
			run:   loginFault(voipbintest.Fault{Reset: true}),
			check: wantErrorType[*voipbin.TransportError](),
		},
		{
			name:  "login 200 with garbage",
			kind:  voipbin.KindTransient,
			run:   loginFault(voipbintest.Fault{Garbage: true}),
			check: wantErrorType[*voipbin.MalformedResponseError](),
		},
		{
			name:  "login 200 with an oversized body",
			kind:  voipbin.KindTransient,
			run:   loginFault(voipbintest.Fault{Oversized: true}),
			check: wantErrorType[*voipbin.MalformedResponseError](),
		},
		{
			name: "login redirect is not followed",
			kind: voipbin.KindUnexpectedResponse,
			run: func(sc *scenario) error {
				f := sc.fixture()
				f.s.InjectFault("/auth/login", voipbintest.Fault{Redirect: f.s.URL() + "/elsewhere/auth/login"})
				_, err := f.client(sc.t, voipbin.Options{}).Login(context.Background(), testUser, testPassword)
				return err
			},
			check: func(t *testing.T, sc *scenario, err error) {
				wantAPIError(http.StatusFound, "")(t, sc, err)
				if n := sc.fixtures[0].s.Hits("/elsewhere/auth/login"); n != 0 {
					t.Errorf("the redirect target was hit %d times", n)
				}
			},
		},
		{
			name: "login 404: wrong API URL",
			kind: voipbin.KindUnexpectedResponse,
			run: func(sc *scenario) error {
				f := sc.fixture()
				c := newClient(sc.t, f.s.URL()+"/not-the-api", voipbin.Options{})
				_, err := c.Login(context.Background(), testUser, testPassword)
				return err
			},
			check: func(t *testing.T, sc *scenario, err error) {
				var apiErr *voipbin.APIError
				if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound {
					t.Errorf("want a 404 APIError, got %v", err)
				}
				if n := sc.fixtures[0].s.Hits("/not-the-api/auth/login"); n != 1 {
					t.Errorf("the stand-in saw %d requests at the wrong path, want 1", n)
				}
			},
		},
		{
			name:  "login 418: another 4xx",
			kind:  voipbin.KindUnexpectedResponse,
			run:   loginFault(voipbintest.Fault{Status: http.StatusTeapot, EmptyBody: true}),
			check: wantAPIError(http.StatusTeapot, ""),
		},
		{
			name: "login to a closed port",
			kind: voipbin.KindTransient,
			run: func(sc *scenario) error {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					sc.t.Fatal(err)
				}
				addr := ln.Addr().String()
				_ = ln.Close()
				_, err = newClient(sc.t, "http://"+addr, voipbin.Options{}).Login(context.Background(), testUser, testPassword)
				return err
			},
			check: wantErrorType[*voipbin.TransportError](),
		},
		{
			name: "login over TLS with an unknown CA",
			kind: voipbin.KindTLS,
			run: func(sc *scenario) error {
				f := sc.tlsFixture()
				_, err := f.client(sc.t, voipbin.Options{}).Login(context.Background(), testUser, testPassword)
				return err
			},
			check: func(t *testing.T, sc *scenario, err error) {
				wantErrorType[*voipbin.TLSError]()(t, sc, err)
				if n := sc.fixtures[0].s.LoginCount(testUser); n != 1 { // the priming login only
					t.Errorf("the stand-in saw %d logins, want only the priming one", n)
				}
			},
		},
		{
			name: "login over TLS with a hostname mismatch",
			kind: voipbin.KindTLS,
			run: func(sc *scenario) error {
				f := sc.tlsFixture()
				url := strings.Replace(f.s.URL(), "127.0.0.1", "localhost", 1)
				c := newClient(sc.t, url, voipbin.Options{CACertPEM: f.s.CACertPEM()})
				_, err := c.Login(context.Background(), testUser, testPassword)
				return err
			},
			check: wantErrorType[*voipbin.TLSError](),
		},
		{
			name: "login canceled by the caller",
			kind: voipbin.KindTransient,
			run: func(sc *scenario) error {
				f := sc.fixture()
				f.s.InjectFault("/auth/login", voipbintest.Fault{Hang: 5 * time.Second})
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				go func() { time.Sleep(50 * time.Millisecond); cancel() }()
				_, err := f.client(sc.t, voipbin.Options{}).Login(ctx, testUser, testPassword)
				return err
			},
			check: func(t *testing.T, _ *scenario, err error) {
				if !errors.Is(err, context.Canceled) {
					t.Errorf("want errors.Is(err, context.Canceled), got %v", err)
				}
			},
		},
		{
			name: "accesskey unknown: 401",
			kind: voipbin.KindInvalidCredentials,
			run: func(sc *scenario) error {
				f := sc.fixture()
				unknown := voipbintest.NewAccessKeySecret()
				sc.secrets = append(sc.secrets, unknown)
				_, err := sc.loggedIn(f, voipbin.Options{}).ValidateAccessKey(context.Background(), unknown)
				return err
			},
			check: wantAPIError(http.StatusUnauthorized, "INVALID_CREDENTIALS"),
		},
		{
			name: "accesskey expired: 401",
			kind: voipbin.KindInvalidCredentials,
			run: func(sc *scenario) error {
				f := sc.fixture()
				f.s.SetAccessKeyExpiry(f.key.ID, time.Now().Add(-time.Minute))
				_, err := sc.loggedIn(f, voipbin.Options{}).ValidateAccessKey(context.Background(), f.key.Key)
				return err
			},
			check: wantAPIError(http.StatusUnauthorized, "INVALID_CREDENTIALS"),
		},
		{
			name: "accesskey deleted: 401",
			kind: voipbin.KindInvalidCredentials,
			run: func(sc *scenario) error {
				f := sc.fixture()
				f.s.DeleteAccessKey(f.key.ID)
				_, err := sc.loggedIn(f, voipbin.Options{}).ValidateAccessKey(context.Background(), f.key.Key)
				return err
			},
			check: wantAPIError(http.StatusUnauthorized, "INVALID_CREDENTIALS"),
		},
		{
			name: "accesskey of a frozen customer: 403",
			kind: voipbin.KindAccountDisabled,
			run: func(sc *scenario) error {
				f := sc.fixture()
				c := sc.loggedIn(f, voipbin.Options{})
				f.s.SetCustomerStatus(f.s.DefaultCustomerID(), voipbintest.ReasonAccountFrozen)
				_, err := c.ValidateAccessKey(context.Background(), f.key.Key)
				return err
			},
			check: wantAPIError(http.StatusForbidden, "ACCOUNT_FROZEN"),
		},
		{
			name: "accesskey with a trailing newline is refused unsent",
			kind: voipbin.KindInvalidCredentials,
			run: func(sc *scenario) error {
				f := sc.fixture()
				_, err := sc.loggedIn(f, voipbin.Options{}).ValidateAccessKey(context.Background(), f.key.Key+"\n")
				return err
			},
			check: func(t *testing.T, sc *scenario, err error) {
				wantErrorType[*voipbin.CredentialFormatError]()(t, sc, err)
				if n := sc.fixtures[0].s.Hits("/v1.0/accesskeys"); n != 0 {
					t.Errorf("a malformed key was sent %d times", n)
				}
			},
		},
		{
			name:  "accesskeys 429",
			kind:  voipbin.KindRateLimited,
			run:   validateFault(voipbintest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "3"}),
			check: wantRetryAfter(3*time.Second, 3*time.Second),
		},
		{
			name:  "accesskeys 502",
			kind:  voipbin.KindTransient,
			run:   validateFault(voipbintest.Fault{Status: http.StatusBadGateway, EmptyBody: true}),
			check: wantAPIError(http.StatusBadGateway, ""),
		},
		{
			name:  "accesskeys hang",
			kind:  voipbin.KindTransient,
			run:   validateFault(voipbintest.Fault{Hang: 5 * time.Second}),
			check: wantErrorType[*voipbin.TransportError](),
		},
		{
			// Count 3: net/http may retry an idempotent GET once on a reused
			// connection; every attempt must meet the reset.
			name:  "accesskeys connection reset",
			kind:  voipbin.KindTransient,
			run:   validateFault(voipbintest.Fault{Reset: true, Count: 3}),
			check: wantErrorType[*voipbin.TransportError](),
		},
		{
			name:  "accesskeys 200 with garbage",
			kind:  voipbin.KindTransient,
			run:   validateFault(voipbintest.Fault{Garbage: true}),
			check: wantErrorType[*voipbin.MalformedResponseError](),
		},
		{
			name:  "accesskeys 200 with an oversized body",
			kind:  voipbin.KindTransient,
			run:   validateFault(voipbintest.Fault{Oversized: true}),
			check: wantErrorType[*voipbin.MalformedResponseError](),
		},
		{
			name: "accesskeys redirect is not followed",
			kind: voipbin.KindUnexpectedResponse,
			run: func(sc *scenario) error {
				f := sc.fixture()
				c := sc.loggedIn(f, voipbin.Options{})
				f.s.InjectFault("/v1.0/accesskeys", voipbintest.Fault{Redirect: "/elsewhere"})
				_, err := c.ValidateAccessKey(context.Background(), f.key.Key)
				return err
			},
			check: func(t *testing.T, sc *scenario, err error) {
				wantAPIError(http.StatusFound, "")(t, sc, err)
				if n := sc.fixtures[0].s.Hits("/elsewhere"); n != 0 {
					t.Errorf("the redirect target was hit %d times", n)
				}
			},
		},
		{
			name: "accesskeys over TLS with an unknown CA",
			kind: voipbin.KindTLS,
			run: func(sc *scenario) error {
				f := sc.tlsFixture()
				_, err := f.client(sc.t, voipbin.Options{}).ValidateAccessKey(context.Background(), f.key.Key)
				return err
			},
			check: wantErrorType[*voipbin.TLSError](),
		},
	}
}

func TestFailureKinds(t *testing.T) {
	t.Parallel()
	for _, tc := range failureCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sc := &scenario{t: t}
			err := tc.run(sc)
			if err == nil {
				t.Fatal("no error")
			}
			if got := voipbin.KindOf(err); got != tc.kind {
				t.Fatalf("KindOf = %v, want %v (error %T: %v)", got, tc.kind, err, err)
			}
			helpers := map[voipbin.Kind]bool{
				voipbin.KindInvalidCredentials: voipbin.IsInvalidCredentials(err),
				voipbin.KindAccountDisabled:    voipbin.IsAccountDisabled(err),
				voipbin.KindTransient:          voipbin.IsTransient(err),
				voipbin.KindTLS:                voipbin.IsTLSError(err),
				voipbin.KindUnexpectedResponse: voipbin.IsUnexpectedResponse(err),
			}
			_, helpers[voipbin.KindRateLimited] = voipbin.IsRateLimited(err)
			for kind, yes := range helpers {
				if yes != (kind == tc.kind) {
					t.Errorf("the helper for %v says %v", kind, yes)
				}
			}
			if tc.check != nil {
				tc.check(t, sc, err)
			}
		})
	}
}

func TestKindOf(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err  error
		want voipbin.Kind
	}{
		{nil, voipbin.KindNone},
		{errors.New("foreign"), voipbin.KindTransient},
		{&voipbin.APIError{Operation: voipbin.OperationLogin, StatusCode: 400}, voipbin.KindInvalidCredentials},
		{&voipbin.APIError{Operation: voipbin.OperationListAccessKeys, StatusCode: 400}, voipbin.KindUnexpectedResponse},
		{&voipbin.APIError{Operation: voipbin.OperationListAccessKeys, StatusCode: 401}, voipbin.KindInvalidCredentials},
		{&voipbin.APIError{Operation: voipbin.OperationLogin, StatusCode: 401}, voipbin.KindUnexpectedResponse},
		{&voipbin.APIError{Operation: voipbin.OperationLogin, StatusCode: 403}, voipbin.KindAccountDisabled},
		{&voipbin.APIError{Operation: voipbin.OperationLogin, StatusCode: 429}, voipbin.KindRateLimited},
		{&voipbin.APIError{Operation: voipbin.OperationLogin, StatusCode: 500}, voipbin.KindTransient},
		{&voipbin.APIError{Operation: voipbin.OperationLogin, StatusCode: 599}, voipbin.KindTransient},
		{&voipbin.APIError{Operation: voipbin.OperationLogin, StatusCode: 301}, voipbin.KindUnexpectedResponse},
		{&voipbin.APIError{Operation: voipbin.OperationLogin, StatusCode: 204}, voipbin.KindUnexpectedResponse},
		{&voipbin.APIError{Operation: voipbin.OperationLogin, StatusCode: 404}, voipbin.KindUnexpectedResponse},
		{&voipbin.ThrottledError{}, voipbin.KindRateLimited},
		{&voipbin.TLSError{Err: errors.New("x")}, voipbin.KindTLS},
		{&voipbin.TransportError{Err: context.Canceled}, voipbin.KindTransient},
		{&voipbin.MalformedResponseError{}, voipbin.KindTransient},
		{&voipbin.CredentialFormatError{}, voipbin.KindInvalidCredentials},
		{wrap(&voipbin.APIError{StatusCode: 403}), voipbin.KindAccountDisabled},
	}
	for _, tc := range cases {
		if got := voipbin.KindOf(tc.err); got != tc.want {
			t.Errorf("KindOf(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func wrap(err error) error { return errors.Join(errors.New("context"), err) }

func TestAPIErrorDropsUnsafeServerStrings(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// A reason that is not an upper-case identifier is not repeated.
	f.s.InjectFault("/auth/login", voipbintest.Fault{Status: http.StatusForbidden, Reason: "password=" + testPassword})
	_, err := f.client(t, voipbin.Options{}).Login(context.Background(), testUser, testPassword)
	var apiErr *voipbin.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusForbidden {
		t.Fatalf("want a 403 APIError, got %v", err)
	}
	if apiErr.Reason != "" || strings.Contains(err.Error(), testPassword) {
		t.Errorf("the server's reason was repeated: %q / %q", apiErr.Reason, err.Error())
	}
	if apiErr.RequestID == "" {
		t.Errorf("the request id (X-Request-Id) was not kept")
	}
}
