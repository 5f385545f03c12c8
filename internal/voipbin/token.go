package voipbin

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"
)

// DefaultTokenLifetime is the lifetime of a VoIPBIN login token (7 days),
// assumed when the token carries no readable expiry.
const DefaultTokenLifetime = 7 * 24 * time.Hour

// Layouts of the JWT's custom `expire` claim, always UTC. Current servers
// write ExpireLayout; older ones wrote LegacyExpireLayout.
const (
	// ExpireLayout is the `expire` layout of current servers.
	ExpireLayout = "2006-01-02T15:04:05.000000Z"
	// LegacyExpireLayout is the `expire` layout of older servers.
	LegacyExpireLayout = "2006-01-02 15:04:05.000000"
)

// maxJWTBytes bounds the JWT this package decodes. A login token is well
// under 2 KiB; the bound keeps a hostile answer from costing more than that.
const maxJWTBytes = 64 << 10

// maxUnixSeconds is the largest numeric `exp` accepted: 9999-12-31T23:59:59Z.
// Beyond it time.Unix still works but no expiry is meaningful.
const maxUnixSeconds = 253402300799

// ExpirySource says where a token's expiry came from.
type ExpirySource string

const (
	// ExpiryFromExpire: the custom `expire` claim, VoIPBIN's own.
	ExpiryFromExpire ExpirySource = "expire"
	// ExpiryFromExp: a numeric `exp` claim (not written by VoIPBIN today).
	ExpiryFromExp ExpirySource = "exp"
	// ExpiryAssumed: no readable claim; DefaultTokenLifetime after the answer.
	ExpiryAssumed ExpirySource = "assumed"
)

// Token is a login token. It never prints its JWT: String, GoString, Format,
// MarshalJSON and LogValue all redact it, so that logging or dumping a Token
// (with fmt, logr/zap, slog or encoding/json) cannot leak it. Read the JWT
// field explicitly where it is needed. One gap fmt leaves open: a Token held
// in an unexported struct field is printed by reflection, without these
// methods; do not print such structs.
type Token struct {
	// JWT is the token itself.
	JWT string
	// IssuedAt is when the login answered, whole seconds, UTC.
	IssuedAt time.Time
	// ExpiresAt is the token's expiry, whole seconds, UTC (see ParseTokenExpiry).
	ExpiresAt time.Time
	// ExpirySource says where ExpiresAt came from.
	ExpirySource ExpirySource
}

const redacted = "<redacted>"

// String describes the token without its JWT.
func (t Token) String() string {
	return fmt.Sprintf("voipbin.Token{JWT:%s, IssuedAt:%s, ExpiresAt:%s, ExpirySource:%s}",
		t.redactedJWT(), t.IssuedAt.Format(time.RFC3339), t.ExpiresAt.Format(time.RFC3339), t.ExpirySource)
}

// GoString is String: %#v must not print the JWT either.
func (t Token) GoString() string { return t.String() }

// Format makes every fmt verb (%v, %+v, %#v, %s, %q, %x ...) print String.
func (t Token) Format(f fmt.State, verb rune) {
	_, _ = f.Write([]byte(t.String()))
}

// MarshalJSON writes the token's times only, with the JWT redacted: a Token
// handed to a JSON-encoding logger must not leak.
func (t Token) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		JWT          string       `json:"jwt"`
		IssuedAt     time.Time    `json:"issuedAt"`
		ExpiresAt    time.Time    `json:"expiresAt"`
		ExpirySource ExpirySource `json:"expirySource"`
	}{t.redactedJWT(), t.IssuedAt, t.ExpiresAt, t.ExpirySource})
}

// LogValue gives slog the redacted form.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("jwt", t.redactedJWT()),
		slog.Time("issuedAt", t.IssuedAt),
		slog.Time("expiresAt", t.ExpiresAt),
		slog.String("expirySource", string(t.ExpirySource)),
	)
}

func (t Token) redactedJWT() string {
	if t.JWT == "" {
		return ""
	}
	return redacted
}

// ParseTokenExpiry returns a login token's expiry by VoIPBIN's robust rule:
// the `expire` claim when present and parseable (either layout, UTC), else a
// numeric `exp` claim (Unix seconds), else DefaultTokenLifetime after
// answeredAt. The signature is not verified (the key is the server's). The
// result is UTC, truncated to whole seconds. It never fails: a token whose
// claims cannot be read gets the assumed expiry, and the source says so.
func ParseTokenExpiry(jwt string, answeredAt time.Time) (time.Time, ExpirySource) {
	assumed := answeredAt.Add(DefaultTokenLifetime).UTC().Truncate(time.Second)
	claims, ok := decodeClaims(jwt)
	if !ok {
		return assumed, ExpiryAssumed
	}
	if raw, ok := claims["expire"]; ok {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			if t, ok := parseExpire(s); ok {
				return t.UTC().Truncate(time.Second), ExpiryFromExpire
			}
		}
	}
	if raw, ok := claims["exp"]; ok {
		var f float64
		if json.Unmarshal(raw, &f) == nil && !math.IsNaN(f) && f > 0 && f <= maxUnixSeconds {
			return time.Unix(int64(f), 0).UTC(), ExpiryFromExp
		}
	}
	return assumed, ExpiryAssumed
}

// decodeClaims returns the JWT's payload as raw claims.
func decodeClaims(jwt string) (map[string]json.RawMessage, bool) {
	if len(jwt) > maxJWTBytes {
		return nil, false
	}
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return nil, false
	}
	// JWTs use unpadded base64url; tolerate padding some encoders add.
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, false
	}
	var claims map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(&claims); err != nil || claims == nil {
		return nil, false
	}
	return claims, true
}

// parseExpire parses the `expire` claim in either layout. Parsing accepts any
// number of fractional digits (Go does, whatever the layout says), which
// tolerates a server that trims trailing zeros. A string with an explicit
// offset (RFC 3339) is accepted too.
func parseExpire(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02 15:04:05Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// TokenUsername returns the agent.username claim of a login token, or "" when the
// token has none or cannot be read. The operator compares it with the login
// Secret's username before it trusts a stored token (a Secret retained by another
// CR may hold another account's token). The signature is not verified.
func TokenUsername(jwt string) string {
	claims, ok := decodeClaims(jwt)
	if !ok {
		return ""
	}
	var agent struct {
		Username string `json:"username"`
	}
	if raw, ok := claims["agent"]; !ok || json.Unmarshal(raw, &agent) != nil {
		return ""
	}
	return agent.Username
}
