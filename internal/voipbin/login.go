package voipbin

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// loginPath is the login endpoint, below the base URL with no /v1.0 prefix.
const loginPath = "/auth/login"

// Login exchanges username and password for a token with
// POST {base}/auth/login. There is no refresh endpoint: a new token is a new
// login. The `token` cookie the server also sets is ignored (the Client has
// no jar).
//
// Errors: a 400 (wrong username or password, indistinguishable) is
// KindInvalidCredentials; 403 KindAccountDisabled; 429 KindRateLimited, and
// every Client sharing the Throttle then refuses logins until Retry-After has
// passed; see KindOf for the rest. No error string holds the password or the
// token.
func (c *Client) Login(ctx context.Context, username, password string) (Token, error) {
	body, err := json.Marshal(struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}{username, password})
	if err != nil { // cannot happen for two strings
		return Token{}, &CredentialFormatError{Operation: OperationLogin, Problem: "cannot encode the login body"}
	}
	resp, err := c.do(ctx, request{operation: OperationLogin, method: http.MethodPost, path: loginPath, body: body})
	if err != nil {
		return Token{}, err
	}
	jwt, problem := decodeLoginAnswer(resp.body)
	if problem != "" {
		return Token{}, &MalformedResponseError{Operation: OperationLogin, Endpoint: c.endpoint(loginPath),
			StatusCode: http.StatusOK, Problem: problem}
	}
	issuedAt := resp.at.UTC().Truncate(time.Second)
	expiresAt, source := ParseTokenExpiry(jwt, resp.at)
	return Token{JWT: jwt, IssuedAt: issuedAt, ExpiresAt: expiresAt, ExpirySource: source}, nil
}

// decodeLoginAnswer returns the token of a 200 login answer, or what is wrong
// with the answer (never quoting it).
func decodeLoginAnswer(body []byte) (jwt string, problem string) {
	var answer struct {
		Username string `json:"username"`
		Token    string `json:"token"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		return "", "not a JSON login answer"
	}
	if answer.Token == "" {
		return "", "no token in the login answer"
	}
	if !isTokenText(answer.Token) {
		// The token is stored in a Secret and sent in headers later: refuse
		// anything that is not plain printable ASCII without spaces.
		return "", "the token holds characters a JWT cannot hold"
	}
	return answer.Token, ""
}

func isTokenText(s string) bool {
	if len(s) > maxJWTBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
