package v1alpha1

// Condition types of a VoipbinCredential.
const (
	// ConditionReady is True when the managed Secret holds every requested credential
	// and each of them is usable now.
	ConditionReady = "Ready"
	// ConditionTokenReady reports the login token; present only when spec.login is set.
	ConditionTokenReady = "TokenReady"
	// ConditionAccessKeyValid reports the accesskey; present only when spec.accessKey is set.
	ConditionAccessKeyValid = "AccessKeyValid"
	// ConditionReconciling (kstatus) is True while the operator is still working
	// toward Ready: before the first usable credential, or while a failure it
	// retries by itself keeps Ready False. Absent otherwise.
	ConditionReconciling = "Reconciling"
	// ConditionStalled (kstatus) is True, with the reason of what failed, while
	// progress needs a human: a wrong password, a missing Secret, a URL that is not
	// allowed. It is also True while a still-valid stored token keeps Ready True.
	// Absent otherwise.
	ConditionStalled = "Stalled"
)

// Condition reasons. The README lists what to do about each of them.
const (
	// ReasonReady is Ready=True: every requested credential is stored and usable.
	ReasonReady = "Ready"
	// ReasonRefreshFailing keeps a condition True: a refresh or re-check failed
	// transiently, but the stored credential is still valid (the message says until when).
	ReasonRefreshFailing = "RefreshFailing"
	// ReasonLoggedIn is TokenReady=True.
	ReasonLoggedIn = "LoggedIn"
	// ReasonValidated is AccessKeyValid=True.
	ReasonValidated = "Validated"
	// ReasonInvalidCredentials: the login answered 400, or the accesskey answered 401
	// before its known expiry.
	ReasonInvalidCredentials = "InvalidCredentials"
	// ReasonAccessKeyExpired: the accesskey's expiresAt has passed.
	ReasonAccessKeyExpired = "AccessKeyExpired"
	// ReasonAccountDisabled: the API answered 403; the account is frozen, expired or
	// deleted, so even a stored token is useless.
	ReasonAccountDisabled = "AccountDisabled"
	// ReasonSecretNotFound: a referenced Secret does not exist.
	ReasonSecretNotFound = "SecretNotFound"
	// ReasonSecretKeyMissing: a referenced key is missing or empty.
	ReasonSecretKeyMissing = "SecretKeyMissing"
	// ReasonSecretConflict: a Secret named spec.secretName exists and does not belong
	// to this VoipbinCredential.
	ReasonSecretConflict = "SecretConflict"
	// ReasonAPIURLNotAllowed: spec.apiURL is not allowed by the operator's --allowed-api-urls.
	ReasonAPIURLNotAllowed = "APIURLNotAllowed"
	// ReasonTLSError: the TLS handshake with the API failed (unknown CA, bad certificate).
	ReasonTLSError = "TLSError"
	// ReasonUnexpectedResponse: a redirect, a 404 or another 4xx the API should not
	// give; most likely a wrong apiURL.
	ReasonUnexpectedResponse = "UnexpectedResponse"
	// ReasonAPIUnavailable: network error, timeout, 5xx, or a 200 that could not be
	// understood, with no valid stored credential.
	ReasonAPIUnavailable = "APIUnavailable"
	// ReasonRateLimited: the API answered 429, with no valid stored credential.
	ReasonRateLimited = "RateLimited"
	// ReasonSuspended: spec.suspend is true and the stored credential has expired.
	ReasonSuspended = "Suspended"
	// ReasonSecretWriteFailed: the managed Secret could not be written (an admission
	// policy, a quota, a terminating namespace). Ready turns False once the Secret no
	// longer holds a usable credential; the message quotes the API server.
	ReasonSecretWriteFailed = "SecretWriteFailed"
	// ReasonTemplateError: a template of spec.secretTemplate.data does not parse,
	// names an unknown value or cannot be rendered; the managed Secret is left as
	// it was. The message names the key, never the template's output.
	ReasonTemplateError = "TemplateError"
	// ReasonPending: no attempt has been made yet (Unknown conditions only).
	ReasonPending = "Pending"
	// ReasonIssued is AccessKeyValid=True for a key the operator created
	// (spec.accessKey.issue).
	ReasonIssued = "Issued"
	// ReasonAccessKeyCreateFailed: VoIPBIN refused to create an accesskey (HTTP
	// 400 or 403: the agent lacks customer-admin rights, or the account refuses
	// keys). Retried on the schedule of failures that need a person; a stored
	// key stays while it is valid.
	ReasonAccessKeyCreateFailed = "AccessKeyCreateFailed"
	// ReasonWaitingForLogin: an issued accesskey is due, and no login token is
	// stored yet to create it with (Unknown or False, with TokenReady's reason).
	ReasonWaitingForLogin = "WaitingForLogin"
)

// Event reasons. Events are emitted on transitions, never once per retry.
const (
	// EventLoggedIn (Normal): the first token was stored.
	EventLoggedIn = "LoggedIn"
	// EventTokenRefreshed (Normal): a newer token replaced the stored one.
	EventTokenRefreshed = "TokenRefreshed"
	// EventLoginFailed (Warning): logging in started failing.
	EventLoginFailed = "LoginFailed"
	// EventAccessKeyValidated (Normal): the accesskey was found valid after being
	// unknown or invalid.
	EventAccessKeyValidated = "AccessKeyValidated"
	// EventAccessKeyInvalid (Warning): the accesskey turned invalid or expired.
	EventAccessKeyInvalid = "AccessKeyInvalid"
	// EventSecretConflict (Warning): spec.secretName names a Secret this
	// VoipbinCredential does not own.
	EventSecretConflict = "SecretConflict"
	// EventAPIURLNotAllowed (Warning): spec.apiURL is not allowed by the operator.
	EventAPIURLNotAllowed = "APIURLNotAllowed"
	// EventSecretWriteFailed (Warning): writing the managed Secret started failing.
	EventSecretWriteFailed = "SecretWriteFailed"
	// EventAccessKeyIssued (Normal): an accesskey the operator created was
	// published in the managed Secret.
	EventAccessKeyIssued = "AccessKeyIssued"
	// EventAccessKeyCreateFailed (Warning): creating an accesskey started failing.
	EventAccessKeyCreateFailed = "AccessKeyCreateFailed"
	// EventAccessKeyRevoked (Normal): an accesskey the operator created was
	// deleted (the previous key at its revokeAt, an orphan, or every key when the
	// VoipbinCredential is deleted).
	EventAccessKeyRevoked = "AccessKeyRevoked"
	// EventAccessKeyRevokeFailed (Warning): deleting an accesskey started failing.
	EventAccessKeyRevokeFailed = "AccessKeyRevokeFailed"
	// EventAccessKeysLeftBehind (Warning): a deleted VoipbinCredential was released
	// although some of its accesskeys could not be deleted; the event names them.
	EventAccessKeysLeftBehind = "AccessKeysLeftBehind"
)

// FinalizerRevokeAccessKeys holds a VoipbinCredential with accessKey.issue and
// deletionPolicy Delete until the accesskeys it created are deleted (or a
// bounded time has passed).
const FinalizerRevokeAccessKeys = "credentials.voipbin.net/revoke-accesskeys"

// Labels, annotations and keys of the managed Secret, and annotations of the
// VoipbinCredential itself.
const (
	// LabelManagedBy marks every managed Secret (value FieldManager).
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// LabelCredential names the VoipbinCredential a managed Secret belongs to; it is
	// what lets a new VoipbinCredential adopt a Secret retained by a deleted one.
	LabelCredential = "credentials.voipbin.net/credential"
	// AnnotationDataHash holds a hash of the managed Secret's data, to detect hand edits.
	AnnotationDataHash = "credentials.voipbin.net/data-hash"
	// AnnotationTokenIssuedAt on the managed Secret records when its token was
	// obtained (RFC 3339), so that a VoipbinCredential adopting a retained Secret
	// knows the token's lifetime and schedules its renewal without a new login.
	AnnotationTokenIssuedAt = "credentials.voipbin.net/token-issued-at"
	// AnnotationRefreshRequestedAt on a VoipbinCredential asks for a new login and a
	// re-validation: any value not yet handled (for example the current time) triggers
	// exactly one.
	AnnotationRefreshRequestedAt = "credentials.voipbin.net/refresh-requested-at"
	// FieldManager is the server-side apply field manager, and the managed-by label value.
	FieldManager = "voipbin-credential-operator"
	// AnnotationAccessKeyID is the id of the accesskey the operator created and
	// stored in the managed Secret (accessKey.issue): with the Secret it survives
	// any restart, so that the key in use is never taken for an orphan.
	AnnotationAccessKeyID = "credentials.voipbin.net/accesskey-id"
	// AnnotationAccessKeyIssuedAt and AnnotationAccessKeyExpiresAt are when the
	// stored issued accesskey was created and expires (RFC 3339).
	AnnotationAccessKeyIssuedAt  = "credentials.voipbin.net/accesskey-issued-at"
	AnnotationAccessKeyExpiresAt = "credentials.voipbin.net/accesskey-expires-at"
	// AnnotationAccessKeyIssuedFor is the UID of the VoipbinCredential that
	// created the stored accesskey: a Secret retained by a deleted
	// VoipbinCredential does not hand its key to a new one of the same name.
	AnnotationAccessKeyIssuedFor = "credentials.voipbin.net/accesskey-issued-for"
	// AnnotationDefaultKeys is "omitted" on a managed Secret written without its
	// built-in keys (secretTemplate.omitDefaultKeys). The facts a decision needs
	// then sit in the annotations below: the API URL, the token's expiry, and a
	// SHA-256 fingerprint of each credential (never the credential), plus
	// AnnotationRenderedHash over the templates and what they rendered.
	AnnotationDefaultKeys          = "credentials.voipbin.net/default-keys"
	AnnotationAPIURL               = "credentials.voipbin.net/api-url"
	AnnotationTokenExpiresAt       = "credentials.voipbin.net/token-expires-at"
	AnnotationTokenFingerprint     = "credentials.voipbin.net/token-sha256"
	AnnotationAccessKeyFingerprint = "credentials.voipbin.net/accesskey-sha256"
	// AnnotationTokenAccount is a fingerprint of the username the token was
	// issued to, so that a Secret in omitted form retained by a deleted
	// VoipbinCredential does not hand one account's token to another.
	AnnotationTokenAccount = "credentials.voipbin.net/token-account-sha256"
	AnnotationRenderedHash = "credentials.voipbin.net/rendered-hash"
	// DefaultKeysOmitted is the value of AnnotationDefaultKeys.
	DefaultKeysOmitted = "omitted"

	// SecretKeyToken is the JWT from the last successful login.
	SecretKeyToken = "token"
	// SecretKeyExpiresAt is the token's expiry, RFC 3339 UTC.
	SecretKeyExpiresAt = "expiresAt"
	// SecretKeyAccessKey is the validated accesskey.
	SecretKeyAccessKey = "accesskey"
	// SecretKeyAPIURL is the API URL the stored credentials came from.
	SecretKeyAPIURL = "apiURL"
)
