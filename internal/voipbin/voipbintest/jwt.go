package voipbintest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"time"
)

// ExpireFormat chooses how issued tokens state their expiry. Only
// ExpireCurrent is what today's VoIPBIN writes; the others exist to test
// clients against older or hypothetical servers. The stand-in itself always
// honours the real lifetime, whatever the claims say.
type ExpireFormat int

const (
	// ExpireCurrent writes `expire` as "2006-01-02T15:04:05.000000Z" (UTC).
	ExpireCurrent ExpireFormat = iota
	// ExpireLegacy writes `expire` as "2006-01-02 15:04:05.000000" (UTC), as
	// older servers did.
	ExpireLegacy
	// ExpireNumericExp writes no `expire`, only a standard numeric `exp`.
	ExpireNumericExp
	// ExpireNone writes neither `expire` nor `exp`.
	ExpireNone
)

// Layouts of the `expire` claim, as the real server writes them.
const (
	expireLayout       = "2006-01-02T15:04:05.000000Z"
	legacyExpireLayout = "2006-01-02 15:04:05.000000"
)

// PermissionCustomerAdmin is the agent permission bit of a customer admin.
const PermissionCustomerAdmin = 32

// jwtAgent is the `agent` claim: the agent object, as the server embeds it.
type jwtAgent struct {
	ID         string `json:"id"`
	CustomerID string `json:"customer_id"`
	Username   string `json:"username"`
	Name       string `json:"name"`
	Permission int    `json:"permission"`
}

// jwtClaims are a login token's claims. VoIPBIN has no exp, iat or sub: the
// expiry is the custom string claim `expire`. Exp is only for ExpireNumericExp.
type jwtClaims struct {
	Type   string   `json:"type"`
	Agent  jwtAgent `json:"agent"`
	Expire string   `json:"expire,omitempty"`
	Exp    int64    `json:"exp,omitempty"`
}

// signHS256 returns a compact HS256 JWT of claims.
func signHS256(key []byte, claims any) (string, error) {
	header, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
	}{"HS256", "JWT"})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	signingInput := enc.EncodeToString(header) + "." + enc.EncodeToString(payload)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(signingInput))
	return signingInput + "." + enc.EncodeToString(mac.Sum(nil)), nil
}

// verifyHS256 reports whether jwt carries a valid HS256 signature by key.
func verifyHS256(key []byte, jwt string) bool {
	dot := -1
	for i := len(jwt) - 1; i >= 0; i-- {
		if jwt[i] == '.' {
			dot = i
			break
		}
	}
	if dot < 0 {
		return false
	}
	sig, err := base64.RawURLEncoding.DecodeString(jwt[dot+1:])
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(jwt[:dot]))
	return hmac.Equal(sig, mac.Sum(nil))
}

// expireClaims fills the expiry claims of c for format f.
func expireClaims(c *jwtClaims, f ExpireFormat, expire time.Time) {
	expire = expire.UTC()
	switch f {
	case ExpireCurrent:
		c.Expire = expire.Format(expireLayout)
	case ExpireLegacy:
		c.Expire = expire.Format(legacyExpireLayout)
	case ExpireNumericExp:
		c.Exp = expire.Unix()
	case ExpireNone:
	}
}
