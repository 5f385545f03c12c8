package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DeletionPolicy says what happens to the managed Secret when its VoipbinCredential is deleted.
// +kubebuilder:validation:Enum=Delete;Retain
type DeletionPolicy string

const (
	// DeletionPolicyDelete sets a controller owner reference on the managed Secret, so the
	// garbage collector deletes it with its VoipbinCredential.
	DeletionPolicyDelete DeletionPolicy = "Delete"
	// DeletionPolicyRetain leaves the managed Secret behind; a new VoipbinCredential of
	// the same name adopts it.
	DeletionPolicyRetain DeletionPolicy = "Retain"
)

// DefaultAPIURL is the public VoIPBIN API.
const DefaultAPIURL = "https://api.voipbin.net"

// VoipbinCredentialSpec is the desired state of a VoipbinCredential.
//
// +kubebuilder:validation:XValidation:rule="has(self.login) || has(self.accessKey)",message="at least one of login and accessKey must be set"
// +kubebuilder:validation:XValidation:rule="!has(self.login) || self.login.secretRef.name != self.secretName",message="secretName must differ from login.secretRef.name: the managed Secret cannot be its own input"
// +kubebuilder:validation:XValidation:rule="!has(self.accessKey) || !has(self.accessKey.secretRef) || self.accessKey.secretRef.name != self.secretName",message="secretName must differ from accessKey.secretRef.name: the managed Secret cannot be its own input"
// +kubebuilder:validation:XValidation:rule="!has(self.accessKey) || !has(self.accessKey.issue) || has(self.login)",message="accessKey.issue needs login: the login token is what creates the accesskeys"
// +kubebuilder:validation:XValidation:rule="!has(self.tls) || !has(self.tls.caSecretRef) || self.tls.caSecretRef.name != self.secretName",message="secretName must differ from tls.caSecretRef.name: the managed Secret cannot be its own input"
// +kubebuilder:validation:XValidation:rule="!has(self.tls) || self.apiURL.startsWith('https://')",message="tls is only allowed with an https:// apiURL"
// +kubebuilder:validation:XValidation:rule="!has(self.secretTemplate) || !has(self.secretTemplate.omitDefaultKeys) || !self.secretTemplate.omitDefaultKeys || !has(self.accessKey) || !has(self.accessKey.issue)",message="secretTemplate.omitDefaultKeys cannot be used with accessKey.issue: a created accesskey exists only in the managed Secret's accesskey key"
// +kubebuilder:validation:XValidation:rule="(has(self.secretTemplate) && has(self.secretTemplate.type) ? self.secretTemplate.type : 'Opaque') == (has(oldSelf.secretTemplate) && has(oldSelf.secretTemplate.type) ? oldSelf.secretTemplate.type : 'Opaque')",message="secretTemplate.type is immutable: a Secret's type cannot change"
type VoipbinCredentialSpec struct {
	// apiURL is the base URL of the VoIPBIN API. The operator sends credentials only to
	// URLs allowed by its --allowed-api-urls flag (default https://api.voipbin.net).
	// It must be http:// or https:// with no user info, query or fragment.
	// +optional
	// +kubebuilder:default="https://api.voipbin.net"
	// +kubebuilder:validation:MinLength=8
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.startsWith('http://') || self.startsWith('https://')",message="apiURL must start with http:// or https://"
	// +kubebuilder:validation:XValidation:rule="isURL(self)",message="apiURL must be a valid URL"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[a-zA-Z]+://[^/]*@')",message="apiURL must not contain user info"
	// +kubebuilder:validation:XValidation:rule="!self.contains('?')",message="apiURL must not contain a query"
	// +kubebuilder:validation:XValidation:rule="!self.contains('#')",message="apiURL must not contain a fragment"
	APIURL string `json:"apiURL,omitempty"`

	// secretName is the name of the Secret, in this namespace, that the operator writes
	// the credentials to. It is immutable: create a new VoipbinCredential to use
	// another name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="secretName is immutable"
	SecretName string `json:"secretName"`

	// login, when set, makes the operator log in with a username and password and
	// keep a fresh JWT in the managed Secret's token key.
	// +optional
	Login *LoginSpec `json:"login,omitempty"`

	// accessKey, when set, makes the operator publish an accesskey in the managed
	// Secret's accesskey key: one it validates (secretRef), or one it creates,
	// rotates and revokes itself (issue).
	// +optional
	AccessKey *AccessKeySpec `json:"accessKey,omitempty"`

	// renewBefore is how long before the token's expiry the operator logs in again.
	// Default: one third of the token's lifetime (VoIPBIN tokens live 7 days, so
	// about 56h). If it is longer than 90% of the lifetime, one third of the
	// lifetime is used instead, and TokenReady's message says so. At least 1m.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m')",message="renewBefore must be at least 1m"
	RenewBefore *metav1.Duration `json:"renewBefore,omitempty"`

	// accessKeyCheckInterval is how often the accesskey is validated again. The
	// operator also re-validates right after the key's expiry and whenever its Secret
	// changes. Default 1h; at least 1m.
	// +optional
	// +kubebuilder:default="1h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m')",message="accessKeyCheckInterval must be at least 1m"
	AccessKeyCheckInterval *metav1.Duration `json:"accessKeyCheckInterval,omitempty"`

	// secretTemplate adds labels, annotations and templated keys to the managed
	// Secret, and sets its type.
	// +optional
	SecretTemplate *SecretTemplate `json:"secretTemplate,omitempty"`

	// deletionPolicy says what happens to the managed Secret when this
	// VoipbinCredential is deleted: Delete (default) lets the garbage collector remove
	// it; Retain leaves it, and a new VoipbinCredential of the same name adopts it.
	// +optional
	// +kubebuilder:default=Delete
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// tls configures how the API's certificate is verified. Only with an https:// apiURL.
	// +optional
	TLS *TLSSpec `json:"tls,omitempty"`

	// suspend stops all API calls while true: the managed Secret is left as it is and
	// Ready stays True until the stored credential expires.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// rolloutRestartTargets are Deployments, StatefulSets and DaemonSets of this
	// namespace whose pods read the credential once (an environment variable, a
	// subPath mount, a file read at start-up): after the operator stores a new token
	// or accesskey, it restarts them as kubectl rollout restart does, at most once
	// per target per minInterval. It never restarts them when nothing changed, nor
	// when it first sees a target. Needs the operator's --enable-rollout-restarts
	// (off by default); the README, "Restarting the workloads that read the token",
	// says more.
	// +optional
	// +listType=map
	// +listMapKey=kind
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	RolloutRestartTargets []RolloutRestartTarget `json:"rolloutRestartTargets,omitempty"`
}

// LoginSpec says where the VoIPBIN username and password are.
type LoginSpec struct {
	// secretRef names the Secret, in this namespace, that holds the username and password.
	// +required
	SecretRef LoginSecretRef `json:"secretRef"`
}

// LoginSecretRef references a Secret holding a VoIPBIN username and password.
type LoginSecretRef struct {
	// name is the name of the Secret, in the VoipbinCredential's namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// usernameKey is the key of the username (the agent's username, usually an e-mail
	// address) in the Secret.
	// +optional
	// +kubebuilder:default=username
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	UsernameKey string `json:"usernameKey,omitempty"`

	// passwordKey is the key of the password in the Secret.
	// +optional
	// +kubebuilder:default=password
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	PasswordKey string `json:"passwordKey,omitempty"`
}

// AccessKeySpec says where the VoIPBIN accesskey comes from: a Secret (secretRef)
// or the operator itself (issue). Exactly one of them is set.
// +kubebuilder:validation:XValidation:rule="has(self.secretRef) != has(self.issue)",message="exactly one of accessKey.secretRef and accessKey.issue must be set"
type AccessKeySpec struct {
	// secretRef names the Secret, in this namespace, that holds the accesskey; the
	// operator validates it and publishes it.
	// +optional
	SecretRef *AccessKeySecretRef `json:"secretRef,omitempty"`

	// issue makes the operator create the accesskey itself with the login token,
	// rotate it before it expires and revoke the previous one. Needs login.
	// +optional
	Issue *AccessKeyIssueSpec `json:"issue,omitempty"`
}

// AccessKeyIssueSpec says how the operator issues accesskeys: each key is
// created with lifetime, replaced renewBefore its expiry, and the key it
// replaced is deleted revokeAfter the new one was published.
// +kubebuilder:validation:XValidation:rule="!has(self.renewBefore) || duration(self.renewBefore) < duration(has(self.lifetime) ? self.lifetime : '720h')",message="accessKey.issue.renewBefore must be shorter than the lifetime"
type AccessKeyIssueSpec struct {
	// lifetime is how long each created accesskey is valid. VoIPBIN creates keys
	// for at least a day. Default 720h (30 days).
	// +optional
	// +kubebuilder:default="720h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('24h')",message="accessKey.issue.lifetime must be at least 24h (VoIPBIN's minimum)"
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('87600h')",message="accessKey.issue.lifetime must be at most 87600h (10 years)"
	Lifetime *metav1.Duration `json:"lifetime,omitempty"`

	// renewBefore is how long before the key's expiry a new key is created and
	// published. Default: a third of the key's lifetime (240h for 720h). If it is
	// longer than 90% of the lifetime the key was actually created with, a third
	// is used instead.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m')",message="accessKey.issue.renewBefore must be at least 1m"
	RenewBefore *metav1.Duration `json:"renewBefore,omitempty"`

	// revokeAfter is how long the previous key stays valid after its successor
	// was published, so that pods that read the key at start-up can move over
	// (see rollout restarts). The operator then deletes it. Default 1h; 0s deletes
	// it at once.
	// +optional
	// +kubebuilder:default="1h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('720h')",message="accessKey.issue.revokeAfter must be at most 720h"
	RevokeAfter *metav1.Duration `json:"revokeAfter,omitempty"`
}

// AccessKeySecretRef references the Secret key holding a VoIPBIN accesskey.
type AccessKeySecretRef struct {
	// name is the name of the Secret, in the VoipbinCredential's namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// key is the key of the accesskey in the Secret.
	// +optional
	// +kubebuilder:default=accesskey
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key,omitempty"`
}

// CASecretRef references the Secret key holding PEM CA certificates.
type CASecretRef struct {
	// name is the name of the Secret, in the VoipbinCredential's namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// key is the key of the PEM certificates in the Secret.
	// +optional
	// +kubebuilder:default="ca.crt"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key,omitempty"`
}

// SecretTemplate shapes the managed Secret: labels, annotations, type and templated keys.
// +kubebuilder:validation:XValidation:rule="!has(self.omitDefaultKeys) || !self.omitDefaultKeys || (has(self.data) && size(self.data) > 0)",message="secretTemplate.omitDefaultKeys needs secretTemplate.data: the Secret would be empty"
type SecretTemplate struct {
	// labels are added to the managed Secret. The operator's own labels
	// (app.kubernetes.io/managed-by and anything under credentials.voipbin.net/)
	// cannot be set.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.all(k, k != 'app.kubernetes.io/managed-by' && !k.startsWith('credentials.voipbin.net/'))",message="secretTemplate.labels cannot set the operator's own labels (app.kubernetes.io/managed-by, credentials.voipbin.net/*)"
	Labels map[string]string `json:"labels,omitempty"`

	// annotations are added to the managed Secret. The operator's own annotations
	// (anything under credentials.voipbin.net/) cannot be set.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.all(k, !k.startsWith('credentials.voipbin.net/'))",message="secretTemplate.annotations cannot set the operator's own annotations (credentials.voipbin.net/*)"
	Annotations map[string]string `json:"annotations,omitempty"`

	// type is the managed Secret's type. Default Opaque. A Secret's type cannot
	// change, so neither can this field (nor can it be added later with another
	// type than Opaque, nor removed from a non-Opaque one); the API server checks the keys a
	// type requires (kubernetes.io/basic-auth, for example, allows username and
	// password only next to others: render them with data).
	// +optional
	// +kubebuilder:default=Opaque
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Type string `json:"type,omitempty"`

	// data are extra keys of the managed Secret, each rendered with a Go template
	// (text/template, no functions beyond the built-in ones) over the values
	// .Token, .ExpiresAt, .AccessKey and .APIURL, for example
	// VOIPBIN_TOKEN: "{{ .Token }}" or auth-header: "Bearer {{ .Token }}". A value
	// whose credential is not stored (yet) renders empty. A template that does not
	// parse, names another value or fails to render is reported as Ready=False
	// with reason TemplateError, and the Secret is left as it was. The keys are
	// valid Secret data keys other than the built-in ones (token, expiresAt,
	// accesskey, apiURL). Rendered keys are derived again from the built-in keys at
	// every write: a hand edit of one is put back.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.size() <= 253 && k.matches('^[-._a-zA-Z0-9]+$'))",message="secretTemplate.data keys must be valid Secret data keys (letters, digits, '-', '_', '.')"
	// +kubebuilder:validation:XValidation:rule="self.all(k, !(k in ['token', 'expiresAt', 'accesskey', 'apiURL']))",message="secretTemplate.data cannot set the built-in keys token, expiresAt, accesskey, apiURL"
	// +kubebuilder:validation:XValidation:rule="self.all(k, self[k].size() <= 4096)",message="secretTemplate.data templates are at most 4096 characters"
	Data map[string]string `json:"data,omitempty"`

	// omitDefaultKeys leaves the built-in keys (token, expiresAt, accesskey,
	// apiURL) out of the managed Secret: it holds only the keys of data. The
	// operator then keeps what it needs to decide as annotations on the Secret:
	// the token's expiry, the API URL and a SHA-256 fingerprint of each
	// credential, never a credential itself. Since it cannot read back a token it
	// did not store, a change of data (or a hand edit of a rendered key) is
	// rendered from a fresh login, and so is a new accesskey; a restart or a
	// periodic validation costs nothing more than without it. Needs data; not
	// with accessKey.issue (a created key exists nowhere but in the Secret).
	// +optional
	OmitDefaultKeys bool `json:"omitDefaultKeys,omitempty"`
}

// TLSSpec configures how the API's certificate is verified.
// +kubebuilder:validation:XValidation:rule="!(has(self.caSecretRef) && has(self.insecureSkipVerify) && self.insecureSkipVerify)",message="caSecretRef and insecureSkipVerify cannot both be set"
type TLSSpec struct {
	// caSecretRef names a Secret key, in this namespace, holding PEM CA certificates
	// that are trusted in addition to the system roots. The key defaults to ca.crt.
	// +optional
	CASecretRef *CASecretRef `json:"caSecretRef,omitempty"`

	// insecureSkipVerify turns certificate verification off. It exists for test
	// servers with self-signed certificates (the quickstart's curl -k); never use it
	// with real credentials.
	// +optional
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
}

// VoipbinCredentialStatus is the observed state of a VoipbinCredential.
type VoipbinCredentialStatus struct {
	// observedGeneration is the metadata.generation the status was computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// secretName is the name of the managed Secret, once it has been written.
	// +optional
	SecretName string `json:"secretName,omitempty"`

	// conditions are Ready, TokenReady (with spec.login) and AccessKeyValid (with
	// spec.accessKey). The README lists every reason and what to do about it.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// token describes the stored login token; present only with spec.login.
	// +optional
	Token *TokenStatus `json:"token,omitempty"`

	// accessKey describes the stored accesskey; present only with spec.accessKey.
	// +optional
	AccessKey *AccessKeyStatus `json:"accessKey,omitempty"`

	// lastHandledRefreshRequest is the last value of the
	// credentials.voipbin.net/refresh-requested-at annotation that was acted upon.
	// +optional
	LastHandledRefreshRequest string `json:"lastHandledRefreshRequest,omitempty"`

	// rolloutRestarts describes each of spec.rolloutRestartTargets: when the
	// operator last restarted it, when the next restart is due, and why it could
	// not be restarted. Present only with spec.rolloutRestartTargets.
	// +optional
	// +listType=map
	// +listMapKey=kind
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	RolloutRestarts []RolloutRestartStatus `json:"rolloutRestarts,omitempty"`
}

// TokenStatus describes the stored login token. It holds nothing secret.
type TokenStatus struct {
	// issuedAt is when the stored token was obtained.
	// +optional
	IssuedAt *metav1.Time `json:"issuedAt,omitempty"`

	// expiresAt is the stored token's expiry, read from its expire claim.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`

	// renewalTime is when the next login is scheduled.
	// +optional
	RenewalTime *metav1.Time `json:"renewalTime,omitempty"`

	// loginSecretVersion is the <uid>/<resourceVersion> of the login Secret the stored
	// token was obtained with; a different version means the input changed.
	// +optional
	LoginSecretVersion string `json:"loginSecretVersion,omitempty"`

	// endpointHash identifies the apiURL and TLS settings (including the CA Secret's
	// version) the stored token was obtained with; when they change, the operator logs
	// in again. It is derived from no secret.
	// +optional
	EndpointHash string `json:"endpointHash,omitempty"`

	// failedAttempts counts consecutive failed logins; 0 after a success.
	// +optional
	FailedAttempts int32 `json:"failedAttempts,omitempty"`

	// lastFailureTime is when the last login failed.
	// +optional
	LastFailureTime *metav1.Time `json:"lastFailureTime,omitempty"`

	// lastFailureReason is the condition reason of the last failed login (for example
	// InvalidCredentials or APIUnavailable); kept so that a restarted operator still
	// knows whether the failure needs a human.
	// +optional
	LastFailureReason string `json:"lastFailureReason,omitempty"`

	// lastFailureMessage says why the last login failed. It never holds secret material.
	// +optional
	LastFailureMessage string `json:"lastFailureMessage,omitempty"`
}

// AccessKeyStatus describes the stored accesskey. It holds nothing secret: of the key
// itself only its prefix.
type AccessKeyStatus struct {
	// id is the accesskey's id, from the accesskey list.
	// +optional
	ID string `json:"id,omitempty"`

	// name is the accesskey's name, from the accesskey list.
	// +optional
	Name string `json:"name,omitempty"`

	// prefix is the key's token_prefix (its first 11 characters); never more of the key.
	// +optional
	Prefix string `json:"prefix,omitempty"`

	// expiresAt is the accesskey's expiry, from the accesskey list.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`

	// issuedAt is when the operator created the stored key (accessKey.issue only).
	// +optional
	IssuedAt *metav1.Time `json:"issuedAt,omitempty"`

	// previous is the key the stored one replaced, until it is deleted
	// (accessKey.issue only).
	// +optional
	Previous *PreviousAccessKey `json:"previous,omitempty"`

	// lastValidatedTime is when the accesskey last authenticated successfully.
	// +optional
	LastValidatedTime *metav1.Time `json:"lastValidatedTime,omitempty"`

	// secretVersion is the <uid>/<resourceVersion> of the accesskey Secret that was
	// validated; a different version means the input changed.
	// +optional
	SecretVersion string `json:"secretVersion,omitempty"`

	// endpointHash identifies the apiURL and TLS settings the key was validated
	// against; when they change, the key is validated again. It is derived from no secret.
	// +optional
	EndpointHash string `json:"endpointHash,omitempty"`

	// failedAttempts counts consecutive failed validations; 0 after a success.
	// +optional
	FailedAttempts int32 `json:"failedAttempts,omitempty"`

	// lastFailureTime is when the last validation failed.
	// +optional
	LastFailureTime *metav1.Time `json:"lastFailureTime,omitempty"`

	// lastFailureReason is the condition reason of the last failed validation (for example
	// InvalidCredentials or APIUnavailable); kept so that a restarted operator still
	// knows whether the failure needs a human.
	// +optional
	LastFailureReason string `json:"lastFailureReason,omitempty"`

	// lastFailureMessage says why the last validation failed. It never holds secret material.
	// +optional
	LastFailureMessage string `json:"lastFailureMessage,omitempty"`
}

// PreviousAccessKey is an issued key that was replaced and is still live until
// revokeAt. Of the key itself only its prefix.
type PreviousAccessKey struct {
	// id is the key's id.
	// +required
	ID string `json:"id"`

	// prefix is the key's token_prefix (its first 11 characters).
	// +optional
	Prefix string `json:"prefix,omitempty"`

	// revokeAt is when the operator deletes it.
	// +optional
	RevokeAt *metav1.Time `json:"revokeAt,omitempty"`
}

// The expiry and renewal columns are strings (RFC 3339), not dates: kubectl prints a
// date column as an age, and an age in the future as <invalid>.

// VoipbinCredential keeps a VoIPBIN login token and/or accesskey, known to work, in a Secret.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=vbc,categories=voipbin
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Secret",type=string,JSONPath=`.spec.secretName`
// +kubebuilder:printcolumn:name="Expires",type=string,JSONPath=`.status.token.expiresAt`
// +kubebuilder:printcolumn:name="Renewal",type=string,JSONPath=`.status.token.renewalTime`,priority=1
// +kubebuilder:printcolumn:name="AccessKey Expires",type=string,JSONPath=`.status.accessKey.expiresAt`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type VoipbinCredential struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is what the credential should be.
	// +required
	Spec VoipbinCredentialSpec `json:"spec"`

	// status is what the operator observed and did. Until the operator's first
	// reconcile it reads observedGeneration 0, so that kstatus (Flux, Argo CD,
	// Helm --wait) reports a new credential as in progress, not as current.
	// +optional
	// +kubebuilder:default={observedGeneration: 0}
	Status VoipbinCredentialStatus `json:"status,omitempty"`
}

// VoipbinCredentialList is a list of VoipbinCredentials.
//
// +kubebuilder:object:root=true
type VoipbinCredentialList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the VoipbinCredentials.
	Items []VoipbinCredential `json:"items"`
}
