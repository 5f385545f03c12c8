package voipbin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Kind sorts every error of this package into the few classes a caller acts
// on. The controller maps a Kind to a condition reason and a retry schedule;
// it never looks at error strings.
type Kind int

const (
	// KindNone is the Kind of a nil error.
	KindNone Kind = iota
	// KindInvalidCredentials: the login answered 400 (wrong username or
	// password; the server cannot tell them apart), an API call answered 401
	// (unknown, expired or deleted token or accesskey), or an accesskey is not
	// even well-formed.
	KindInvalidCredentials
	// KindAccountDisabled: the API answered 403, the customer account is
	// frozen, expired or deleted.
	KindAccountDisabled
	// KindRateLimited: the API answered 429, or a 429 seen earlier by any
	// client sharing the Throttle still holds, or the client-side limiter
	// cannot let the call through before the caller's deadline.
	KindRateLimited
	// KindTransient: no usable answer (network error, timeout, connection
	// reset, 5xx, a 200 that could not be understood), or the caller's
	// context ended. Retrying later may succeed.
	KindTransient
	// KindTLS: the TLS handshake failed (unknown authority, bad certificate,
	// hostname mismatch).
	KindTLS
	// KindUnexpectedResponse: an answer the API does not give (a redirect,
	// 404, another 4xx): most likely the API URL points somewhere else.
	KindUnexpectedResponse
)

// String returns the name of the kind, for logs and tests.
func (k Kind) String() string {
	switch k {
	case KindNone:
		return "None"
	case KindInvalidCredentials:
		return "InvalidCredentials"
	case KindAccountDisabled:
		return "AccountDisabled"
	case KindRateLimited:
		return "RateLimited"
	case KindTransient:
		return "Transient"
	case KindTLS:
		return "TLS"
	case KindUnexpectedResponse:
		return "UnexpectedResponse"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// KindOf classifies err, looking through wrapping. nil is KindNone. An error
// this package did not make (which its methods never return) counts as
// KindTransient: retrying with backoff is the safe reaction to the unknown.
func KindOf(err error) Kind {
	if err == nil {
		return KindNone
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.Kind()
	}
	var throttled *ThrottledError
	if errors.As(err, &throttled) {
		return KindRateLimited
	}
	var tlsErr *TLSError
	if errors.As(err, &tlsErr) {
		return KindTLS
	}
	var formatErr *CredentialFormatError
	if errors.As(err, &formatErr) {
		return KindInvalidCredentials
	}
	return KindTransient
}

// IsInvalidCredentials reports whether err means the credential was rejected
// (login 400, API 401) or is malformed.
func IsInvalidCredentials(err error) bool { return KindOf(err) == KindInvalidCredentials }

// IsAccountDisabled reports whether err is a 403: the customer account is
// frozen, expired or deleted.
func IsAccountDisabled(err error) bool { return KindOf(err) == KindAccountDisabled }

// IsTransient reports whether err is a network error, a timeout, a 5xx, an
// unusable 200, or the end of the caller's context.
func IsTransient(err error) bool { return KindOf(err) == KindTransient }

// IsTLSError reports whether err is a failed TLS handshake.
func IsTLSError(err error) bool { return KindOf(err) == KindTLS }

// IsUnexpectedResponse reports whether err is an answer the API should not
// give (3xx, 404, another 4xx).
func IsUnexpectedResponse(err error) bool { return KindOf(err) == KindUnexpectedResponse }

// IsRateLimited reports whether err is a rate limit, and how long calls of the
// same operation must wait (0 when the server gave no usable Retry-After).
func IsRateLimited(err error) (retryAfter time.Duration, ok bool) {
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Kind() == KindRateLimited {
		return apiErr.RetryAfter, true
	}
	var throttled *ThrottledError
	if errors.As(err, &throttled) {
		return throttled.RetryAfter, true
	}
	return 0, false
}

// APIError is a non-200 answer of the API. Its Kind depends on StatusCode and
// Operation: login 400 and API 401 are invalid credentials, 403 account
// disabled, 429 rate limited, 5xx transient, anything else unexpected.
type APIError struct {
	// Operation is OperationLogin or OperationListAccessKeys.
	Operation string
	// Endpoint is host and path of the request, never its query.
	Endpoint string
	// StatusCode is the HTTP status.
	StatusCode int
	// Reason is the envelope's reason (e.g. INVALID_CREDENTIALS), or "" when
	// the answer had none, as with the bare 400 of a failed login. Only an
	// upper-case identifier is kept: the server's text never reaches a log
	// unchecked.
	Reason string
	// RetryAfter is the parsed Retry-After of a 429 (defaultRetryAfter when
	// the header is missing or unusable, capped at maxRetryAfter).
	RetryAfter time.Duration
	// RequestID is the server's request id (X-Request-Id), for support.
	RequestID string
}

// Kind classifies the answer; see the type's documentation.
func (e *APIError) Kind() Kind {
	switch {
	case e.StatusCode == http.StatusTooManyRequests:
		return KindRateLimited
	case e.StatusCode == http.StatusForbidden:
		return KindAccountDisabled
	case e.StatusCode == http.StatusBadRequest && e.Operation == OperationLogin:
		// The login's only 400: wrong username or password, or a body the
		// server could not read. The server does not tell them apart.
		return KindInvalidCredentials
	case e.StatusCode == http.StatusUnauthorized && e.Operation != OperationLogin:
		return KindInvalidCredentials
	case e.StatusCode >= 500 && e.StatusCode <= 599:
		return KindTransient
	}
	return KindUnexpectedResponse
}

// Error describes the answer: operation, endpoint, status, kind, reason and
// request id; never a credential or a query.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "voipbin %s %s: HTTP %d", e.Operation, e.Endpoint, e.StatusCode)
	switch e.Kind() {
	case KindInvalidCredentials:
		if e.Operation == OperationLogin {
			b.WriteString(": username or password rejected")
		} else {
			b.WriteString(": credential rejected")
		}
	case KindAccountDisabled:
		b.WriteString(": account disabled")
	case KindRateLimited:
		fmt.Fprintf(&b, ": rate limited, retry after %s", e.RetryAfter)
	case KindTransient:
		b.WriteString(": server error")
	default:
		switch {
		case e.StatusCode >= 300 && e.StatusCode <= 399:
			b.WriteString(": unexpected redirect, not followed (is the API URL right?)")
		case e.StatusCode == http.StatusNotFound:
			b.WriteString(": unexpected not found (is the API URL right?)")
		default:
			b.WriteString(": unexpected response")
		}
	}
	if e.Reason != "" {
		b.WriteString(" (" + e.Reason + ")")
	}
	if e.RequestID != "" {
		b.WriteString(", request id " + e.RequestID)
	}
	return b.String()
}

// ThrottledError is a call refused on this side without sending anything:
// either a 429 seen by a client sharing the Throttle is still in force, or the
// client-side limiter could not let the call through before the caller's
// deadline. Its Kind is KindRateLimited.
type ThrottledError struct {
	// Operation is OperationLogin or OperationListAccessKeys.
	Operation string
	// Endpoint is host and path of the call that was not sent.
	Endpoint string
	// RetryAfter is how long calls of this operation must still wait.
	RetryAfter time.Duration
	// ServerRequested is true when the wait comes from the server's
	// Retry-After, false when it comes from the client-side limiter.
	ServerRequested bool
}

// Error says why the call was not sent and how long to wait.
func (e *ThrottledError) Error() string {
	if e.ServerRequested {
		return fmt.Sprintf("voipbin %s %s: not sent: the API asked to wait, %s left", e.Operation, e.Endpoint, e.RetryAfter)
	}
	return fmt.Sprintf("voipbin %s %s: not sent: client-side rate limit needs %s, more than the deadline allows",
		e.Operation, e.Endpoint, e.RetryAfter)
}

// TransportError is a call that got no usable HTTP answer: DNS, connection
// refused or reset, a timeout, or the caller's context ending. Its Kind is
// KindTransient. When the caller's context ended, Err is that context's
// error, so errors.Is(err, context.Canceled) tells a cancellation apart.
type TransportError struct {
	// Operation is OperationLogin or OperationListAccessKeys.
	Operation string
	// Endpoint is host and path of the request, never its query.
	Endpoint string
	// Timeout is true when the per-request timeout (Options.Timeout) expired.
	Timeout bool
	// Err is the cause, already stripped of the request URL.
	Err error
}

// Error describes the failure without the request URL.
func (e *TransportError) Error() string {
	if e.Timeout {
		return fmt.Sprintf("voipbin %s %s: no answer in time: %v", e.Operation, e.Endpoint, e.Err)
	}
	return fmt.Sprintf("voipbin %s %s: request failed: %v", e.Operation, e.Endpoint, e.Err)
}

// Unwrap returns the cause.
func (e *TransportError) Unwrap() error { return e.Err }

// ErrRequestTimeout is the cause of a TransportError whose per-request
// timeout expired. It is deliberately not context.DeadlineExceeded, which
// stays reserved for the caller's own context.
var ErrRequestTimeout = errors.New("request timed out")

// MalformedResponseError is a 200 whose body could not be used: not JSON, not
// the expected shape, or larger than the body cap. Its Kind is KindTransient.
type MalformedResponseError struct {
	// Operation is OperationLogin or OperationListAccessKeys.
	Operation string
	// Endpoint is host and path of the request, never its query.
	Endpoint string
	// StatusCode is the HTTP status of the answer (200).
	StatusCode int
	// Problem says what is wrong, without quoting the body.
	Problem string
}

// Error says what is wrong with the body without quoting it.
func (e *MalformedResponseError) Error() string {
	return fmt.Sprintf("voipbin %s %s: HTTP %d with an unusable body: %s", e.Operation, e.Endpoint, e.StatusCode, e.Problem)
}

// TLSError is a failed TLS handshake: unknown certificate authority, invalid
// or expired certificate, hostname mismatch, or a TLS alert from the server.
// Its Kind is KindTLS.
type TLSError struct {
	// Operation is OperationLogin or OperationListAccessKeys.
	Operation string
	// Endpoint is host and path of the request, never its query.
	Endpoint string
	// Err is the crypto/tls or crypto/x509 error.
	Err error
}

// Error describes the handshake failure without the request URL.
func (e *TLSError) Error() string {
	return fmt.Sprintf("voipbin %s %s: TLS handshake failed: %v", e.Operation, e.Endpoint, e.Err)
}

// Unwrap returns the crypto/tls or crypto/x509 error.
func (e *TLSError) Unwrap() error { return e.Err }

// CredentialFormatError is a credential refused before sending because no
// server could accept it (an accesskey with whitespace or control characters
// cannot even be put in a cookie). Its Kind is KindInvalidCredentials.
type CredentialFormatError struct {
	// Operation is the operation that was not attempted.
	Operation string
	// Problem says what is wrong, without quoting the credential.
	Problem string
}

// Error says what is wrong without quoting the credential.
func (e *CredentialFormatError) Error() string {
	return fmt.Sprintf("voipbin %s: credential not sent: %s", e.Operation, e.Problem)
}

// safeToken returns s when it is made only of the characters allowed by
// allowed and is at most maxLen long, else "". It keeps server-provided
// strings (reasons, request ids) out of error messages unless they are
// plainly identifiers.
func safeToken(s string, maxLen int, allowed func(r rune) bool) string {
	if s == "" || len(s) > maxLen {
		return ""
	}
	for _, r := range s {
		if !allowed(r) {
			return ""
		}
	}
	return s
}

func isReasonRune(r rune) bool {
	return (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') || r == '_'
}

func isRequestIDRune(r rune) bool {
	return (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') ||
		r == '-' || r == '_' || r == '.' || r == ':'
}

// envelope is VoIPBIN's error body, sent with every error answer except the
// bare 400 of a failed login.
type envelope struct {
	Error struct {
		Status    string `json:"status"`
		Reason    string `json:"reason"`
		Message   string `json:"message"`
		RequestID string `json:"request_id"`
	} `json:"error"`
}

// decodeEnvelope reads an error envelope; an empty or foreign body gives the
// zero envelope and an error the caller may ignore.
func decodeEnvelope(body []byte) (envelope, error) {
	var env envelope
	if len(body) == 0 {
		return env, errors.New("empty body")
	}
	err := json.Unmarshal(body, &env)
	return env, err
}
