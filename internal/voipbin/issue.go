package voipbin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

const (
	// OperationCreateAccessKey is POST /v1.0/accesskeys.
	OperationCreateAccessKey = "create_accesskey"
	// OperationDeleteAccessKey is DELETE /v1.0/accesskeys/{id}.
	OperationDeleteAccessKey = "delete_accesskey"

	// MinAccessKeyLifetime is the shortest lifetime VoIPBIN creates a key
	// with: an expire below a day is refused with 400.
	MinAccessKeyLifetime = 24 * time.Hour
)

// IssuedAccessKey is a key created by CreateAccessKey. Key is the full key:
// the create answer is the only one that ever holds it. It never prints Key.
type IssuedAccessKey struct {
	Key       string
	ID        string
	Name      string
	Prefix    string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Format prints everything but the key.
func (k IssuedAccessKey) Format(f fmt.State, _ rune) {
	_, _ = fmt.Fprintf(f, "IssuedAccessKey{id: %s, prefix: %s}", k.ID, k.Prefix)
}

// problemNotAJWT is the CredentialFormatError of a login token that cannot be sent.
const problemNotAJWT = "the login token is not a JWT"

// usableJWT reports whether jwt can be sent in a header.
func usableJWT(jwt string) bool { return jwt != "" && isTokenText(jwt) }

// CreateAccessKey creates an accesskey named name with detail, valid for
// lifetime (whole seconds, at least MinAccessKeyLifetime), authenticated by
// the login token jwt (in the Authorization header). No error string holds
// the token or the key.
func (c *Client) CreateAccessKey(ctx context.Context, jwt, name, detail string, lifetime time.Duration) (IssuedAccessKey, error) {
	if !usableJWT(jwt) {
		return IssuedAccessKey{}, &CredentialFormatError{Operation: OperationCreateAccessKey, Problem: problemNotAJWT}
	}
	body, _ := json.Marshal(struct {
		Name   string `json:"name"`
		Detail string `json:"detail"`
		Expire int64  `json:"expire"`
	}{name, detail, int64(lifetime / time.Second)})
	resp, err := c.do(ctx, request{
		operation: OperationCreateAccessKey, method: http.MethodPost, path: accessKeysPath,
		body: body, bearer: jwt,
	})
	if err != nil {
		return IssuedAccessKey{}, err
	}
	var raw struct {
		Token string `json:"token"`
	}
	entry, err := decodeAccessKeyEntry(resp.body)
	if err == nil && (json.Unmarshal(resp.body, &raw) != nil || raw.Token == "" || entry.ID == "" || entry.TMExpire.IsZero()) {
		err = errors.New("no id, token or tm_expire in the answer")
	}
	if err == nil && accessKeyProblem(raw.Token) != "" {
		err = errors.New("the token in the answer is not a usable accesskey")
	}
	if err != nil {
		return IssuedAccessKey{}, &MalformedResponseError{Operation: OperationCreateAccessKey,
			Endpoint: c.endpoint(accessKeysPath), StatusCode: http.StatusOK, Problem: err.Error()}
	}
	k := IssuedAccessKey{Key: raw.Token, ID: entry.ID, Name: entry.Name, Prefix: entry.TokenPrefix,
		CreatedAt: entry.TMCreate, ExpiresAt: entry.TMExpire}
	if len(k.Key) > AccessKeyPrefixLength {
		k.Prefix = k.Key[:AccessKeyPrefixLength]
	}
	return k, nil
}

// ListAccessKeysNamed returns the live keys named name, authenticated by the
// login token jwt: every page, newest first, stopping as ValidateAccessKey does.
func (c *Client) ListAccessKeysNamed(ctx context.Context, jwt, name string) ([]AccessKeyEntry, error) {
	if !usableJWT(jwt) {
		return nil, &CredentialFormatError{Operation: OperationListAccessKeys, Problem: problemNotAJWT}
	}
	var out []AccessKeyEntry
	err := c.listPages(ctx, request{operation: OperationListAccessKeys, bearer: jwt}, func(page AccessKeyPage) bool {
		for _, e := range page.Result {
			if e.Name == name && e.TMDelete.IsZero() {
				out = append(out, e)
			}
		}
		return false
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ErrAccessKeyGone is what DeleteAccessKey returns for a key that does not
// exist (404) or was deleted already (409): revoked either way.
var ErrAccessKeyGone = errors.New("the accesskey does not exist or was deleted already")

// DeleteAccessKey deletes (soft-deletes) the key with id, authenticated by the
// login token jwt. A 404 or 409 is ErrAccessKeyGone.
func (c *Client) DeleteAccessKey(ctx context.Context, jwt, id string) error {
	if !usableJWT(jwt) {
		return &CredentialFormatError{Operation: OperationDeleteAccessKey, Problem: problemNotAJWT}
	}
	if !isKeyID(id) {
		return &CredentialFormatError{Operation: OperationDeleteAccessKey, Problem: "the accesskey id is not a UUID"}
	}
	_, err := c.do(ctx, request{operation: OperationDeleteAccessKey, method: http.MethodDelete,
		path: accessKeysPath + "/" + id, bearer: jwt})
	var apiErr *APIError
	if errors.As(err, &apiErr) && (apiErr.StatusCode == http.StatusNotFound || apiErr.StatusCode == http.StatusConflict) {
		return ErrAccessKeyGone
	}
	return err
}

// isKeyID reports whether id is a UUID (hex and dashes, 36 characters): it
// goes into a URL path.
func isKeyID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'):
		default:
			return false
		}
	}
	return true
}
