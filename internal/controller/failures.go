package controller

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"time"

	logf "sigs.k8s.io/controller-runtime/pkg/log"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
	"github.com/voipbin/credential-operator/internal/plan"
	"github.com/voipbin/credential-operator/internal/voipbin"
)

// classify sorts an error of the VoIPBIN client. what names the credential
// ("login", "accesskey").
func classify(err error, what string) plan.Failure {
	switch voipbin.KindOf(err) {
	case voipbin.KindInvalidCredentials:
		var format *voipbin.CredentialFormatError
		if errors.As(err, &format) {
			return plan.Failure{Kind: plan.Permanent, Reason: v1alpha1.ReasonInvalidCredentials,
				Description: fmt.Sprintf("the %s is malformed: %s", what, format.Problem)}
		}
		return plan.Failure{Kind: plan.Permanent, Reason: v1alpha1.ReasonInvalidCredentials,
			Description: fmt.Sprintf("the API refused the %s (%s)", credentialNoun(what), statusText(err))}
	case voipbin.KindAccountDisabled:
		return plan.Failure{Kind: plan.Permanent, Reason: v1alpha1.ReasonAccountDisabled,
			Description: fmt.Sprintf("the VoIPBIN account is disabled (%s)", statusText(err))}
	case voipbin.KindRateLimited:
		retryAfter, _ := voipbin.IsRateLimited(err)
		return plan.Failure{Kind: plan.Transient, Reason: v1alpha1.ReasonRateLimited, RetryAfter: retryAfter,
			Description: fmt.Sprintf("the API is rate limiting (%s), Retry-After %s", statusText(err), retryAfter)}
	case voipbin.KindTLS:
		return plan.Failure{Kind: plan.Permanent, Reason: v1alpha1.ReasonTLSError,
			Description: "the TLS handshake failed: " + tlsProblem(err)}
	case voipbin.KindUnexpectedResponse:
		return plan.Failure{Kind: plan.Permanent, Reason: v1alpha1.ReasonUnexpectedResponse,
			Description: fmt.Sprintf("the API gave an answer it should not give (%s): check apiURL", statusText(err))}
	default:
		return plan.Failure{Kind: plan.Transient, Reason: v1alpha1.ReasonAPIUnavailable,
			Description: "the API is unavailable: " + transientProblem(err)}
	}
}

func credentialNoun(what string) string {
	if what == "login" {
		return "username or password"
	}
	return what
}

// statusText describes an APIError by status and reason, e.g. "HTTP 403 ACCOUNT_EXPIRED".
func statusText(err error) string {
	var apiErr *voipbin.APIError
	if errors.As(err, &apiErr) {
		s := fmt.Sprintf("HTTP %d", apiErr.StatusCode)
		if apiErr.Reason != "" {
			s += " " + apiErr.Reason
		}
		return s
	}
	var throttled *voipbin.ThrottledError
	if errors.As(err, &throttled) {
		return "throttled on this side"
	}
	return "no HTTP status"
}

func tlsProblem(err error) string {
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &unknownAuthority):
		return "certificate signed by an unknown authority (set tls.caSecretRef)"
	case errors.As(err, &hostname):
		return "the certificate is not valid for the API's host name"
	case errors.As(err, &invalid):
		return "the certificate is invalid or expired"
	default:
		return "the server's certificate was not accepted"
	}
}

func transientProblem(err error) string {
	var transport *voipbin.TransportError
	var malformed *voipbin.MalformedResponseError
	var apiErr *voipbin.APIError
	switch {
	case errors.As(err, &transport) && transport.Timeout:
		return "no answer before the timeout"
	case errors.As(err, &transport):
		return "could not connect or the connection broke"
	case errors.As(err, &malformed):
		return "its answer could not be understood: " + malformed.Problem
	case errors.As(err, &apiErr):
		return fmt.Sprintf("HTTP %d %s", apiErr.StatusCode, http.StatusText(apiErr.StatusCode))
	default:
		return "unknown error"
	}
}

// failedCall sorts the error of a call: a wait (a 429 that another request
// saw still holds: DeferredUntil) or a failure sorted by sortErr, logged with
// msg and its reason.
func failedCall(ctx context.Context, err error, at time.Time, sortErr func(error) plan.Failure,
	msg string, kv ...any) (deferredUntil time.Time, failure *plan.Failure) {
	if wait, ok := deferredBy(err); ok {
		logf.FromContext(ctx).V(1).Info("call deferred: the API asked to wait", "until", at.Add(wait).UTC().Format(time.RFC3339))
		return at.Add(wait), nil
	}
	f := sortErr(err)
	logf.FromContext(ctx).Info(msg, append(kv, "reason", f.Reason)...)
	return time.Time{}, &f
}

// deferredBy reports whether err is a call refused on this side without sending
// anything, because a 429 seen by any worker still holds: not a failed attempt,
// only a wait.
func deferredBy(err error) (time.Duration, bool) {
	var throttled *voipbin.ThrottledError
	if errors.As(err, &throttled) {
		return throttled.RetryAfter, true
	}
	return 0, false
}
