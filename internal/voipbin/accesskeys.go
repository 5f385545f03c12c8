package voipbin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

const (
	// accessKeysPath lists the accesskeys of the caller's customer.
	accessKeysPath = "/v1.0/accesskeys"

	// AccessKeyPageSize is the page size asked for: the server's maximum, so
	// that finding a key's own entry costs as few calls as possible.
	AccessKeyPageSize = 100

	// maxAccessKeyPages bounds a listing (100,000 keys) in case a server keeps
	// handing out new page tokens forever.
	maxAccessKeyPages = 1000

	// AccessKeyPrefixLength is the length of an accesskey's token_prefix:
	// VoIPBIN shows the first 11 characters ("vb_" and 8 more) of every key in
	// listings. It is the only part of a key the operator may publish, and
	// how a key finds its own entry.
	AccessKeyPrefixLength = 11

	// maxAccessKeyBytes bounds the key sent: real keys are 35 characters.
	maxAccessKeyBytes = 1024
)

// AccessKeyInfo is what ValidateAccessKey learned about a key that
// authenticates.
type AccessKeyInfo struct {
	// ID is the key's UUID; "" when its entry was not found.
	ID string
	// Name is the key's name; "" when empty or not found.
	Name string
	// Prefix is the key's token_prefix, its first AccessKeyPrefixLength
	// characters; "" for a key not longer than that, whose prefix would be
	// the whole key.
	Prefix string
	// ExpiresAt is the key's tm_expire; zero when not found.
	ExpiresAt time.Time
	// Found reports whether the key's own entry was found in the listing.
	// The key authenticates either way: the server may list it on a page the
	// client gave up on, or (with a prefix collision) under another entry.
	Found bool
}

// AccessKeyPage is one decoded page of GET /v1.0/accesskeys.
type AccessKeyPage struct {
	// Result is the page's entries, newest first.
	Result []AccessKeyEntry
	// NextPageToken is the tm_create of the page's last entry. It is not
	// empty on the last page: stop on an empty or short page instead.
	NextPageToken string
}

// AccessKeyEntry is one accesskey of a listing. A listing never holds the key
// itself, only its TokenPrefix.
type AccessKeyEntry struct {
	ID          string
	CustomerID  string
	Name        string
	Detail      string
	TokenPrefix string
	// Times are zero when the field is null or absent (TMDelete while live).
	TMExpire time.Time
	TMCreate time.Time
	TMUpdate time.Time
	TMDelete time.Time
}

// DecodeAccessKeyPage decodes a 200 answer of GET /v1.0/accesskeys. It
// requires a JSON object with a `result` array (null is an empty page) whose
// times parse as RFC 3339 with any number of fractional digits. Errors never
// quote the body.
func DecodeAccessKeyPage(body []byte) (AccessKeyPage, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil || top == nil {
		return AccessKeyPage{}, errors.New("not a JSON object")
	}
	rawResult, ok := top["result"]
	if !ok {
		return AccessKeyPage{}, errors.New("no result list")
	}
	var items []json.RawMessage // null decodes to an empty page
	if err := json.Unmarshal(rawResult, &items); err != nil {
		return AccessKeyPage{}, errors.New("result is not a list")
	}
	page := AccessKeyPage{}
	if rawNext, ok := top["next_page_token"]; ok {
		var next *string
		if err := json.Unmarshal(rawNext, &next); err != nil {
			return AccessKeyPage{}, errors.New("next_page_token is not a string")
		}
		if next != nil {
			page.NextPageToken = *next
		}
	}
	page.Result = make([]AccessKeyEntry, 0, len(items))
	for i, item := range items {
		entry, err := decodeAccessKeyEntry(item)
		if err != nil {
			return AccessKeyPage{}, fmt.Errorf("entry %d: %w", i, err)
		}
		page.Result = append(page.Result, entry)
	}
	return page, nil
}

func decodeAccessKeyEntry(item json.RawMessage) (AccessKeyEntry, error) {
	var raw struct {
		ID          string  `json:"id"`
		CustomerID  string  `json:"customer_id"`
		Name        string  `json:"name"`
		Detail      string  `json:"detail"`
		TokenPrefix string  `json:"token_prefix"`
		TMExpire    *string `json:"tm_expire"`
		TMCreate    *string `json:"tm_create"`
		TMUpdate    *string `json:"tm_update"`
		TMDelete    *string `json:"tm_delete"`
	}
	if err := json.Unmarshal(item, &raw); err != nil {
		return AccessKeyEntry{}, errors.New("not an accesskey object")
	}
	entry := AccessKeyEntry{ID: raw.ID, CustomerID: raw.CustomerID, Name: raw.Name, Detail: raw.Detail, TokenPrefix: raw.TokenPrefix}
	for _, f := range []struct {
		name string
		src  *string
		dst  *time.Time
	}{
		{"tm_expire", raw.TMExpire, &entry.TMExpire},
		{"tm_create", raw.TMCreate, &entry.TMCreate},
		{"tm_update", raw.TMUpdate, &entry.TMUpdate},
		{"tm_delete", raw.TMDelete, &entry.TMDelete},
	} {
		if f.src == nil || *f.src == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, *f.src)
		if err != nil {
			return AccessKeyEntry{}, fmt.Errorf("%s is not an RFC 3339 time", f.name)
		}
		*f.dst = t.UTC()
	}
	return entry, nil
}

// ValidateAccessKey checks that key authenticates now, by listing the
// accesskeys with the key itself as credential (GET /v1.0/accesskeys, the key
// in the `accesskey` cookie: never in a URL, where access logs and proxies
// would keep it). A 200 means valid; a 401 (unknown, expired or deleted key)
// is KindInvalidCredentials.
//
// It then pages through the listing (AccessKeyPageSize per page, newest
// first) for the entry whose token_prefix is the key's first
// AccessKeyPrefixLength characters, for its ID, name and expiry. It stops on
// an empty page or one shorter than asked, whatever next_page_token says (the
// server never leaves it empty), and also on an empty or repeated
// next_page_token. When the key authenticates but its entry is not found, the
// result has only Prefix set and Found false: that is not an error.
//
// An error on a later page is returned as is (the key authenticated, but the
// answer is incomplete: retry). No error string holds the key.
func (c *Client) ValidateAccessKey(ctx context.Context, key string) (AccessKeyInfo, error) {
	if problem := accessKeyProblem(key); problem != "" {
		return AccessKeyInfo{}, &CredentialFormatError{Operation: OperationListAccessKeys, Problem: problem}
	}
	info := AccessKeyInfo{}
	if len(key) > AccessKeyPrefixLength {
		info.Prefix = key[:AccessKeyPrefixLength]
	}
	err := c.listPages(ctx, request{operation: OperationListAccessKeys, cookie: "accesskey=" + key},
		func(page AccessKeyPage) bool {
			if info.Prefix == "" {
				// A key too short to have a distinct prefix cannot be matched:
				// one page proves it authenticates.
				return true
			}
			for _, entry := range page.Result {
				if entry.TokenPrefix == info.Prefix {
					info.ID, info.Name, info.ExpiresAt, info.Found = entry.ID, entry.Name, entry.TMExpire, true
					return true
				}
			}
			return false
		})
	if err != nil {
		return AccessKeyInfo{}, err
	}
	return info, nil
}

// listPages pages through GET /v1.0/accesskeys with the credential of req
// (AccessKeyPageSize per page, newest first), calling visit with each page
// until it returns true. It stops on an empty page or one shorter than asked,
// whatever next_page_token says (the server never leaves it empty), and also
// on an empty or repeated next_page_token, and after maxAccessKeyPages.
func (c *Client) listPages(ctx context.Context, req request, visit func(AccessKeyPage) bool) error {
	req.method, req.path = http.MethodGet, accessKeysPath
	seenTokens := map[string]bool{}
	pageToken := ""
	for range maxAccessKeyPages {
		req.query = url.Values{"page_size": {strconv.Itoa(AccessKeyPageSize)}}
		if pageToken != "" {
			req.query.Set("page_token", pageToken)
		}
		resp, err := c.do(ctx, req)
		if err != nil {
			return err
		}
		page, err := DecodeAccessKeyPage(resp.body)
		if err != nil {
			return &MalformedResponseError{Operation: req.operation,
				Endpoint: c.endpoint(accessKeysPath), StatusCode: http.StatusOK, Problem: err.Error()}
		}
		if visit(page) || len(page.Result) < AccessKeyPageSize ||
			page.NextPageToken == "" || seenTokens[page.NextPageToken] {
			return nil
		}
		seenTokens[page.NextPageToken] = true
		pageToken = page.NextPageToken
	}
	return nil
}

// accessKeyProblem says why key cannot be sent as a cookie value (RFC 6265
// cookie-octets), or "". The problem never quotes the key.
func accessKeyProblem(key string) string {
	switch {
	case key == "":
		return "the accesskey is empty"
	case len(key) > maxAccessKeyBytes:
		return fmt.Sprintf("the accesskey is longer than %d bytes", maxAccessKeyBytes)
	}
	for i := 0; i < len(key); i++ {
		b := key[i]
		if b <= ' ' || b >= 0x7f || b == '"' || b == ',' || b == ';' || b == '\\' {
			return fmt.Sprintf("the accesskey holds a character not allowed in a cookie at position %d "+
				"(whitespace, a control character, a quote, a comma, a semicolon or a backslash)", i+1)
		}
	}
	return ""
}
