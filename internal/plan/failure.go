package plan

import (
	"fmt"
	"time"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

// Failure is a failed login, accesskey check or Secret write, sorted for the
// status and the retry schedule. The controller builds it from typed errors.
type Failure struct {
	Kind FailureKind
	// Reason is the condition reason when no valid credential is stored.
	Reason string
	// Description says what happened. It never holds a credential, a body or a
	// URL query.
	Description string
	// RetryAfter is the API's Retry-After, for a 429.
	RetryAfter time.Duration
}

// needsHuman are the reasons of failures that only a person can fix: while one
// holds, the CR is Stalled (kstatus), even when a still-valid stored token keeps
// Ready True.
var needsHuman = map[string]bool{
	v1alpha1.ReasonInvalidCredentials:    true,
	v1alpha1.ReasonAccountDisabled:       true,
	v1alpha1.ReasonAccessKeyExpired:      true,
	v1alpha1.ReasonSecretNotFound:        true,
	v1alpha1.ReasonSecretKeyMissing:      true,
	v1alpha1.ReasonSecretConflict:        true,
	v1alpha1.ReasonAPIURLNotAllowed:      true,
	v1alpha1.ReasonTLSError:              true,
	v1alpha1.ReasonUnexpectedResponse:    true,
	v1alpha1.ReasonAccessKeyCreateFailed: true,
}

// expiredOnArrival is the failure of a token whose expiry is at or before the
// moment it arrived: the server's clock or its expire claim is wrong. Storing it
// would publish a useless token and renew it at once, in a loop.
func expiredOnArrival(tok HeldToken, at time.Time) Failure {
	return Failure{Kind: Transient, Reason: v1alpha1.ReasonUnexpectedResponse,
		Description: fmt.Sprintf("the API issued a token that expires at %s, not after it arrived at %s: "+
			"the server's clock is behind (clock skew) or its expire claim is wrong",
			timestamp(tok.ExpiresAt), timestamp(at))}
}

// failureMessage is the sanitized lastFailureMessage and condition message of a
// failure: what failed and why, from the error's typed fields only.
func failureMessage(what string, f Failure) string {
	return fmt.Sprintf("%s failed: %s", what, f.Description)
}
