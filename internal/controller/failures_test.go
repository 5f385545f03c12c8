package controller

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/internal/plan"
	"github.com/voipbin/credential-operator/internal/voipbin"
)

// secretInCause is planted in the causes of errors: classify builds its
// description from typed fields only, so it must never show.
const secretInCause = "hunter2-SECRET"

func TestClassify(t *testing.T) {
	login, list := voipbin.OperationLogin, voipbin.OperationListAccessKeys
	tests := []struct {
		name           string
		err            error
		what           string
		wantKind       plan.FailureKind
		wantReason     string
		wantRetryAfter time.Duration
		// wantInDescription are substrings the description must hold.
		wantInDescription []string
	}{
		{name: "login 400", what: "login",
			err:      &voipbin.APIError{Operation: login, Endpoint: "api.voipbin.net/auth/login", StatusCode: 400},
			wantKind: plan.Permanent, wantReason: v1alpha1.ReasonInvalidCredentials,
			wantInDescription: []string{"username or password", "HTTP 400"}},
		{name: "accesskey 401", what: "accesskey",
			err:      &voipbin.APIError{Operation: list, StatusCode: 401, Reason: "UNAUTHORIZED"},
			wantKind: plan.Permanent, wantReason: v1alpha1.ReasonInvalidCredentials,
			wantInDescription: []string{"accesskey", "HTTP 401 UNAUTHORIZED"}},
		{name: "login 401 is not an answer the login gives", what: "login",
			err:      &voipbin.APIError{Operation: login, StatusCode: 401},
			wantKind: plan.Permanent, wantReason: v1alpha1.ReasonUnexpectedResponse,
			wantInDescription: []string{"HTTP 401", "apiURL"}},
		{name: "accesskey 400 is not an answer the list gives", what: "accesskey",
			err:      &voipbin.APIError{Operation: list, StatusCode: 400},
			wantKind: plan.Permanent, wantReason: v1alpha1.ReasonUnexpectedResponse},
		{name: "login 403", what: "login",
			err:      &voipbin.APIError{Operation: login, StatusCode: 403, Reason: "ACCOUNT_FROZEN"},
			wantKind: plan.Permanent, wantReason: v1alpha1.ReasonAccountDisabled,
			wantInDescription: []string{"disabled", "HTTP 403 ACCOUNT_FROZEN"}},
		{name: "accesskey 403", what: "accesskey",
			err:      &voipbin.APIError{Operation: list, StatusCode: 403},
			wantKind: plan.Permanent, wantReason: v1alpha1.ReasonAccountDisabled},
		{name: "429 with Retry-After", what: "login",
			err:      &voipbin.APIError{Operation: login, StatusCode: 429, RetryAfter: 17 * time.Second},
			wantKind: plan.Transient, wantReason: v1alpha1.ReasonRateLimited, wantRetryAfter: 17 * time.Second,
			wantInDescription: []string{"HTTP 429", "17s"}},
		{name: "accesskey 429 with Retry-After", what: "accesskey",
			err:      &voipbin.APIError{Operation: list, StatusCode: 429, RetryAfter: 2 * time.Minute},
			wantKind: plan.Transient, wantReason: v1alpha1.ReasonRateLimited, wantRetryAfter: 2 * time.Minute},
		{name: "throttled on this side", what: "login",
			err:      &voipbin.ThrottledError{Operation: login, RetryAfter: 9 * time.Second, ServerRequested: true},
			wantKind: plan.Transient, wantReason: v1alpha1.ReasonRateLimited, wantRetryAfter: 9 * time.Second},
		{name: "404", what: "login",
			err:      &voipbin.APIError{Operation: login, StatusCode: 404},
			wantKind: plan.Permanent, wantReason: v1alpha1.ReasonUnexpectedResponse,
			wantInDescription: []string{"HTTP 404", "apiURL"}},
		{name: "302 redirect", what: "accesskey",
			err:      &voipbin.APIError{Operation: list, StatusCode: 302},
			wantKind: plan.Permanent, wantReason: v1alpha1.ReasonUnexpectedResponse,
			wantInDescription: []string{"HTTP 302"}},
		{name: "418", what: "login",
			err:      &voipbin.APIError{Operation: login, StatusCode: 418},
			wantKind: plan.Permanent, wantReason: v1alpha1.ReasonUnexpectedResponse},
		{name: "503", what: "login",
			err:      &voipbin.APIError{Operation: login, StatusCode: 503},
			wantKind: plan.Transient, wantReason: v1alpha1.ReasonAPIUnavailable,
			wantInDescription: []string{"HTTP 503 Service Unavailable"}},
		{name: "500 on the list", what: "accesskey",
			err:      &voipbin.APIError{Operation: list, StatusCode: 500},
			wantKind: plan.Transient, wantReason: v1alpha1.ReasonAPIUnavailable},
		{name: "timeout", what: "login",
			err: &voipbin.TransportError{Operation: login, Timeout: true,
				Err: fmt.Errorf("%w (password=%s)", voipbin.ErrRequestTimeout, secretInCause)},
			wantKind: plan.Transient, wantReason: v1alpha1.ReasonAPIUnavailable,
			wantInDescription: []string{"timeout"}},
		{name: "connection refused", what: "login",
			err: &voipbin.TransportError{Operation: login,
				Err: errors.New("dial tcp https://admin:" + secretInCause + "@api.voipbin.net: connection refused")},
			wantKind: plan.Transient, wantReason: v1alpha1.ReasonAPIUnavailable,
			wantInDescription: []string{"connect"}},
		{name: "caller's context canceled", what: "accesskey",
			err:      &voipbin.TransportError{Operation: list, Err: context.Canceled},
			wantKind: plan.Transient, wantReason: v1alpha1.ReasonAPIUnavailable},
		{name: "malformed 200", what: "login",
			err: &voipbin.MalformedResponseError{Operation: login, StatusCode: 200,
				Problem: "no token in the answer"},
			wantKind: plan.Transient, wantReason: v1alpha1.ReasonAPIUnavailable,
			wantInDescription: []string{"no token in the answer"}},
		{name: "TLS unknown authority", what: "login",
			err: &voipbin.TLSError{Operation: login, Err: fmt.Errorf("handshake with https://admin:%s@api: %w",
				secretInCause, x509.UnknownAuthorityError{})},
			wantKind: plan.Permanent, wantReason: v1alpha1.ReasonTLSError,
			wantInDescription: []string{"unknown authority", "tls.caSecretRef"}},
		{name: "TLS unknown authority, bare", what: "accesskey",
			err:      &voipbin.TLSError{Err: x509.UnknownAuthorityError{}},
			wantKind: plan.Permanent, wantReason: v1alpha1.ReasonTLSError,
			wantInDescription: []string{"unknown authority"}},
		{name: "TLS certificate invalid", what: "accesskey",
			err: &voipbin.TLSError{Operation: list,
				Err: x509.CertificateInvalidError{Reason: x509.Expired, Detail: secretInCause}},
			wantKind: plan.Permanent, wantReason: v1alpha1.ReasonTLSError,
			wantInDescription: []string{"invalid or expired"}},
		{name: "TLS alert", what: "login",
			err:      &voipbin.TLSError{Operation: login, Err: errors.New("remote error: " + secretInCause)},
			wantKind: plan.Permanent, wantReason: v1alpha1.ReasonTLSError},
		{name: "malformed accesskey", what: "accesskey",
			err: &voipbin.CredentialFormatError{Operation: list,
				Problem: "the accesskey contains whitespace or control characters"},
			wantKind: plan.Permanent, wantReason: v1alpha1.ReasonInvalidCredentials,
			wantInDescription: []string{"accesskey is malformed", "whitespace"}},
		{name: "wrapped 403", what: "login",
			err:      fmt.Errorf("logging in: %w", &voipbin.APIError{Operation: login, StatusCode: 403}),
			wantKind: plan.Permanent, wantReason: v1alpha1.ReasonAccountDisabled},
		{name: "wrapped 429", what: "login",
			err: fmt.Errorf("logging in: %w",
				&voipbin.APIError{Operation: login, StatusCode: 429, RetryAfter: 30 * time.Second}),
			wantKind: plan.Transient, wantReason: v1alpha1.ReasonRateLimited, wantRetryAfter: 30 * time.Second},
		{name: "wrapped TLS", what: "login",
			err:      fmt.Errorf("x: %w", &voipbin.TLSError{Operation: login, Err: x509.UnknownAuthorityError{}}),
			wantKind: plan.Permanent, wantReason: v1alpha1.ReasonTLSError},
		{name: "an error the client does not make", what: "login",
			err:      errors.New("boom " + secretInCause),
			wantKind: plan.Transient, wantReason: v1alpha1.ReasonAPIUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := classify(tt.err, tt.what)
			if f.Kind != tt.wantKind || f.Reason != tt.wantReason {
				t.Errorf("classify = kind %d reason %q, want kind %d reason %q", f.Kind, f.Reason, tt.wantKind, tt.wantReason)
			}
			if f.RetryAfter != tt.wantRetryAfter {
				t.Errorf("RetryAfter = %s, want %s", f.RetryAfter, tt.wantRetryAfter)
			}
			if f.Description == "" {
				t.Error("empty description")
			}
			for _, s := range tt.wantInDescription {
				if !strings.Contains(f.Description, s) {
					t.Errorf("description %q does not mention %q", f.Description, s)
				}
			}
			if strings.Contains(f.Description, secretInCause) {
				t.Errorf("description %q quotes the error's cause", f.Description)
			}
		})
	}
}

func TestDeferredBy(t *testing.T) {
	throttled := &voipbin.ThrottledError{Operation: voipbin.OperationLogin, RetryAfter: 12 * time.Second,
		ServerRequested: true}
	tests := []struct {
		name   string
		err    error
		want   time.Duration
		wantOK bool
	}{
		{name: "a 429 still in force", err: throttled, want: 12 * time.Second, wantOK: true},
		{name: "the client-side limiter", err: &voipbin.ThrottledError{Operation: voipbin.OperationListAccessKeys,
			RetryAfter: 250 * time.Millisecond}, want: 250 * time.Millisecond, wantOK: true},
		{name: "wrapped", err: fmt.Errorf("login: %w", throttled), want: 12 * time.Second, wantOK: true},
		{name: "a 429 answer is a failed attempt, not a wait",
			err:  &voipbin.APIError{Operation: voipbin.OperationLogin, StatusCode: 429, RetryAfter: 12 * time.Second},
			want: 0, wantOK: false},
		{name: "a 503", err: &voipbin.APIError{Operation: voipbin.OperationLogin, StatusCode: 503}, want: 0},
		{name: "a timeout", err: &voipbin.TransportError{Timeout: true, Err: voipbin.ErrRequestTimeout}, want: 0},
		{name: "nil", err: nil, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := deferredBy(tt.err)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("deferredBy = (%s, %t), want (%s, %t)", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
