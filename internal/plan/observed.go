// Package plan decides what a reconcile of a VoipbinCredential does. It is pure:
// Decide turns what the controller gathered (the CR, the managed Secret as the API
// server holds it, the input Secrets' versions, what the process remembers) and
// the time into a Plan (one API call or Secret write to make next, or the final
// status, events and wake time). It imports no Kubernetes client and no HTTP; the
// controller gathers and acts. Every rule of docs/architecture.md, "Invariants",
// is a property of Decide, checked by the table tests and the property test of
// this package.
package plan

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

// part names one credential of a VoipbinCredential.
type part int

const (
	partLogin part = iota
	partAccessKey
)

// Observed is everything a decision needs, gathered by the controller.
type Observed struct {
	// CR is the VoipbinCredential as read at the start of the reconcile. Decide
	// never modifies it; its status is what the cluster holds.
	CR *v1alpha1.VoipbinCredential
	// Status is the status decided so far in this reconcile (nil: CR.Status). The
	// controller passes each Plan's Status back here before the next Decide.
	Status *v1alpha1.VoipbinCredentialStatus
	// Allowed is the operator's --allowed-api-urls.
	Allowed AllowedURLs
	// Inputs are the input Secrets, read from the API server.
	Inputs Inputs
	// Secret is the Secret named spec.secretName as the API server holds it (nil:
	// none), whoever it belongs to.
	Secret *corev1.Secret
	// SecretTokenUsername is the agent.username claim of the token in Secret
	// ("" when there is none or it cannot be read).
	SecretTokenUsername string
	// Memory is what this process remembers of the CR (by UID).
	Memory Memory
	// Outcome is what the action of the previous Plan of this reconcile gave.
	Outcome Outcome
	// Stopping: the manager is stopping; no new API call may start.
	Stopping bool
}

// Inputs are what the input Secrets hold, as far as a decision needs it: the
// password never reaches this package.
type Inputs struct {
	Endpoint    Endpoint
	EndpointErr *InputError

	Login    *LoginInput
	LoginErr *InputError

	AccessKey    *AccessKeyInput
	AccessKeyErr *InputError
}

// Endpoint is where the API is reached.
type Endpoint struct {
	// URL is spec.apiURL normalised (see NormalizeAPIURL): where requests go.
	URL string
	// Hash identifies URL and the TLS settings, including the CA Secret's version.
	Hash string
}

// InputError is an input that cannot be used until it changes: SecretNotFound,
// SecretKeyMissing, or TLSError for a CA Secret without a certificate.
type InputError struct {
	Reason  string
	Message string
}

// LoginInput is the login Secret, without its password.
type LoginInput struct {
	Username string
	// Version is the login Secret's <uid>/<resourceVersion>.
	Version string
}

// AccessKeyInput is the accesskey Secret.
type AccessKeyInput struct {
	Key string
	// Version is the accesskey Secret's <uid>/<resourceVersion>.
	Version string
}

// Memory is what the process remembers of one CR between reconciles: results not
// yet stored and failed attempts. It is lost on a restart, by design: a restart
// costs at most one attempt per credential.
type Memory struct {
	// Token is a token obtained and not yet stored in the managed Secret: every
	// retry of the write reuses it instead of logging in again.
	Token *HeldToken
	// Key is an accesskey validated and not yet recorded.
	Key *HeldKey
	// Login, Check and Write are the last failed (or deferred) login, accesskey
	// check and Secret write, with the inputs they were made with.
	Login, Check, Write Attempt
	// RefreshLogin and RefreshKey are the refresh request each credential has
	// answered with a result that was stored; RefreshLoginExpiry is the expiry of
	// the token that answered it, so that a refresh counts as handled only while
	// the Secret still holds that token.
	RefreshLogin, RefreshKey string
	RefreshLoginExpiry       time.Time

	// Revoke is the last failed (or deferred) deletion of issued accesskeys.
	Revoke Attempt
	// Keys is the last listing of the CR's own issued accesskeys and what it
	// found to delete (accessKey.issue).
	Keys *KeyListing
	// Listing is why the listing in flight was asked for.
	Listing ListPurpose
	// Swept: this process has listed the CR's issued keys once (the sweep
	// for orphans at start-up).
	Swept bool
}

// ListPurpose says why the CR's issued accesskeys are listed.
type ListPurpose int

const (
	// ListSweep looks for orphans: keys created whose answer was lost.
	ListSweep ListPurpose = iota + 1
	// ListMint is the sweep every mint starts with.
	ListMint
	// ListFinalize finds every key of a deleted CR.
	ListFinalize
)

// KeyListing is what a listing of the CR's issued accesskeys found.
type KeyListing struct {
	At      time.Time
	Purpose ListPurpose
	// Orphans are the ids still to delete.
	Orphans []KeyInfo
}

// HeldToken is a login token in memory. It never prints its JWT.
type HeldToken struct {
	JWT      string
	Username string
	IssuedAt time.Time
	// ExpiresAt is the token's expiry, whole seconds.
	ExpiresAt time.Time
	// LoginVersion and EndpointHash are the inputs it was obtained with; Refresh
	// the refresh request pending then ("" none).
	LoginVersion, EndpointHash, Refresh string
}

// Format prints the token's times only.
func (h HeldToken) Format(f fmt.State, _ rune) {
	_, _ = fmt.Fprintf(f, "HeldToken{issuedAt: %s, expiresAt: %s}", timestamp(h.IssuedAt), timestamp(h.ExpiresAt))
}

// HeldKey is an accesskey validated by this process. It never prints the key.
type HeldKey struct {
	Key         string
	Info        KeyInfo
	ValidatedAt time.Time
	// SecretVersion and EndpointHash are the inputs it was validated with;
	// Refresh the refresh request pending then.
	SecretVersion, EndpointHash, Refresh string
	// Issued: the operator created this key (accessKey.issue); ValidatedAt is
	// then when it was created.
	Issued bool
}

// Format prints the key's prefix only.
func (h HeldKey) Format(f fmt.State, _ rune) {
	_, _ = fmt.Fprintf(f, "HeldKey{prefix: %s}", h.Info.Prefix)
}

// KeyInfo is what the accesskey list says of a key.
type KeyInfo struct {
	ID, Name, Prefix string
	// ExpiresAt is zero when the key was not found in the list.
	ExpiresAt time.Time
}

// Attempt is a failed or deferred attempt.
type Attempt struct {
	// Inputs identifies what the attempt depended on ("": no attempt remembered).
	Inputs string
	// NotBefore is when the next attempt is due while Inputs stay the same.
	NotBefore time.Time
	// Failure is what failed; nil for a call deferred by a Retry-After another
	// request received (not an attempt).
	Failure *Failure
	// Count counts consecutive failed writes (logins and checks count in the status).
	Count int32
	// HadStored: the Secret held the credential when the attempt failed.
	HadStored bool
}

// remembered returns a when it was made with inputs and the credential it left in
// the Secret is still there: deleting the Secret, or editing it by hand, asks for
// an attempt at once. The operator's own write that stores a credential changes
// nothing here: its own writes never bring an attempt forward.
func (a Attempt) remembered(inputs string, storedNow bool) *Attempt {
	if a.Inputs == "" || a.Inputs != inputs || (a.HadStored && !storedNow) {
		return nil
	}
	return &a
}

// Outcome is the result of the action of the previous Plan; at most one is set.
type Outcome struct {
	Login  *CallOutcome
	Check  *CallOutcome
	Write  *WriteOutcome
	Mint   *MintOutcome
	List   *ListOutcome
	Revoke *RevokeOutcome
}

// MintOutcome is the result of creating an accesskey.
type MintOutcome struct {
	At time.Time
	// Key is the created key, with Info and ValidatedAt (its creation) set.
	Key *HeldKey
	// Failure and DeferredUntil as in CallOutcome.
	Failure       *Failure
	DeferredUntil time.Time
}

// ListOutcome is the result of listing the CR's own issued accesskeys.
type ListOutcome struct {
	At            time.Time
	Keys          []KeyInfo
	Failure       *Failure
	DeferredUntil time.Time
}

// RevokeOutcome is the result of deleting accesskeys: those deleted (or gone
// already), and the failure that stopped the rest.
type RevokeOutcome struct {
	At            time.Time
	Revoked       []KeyInfo
	Failure       *Failure
	DeferredUntil time.Time
}

// CallOutcome is the result of a login or an accesskey check.
type CallOutcome struct {
	// At is when the answer arrived.
	At time.Time
	// Token is the token a login obtained (LoginVersion, EndpointHash and Refresh
	// are filled in by Decide).
	Token *HeldToken
	// Key is what a check found (Key, the inputs and Refresh are filled in by Decide).
	Key *KeyInfo
	// Failure is a failed call.
	Failure *Failure
	// DeferredUntil is set when the call was not made: a Retry-After holds.
	DeferredUntil time.Time
}

// WriteOutcome is a failed write of the managed Secret. (A successful write is
// observed as the Secret it wrote.)
type WriteOutcome struct {
	// Message quotes the API server, sanitized by the controller.
	Message string
}
