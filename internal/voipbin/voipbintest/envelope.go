package voipbintest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// Error reasons of VoIPBIN's error envelope.
const (
	// ReasonAuthenticationRequired: 401, no credential at all.
	ReasonAuthenticationRequired = "AUTHENTICATION_REQUIRED"
	// ReasonInvalidCredentials: 401, a bad, expired or deleted token or key.
	ReasonInvalidCredentials = "INVALID_CREDENTIALS"
	// ReasonAccountFrozen: 403, the customer is frozen.
	ReasonAccountFrozen = "ACCOUNT_FROZEN"
	// ReasonAccountExpired: 403, the customer account expired.
	ReasonAccountExpired = "ACCOUNT_EXPIRED"
	// ReasonAccountDeleted: 403, the customer account was deleted.
	ReasonAccountDeleted = "ACCOUNT_DELETED"
	// ReasonRateLimitExceeded: 429.
	ReasonRateLimitExceeded = "RATE_LIMIT_EXCEEDED"
	// ReasonInvalidArgument: 400 (except the bare login 400).
	ReasonInvalidArgument = "INVALID_ARGUMENT"
	// ReasonNotFound: 404.
	ReasonNotFound = "NOT_FOUND"
	// ReasonConflict: 409, e.g. a deleted accesskey.
	ReasonConflict = "CONFLICT"
	// ReasonPermissionDenied: 403 for lack of permission.
	ReasonPermissionDenied = "PERMISSION_DENIED"
	// ReasonInternal: 5xx.
	ReasonInternal = "INTERNAL_ERROR"
)

// envelopeBody is VoIPBIN's error body, sent with every error answer except
// the bare 400 of a failed login.
type envelopeBody struct {
	Error envelopeError `json:"error"`
}

type envelopeError struct {
	Status    string   `json:"status"`
	Reason    string   `json:"reason"`
	Message   string   `json:"message"`
	RequestID string   `json:"request_id"`
	Details   []string `json:"details"`
}

// statusNames are the envelope's `status` values (gRPC-style) by HTTP status.
var statusNames = map[int]string{
	http.StatusBadRequest:          "INVALID_ARGUMENT",
	http.StatusUnauthorized:        "UNAUTHENTICATED",
	http.StatusForbidden:           "PERMISSION_DENIED",
	http.StatusNotFound:            "NOT_FOUND",
	http.StatusConflict:            "ALREADY_EXISTS",
	http.StatusTooManyRequests:     "RESOURCE_EXHAUSTED",
	http.StatusInternalServerError: "INTERNAL",
	http.StatusBadGateway:          "UNAVAILABLE",
	http.StatusServiceUnavailable:  "UNAVAILABLE",
	http.StatusGatewayTimeout:      "DEADLINE_EXCEEDED",
}

// defaultReasons are used when an error is written without a reason.
var defaultReasons = map[int]string{
	http.StatusBadRequest:      ReasonInvalidArgument,
	http.StatusUnauthorized:    ReasonInvalidCredentials,
	http.StatusForbidden:       ReasonPermissionDenied,
	http.StatusNotFound:        ReasonNotFound,
	http.StatusConflict:        ReasonConflict,
	http.StatusTooManyRequests: ReasonRateLimitExceeded,
}

// writeError answers status with the error envelope and the X-Request-Id
// header. An empty reason or message is derived from the status.
func writeError(w http.ResponseWriter, status int, reason, message string) {
	if reason == "" {
		reason = defaultReasons[status]
		if reason == "" {
			reason = ReasonInternal
		}
	}
	if message == "" {
		message = http.StatusText(status)
	}
	name := statusNames[status]
	if name == "" {
		name = "UNKNOWN"
	}
	requestID := newUUID()
	w.Header().Set("X-Request-Id", requestID)
	writeJSON(w, status, envelopeBody{Error: envelopeError{
		Status: name, Reason: reason, Message: message, RequestID: requestID, Details: []string{},
	}})
}

// writeRateLimited answers 429 with Retry-After in whole seconds (at least 1).
func writeRateLimited(w http.ResponseWriter, retry time.Duration) {
	secs := int64((retry + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	writeError(w, http.StatusTooManyRequests, ReasonRateLimitExceeded, "Too many requests. Please retry later.")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encoding failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
