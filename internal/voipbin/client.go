package voipbin

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/voipbin/credential-operator/internal/version"
)

// Operation names, used in errors and reported to the Observer. They are the
// `operation` label values of voipbin_api_requests_total.
const (
	// OperationLogin is POST /auth/login.
	OperationLogin = "login"
	// OperationListAccessKeys is GET /v1.0/accesskeys.
	OperationListAccessKeys = "list_accesskeys"
)

// ObservedCodeError is the code reported to an Observer for a request that
// got no HTTP answer (network error, timeout, TLS failure).
const ObservedCodeError = "error"

const (
	// DefaultTimeout bounds one request, from sending to the last byte of the
	// body. A login takes well under a second; 15 s tolerates a slow network
	// while still freeing a worker long before its next scheduled action, so
	// that a hung API cannot pin all workers.
	DefaultTimeout = 15 * time.Second

	// MaxBodyBytes caps every response body read. A login answer is a few
	// hundred bytes and a full accesskey page (100 entries) about 40 KiB;
	// 1 MiB leaves ample room and stops a broken or hostile server (or a
	// captive portal) from making the operator buffer an unbounded body.
	MaxBodyBytes = 1 << 20
)

// Observer receives one call per HTTP request sent, for metrics. operation is
// OperationLogin or OperationListAccessKeys; code is the HTTP status as a
// decimal string, or ObservedCodeError when no answer arrived. Calls refused
// locally by the Throttle sent nothing and are not observed. Implementations
// must be safe for concurrent use.
type Observer interface {
	ObserveRequest(operation, code string, duration time.Duration)
}

// Options configures a Client. The zero value is usable.
type Options struct {
	// HTTPClient sends the requests. When nil, one is built from CACertPEM and
	// InsecureSkipVerify. When set, it is copied and the copy's CheckRedirect
	// and Jar are replaced: redirects are never followed and cookies never
	// stored, whatever the given client says. Its Timeout is left as is.
	HTTPClient *http.Client
	// CACertPEM holds extra CA certificates (PEM) trusted in addition to the
	// system roots. Ignored when HTTPClient is set.
	CACertPEM []byte
	// InsecureSkipVerify disables TLS certificate verification. Never the
	// default. Ignored when HTTPClient is set.
	InsecureSkipVerify bool
	// Timeout bounds each request (each page of a listing), from sending to
	// the end of the body; DefaultTimeout when zero or negative.
	Timeout time.Duration
	// UserAgent is sent as User-Agent; default
	// "voipbin-credential-operator/" + Version.
	UserAgent string
	// Throttle is the rate limiting shared by every Client of one API URL;
	// when nil the Client gets a private NewDefaultThrottle().
	Throttle *Throttle
	// Observer, when set, is told about every request sent.
	Observer Observer
	// Now is the clock used for token times and Retry-After gates; time.Now
	// when nil.
	Now func() time.Time
}

// Client talks to one VoIPBIN API URL. It is safe for concurrent use and holds
// no credentials between calls: no cookie jar, nothing cached.
type Client struct {
	base       *url.URL
	httpClient *http.Client
	timeout    time.Duration
	userAgent  string
	throttle   *Throttle
	observer   Observer
	now        func() time.Time
}

// New returns a Client for the API at baseURL (for example
// https://api.voipbin.net). baseURL must be http or https with a host and no
// user info, query or fragment; a path prefix is kept, a trailing slash
// dropped.
func New(baseURL string, opts Options) (*Client, error) {
	base, err := parseBaseURL(baseURL)
	if err != nil {
		return nil, err
	}
	c := &Client{
		base:      base,
		timeout:   opts.Timeout,
		userAgent: opts.UserAgent,
		throttle:  opts.Throttle,
		observer:  opts.Observer,
		now:       opts.Now,
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.userAgent == "" {
		c.userAgent = "voipbin-credential-operator/" + version.Version
	}
	if c.throttle == nil {
		c.throttle = NewDefaultThrottle()
	}
	if c.now == nil {
		c.now = time.Now
	}
	if opts.HTTPClient != nil {
		hc := *opts.HTTPClient
		c.httpClient = &hc
	} else {
		transport, err := newTransport(opts.CACertPEM, opts.InsecureSkipVerify)
		if err != nil {
			return nil, err
		}
		c.httpClient = &http.Client{Transport: transport}
	}
	// A redirect is an answer the API never gives: following it could send
	// the password to another host. No jar: the login's `token` cookie must
	// never ride along on a later call, where the server would prefer it to
	// the accesskey being validated.
	c.httpClient.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.httpClient.Jar = nil
	return c, nil
}

// BaseURL returns the API URL the client talks to, as normalized by New.
func (c *Client) BaseURL() string { return c.base.String() }

// CloseIdleConnections closes the idle keep-alive connections of the
// underlying transport; call it when dropping a Client.
func (c *Client) CloseIdleConnections() { c.httpClient.CloseIdleConnections() }

func parseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse quotes the input, which may hold user info: say less.
		return nil, errors.New("voipbin: the API URL is not a valid URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, errors.New("voipbin: the API URL must start with http:// or https://")
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return nil, errors.New("voipbin: the API URL has no host")
	case u.User != nil:
		return nil, errors.New("voipbin: the API URL must not contain user info")
	case u.RawQuery != "" || u.ForceQuery:
		return nil, errors.New("voipbin: the API URL must not contain a query")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return nil, errors.New("voipbin: the API URL must not contain a fragment")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

func newTransport(caPEM []byte, insecure bool) (*http.Transport, error) {
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if insecure {
		tlsConfig.InsecureSkipVerify = true // explicitly requested by spec.tls.insecureSkipVerify
	}
	if len(caPEM) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, errors.New("voipbin: the CA bundle holds no PEM certificate")
		}
		tlsConfig.RootCAs = pool
	}
	base, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return nil, errors.New("voipbin: http.DefaultTransport is not an *http.Transport")
	}
	t := base.Clone()
	t.TLSClientConfig = tlsConfig
	return t, nil
}

// request is one API call as do sends it.
type request struct {
	operation string
	method    string
	path      string     // below the base URL, starting with "/"
	query     url.Values // never holds a credential
	body      []byte     // JSON, or nil
	cookie    string     // a full Cookie header value, or ""
	bearer    string     // a login token for the Authorization header, or ""
}

// response is a 200 answer with its body read.
type response struct {
	header http.Header
	body   []byte
	at     time.Time // when the answer had been read, on c.now's clock
}

// endpoint is host and path of a request: what errors may say about where a
// call went. The query never appears.
func (c *Client) endpoint(path string) string {
	return c.base.Host + c.base.Path + path
}

// do sends one request through the throttle and returns the 200 answer, or a
// typed error for anything else.
func (c *Client) do(ctx context.Context, req request) (*response, error) {
	endpoint := c.endpoint(req.path)
	class := classOf(req.operation)

	// A 429 seen by any client sharing the throttle holds for everyone.
	if d := c.throttle.blockedFor(class, c.now()); d > 0 {
		return nil, &ThrottledError{Operation: req.operation, Endpoint: endpoint, RetryAfter: d, ServerRequested: true}
	}
	if need, err := c.throttle.wait(ctx, class); err != nil {
		if errors.Is(err, errWouldExceedDeadline) {
			return nil, &ThrottledError{Operation: req.operation, Endpoint: endpoint, RetryAfter: need}
		}
		return nil, &TransportError{Operation: req.operation, Endpoint: endpoint, Err: err}
	}
	// A 429 may have arrived while this call waited for its token.
	if d := c.throttle.blockedFor(class, c.now()); d > 0 {
		return nil, &ThrottledError{Operation: req.operation, Endpoint: endpoint, RetryAfter: d, ServerRequested: true}
	}

	reqCtx, cancel := context.WithTimeoutCause(ctx, c.timeout, ErrRequestTimeout)
	defer cancel()

	u := *c.base
	u.Path = c.base.Path + req.path
	u.RawQuery = req.query.Encode()
	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	httpReq, err := http.NewRequestWithContext(reqCtx, req.method, u.String(), body)
	if err != nil {
		return nil, &TransportError{Operation: req.operation, Endpoint: endpoint, Err: errors.New("cannot build the request")}
	}
	httpReq.Header.Set("Accept", "application/json")
	httpReq.Header.Set("User-Agent", c.userAgent)
	if req.body != nil {
		httpReq.Header.Set("Content-Type", "application/json")
	}
	if req.cookie != "" {
		// Set by hand rather than with AddCookie: the value is validated by
		// the caller, and net/http's sanitizer would log invalid bytes.
		httpReq.Header.Set("Cookie", req.cookie)
	}
	if req.bearer != "" {
		httpReq.Header.Set("Authorization", "Bearer "+req.bearer)
	}

	start := time.Now()
	httpResp, err := c.httpClient.Do(httpReq)
	if err != nil {
		c.observe(req.operation, ObservedCodeError, time.Since(start))
		return nil, c.classifyTransportError(ctx, reqCtx, req.operation, endpoint, err)
	}
	defer func() { _ = httpResp.Body.Close() }()
	// Read one byte more than the cap to tell "exactly the cap" from "more".
	data, readErr := io.ReadAll(io.LimitReader(httpResp.Body, MaxBodyBytes+1))
	duration := time.Since(start)
	if readErr != nil {
		c.observe(req.operation, ObservedCodeError, duration)
		return nil, c.classifyTransportError(ctx, reqCtx, req.operation, endpoint, readErr)
	}
	c.observe(req.operation, strconv.Itoa(httpResp.StatusCode), duration)
	at := c.now()

	if httpResp.StatusCode != http.StatusOK {
		return nil, c.apiError(req.operation, endpoint, httpResp, data, at)
	}
	if len(data) > MaxBodyBytes {
		return nil, &MalformedResponseError{Operation: req.operation, Endpoint: endpoint, StatusCode: httpResp.StatusCode,
			Problem: fmt.Sprintf("body larger than %d bytes", MaxBodyBytes)}
	}
	return &response{header: httpResp.Header, body: data, at: at}, nil
}

func (c *Client) observe(operation, code string, d time.Duration) {
	if c.observer != nil {
		c.observer.ObserveRequest(operation, code, d)
	}
}

// apiError builds the error of a non-200 answer and, for a 429, closes the
// throttle's gate for the operation's class.
func (c *Client) apiError(operation, endpoint string, resp *http.Response, body []byte, at time.Time) *APIError {
	e := &APIError{Operation: operation, Endpoint: endpoint, StatusCode: resp.StatusCode}
	env, _ := decodeEnvelope(body)
	e.Reason = safeToken(env.Error.Reason, 64, isReasonRune)
	e.RequestID = safeToken(resp.Header.Get("X-Request-Id"), 128, isRequestIDRune)
	if e.RequestID == "" {
		e.RequestID = safeToken(env.Error.RequestID, 128, isRequestIDRune)
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		d, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), at)
		if !ok {
			d = defaultRetryAfter
		}
		e.RetryAfter = d
		c.throttle.block(classOf(operation), at, d)
	}
	return e
}

// classifyTransportError turns an error of http.Client.Do or of reading a
// body into a typed error whose message never holds the URL: *url.Error
// prints the full URL, so only its cause is kept.
func (c *Client) classifyTransportError(callerCtx, reqCtx context.Context, operation, endpoint string, err error) error {
	if callerErr := callerCtx.Err(); callerErr != nil {
		return &TransportError{Operation: operation, Endpoint: endpoint, Err: callerErr}
	}
	if errors.Is(context.Cause(reqCtx), ErrRequestTimeout) {
		return &TransportError{Operation: operation, Endpoint: endpoint, Timeout: true,
			Err: fmt.Errorf("%w after %s", ErrRequestTimeout, c.timeout)}
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err
	}
	if isTLSHandshakeError(err) {
		return &TLSError{Operation: operation, Endpoint: endpoint, Err: err}
	}
	return &TransportError{Operation: operation, Endpoint: endpoint, Err: err}
}

func isTLSHandshakeError(err error) bool {
	var (
		verifyErr    *tls.CertificateVerificationError
		unknownCA    x509.UnknownAuthorityError
		hostnameErr  x509.HostnameError
		invalidCert  x509.CertificateInvalidError
		systemRoots  x509.SystemRootsError
		alertErr     tls.AlertError
		recordHeader tls.RecordHeaderError
	)
	return errors.As(err, &verifyErr) || errors.As(err, &unknownCA) || errors.As(err, &hostnameErr) ||
		errors.As(err, &invalidCert) || errors.As(err, &systemRoots) || errors.As(err, &alertErr) ||
		errors.As(err, &recordHeader)
}
