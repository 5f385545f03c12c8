package voipbin_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/voipbin/credential-operator/internal/voipbin"
)

// jwtWith returns an (unsigned) JWT whose payload is claims.
func jwtWith(claims string) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." +
		enc.EncodeToString([]byte(claims)) + "." + enc.EncodeToString([]byte("signature"))
}

func TestParseTokenExpiry(t *testing.T) {
	t.Parallel()
	answered := time.Date(2026, 9, 1, 10, 0, 0, 999000000, time.UTC)
	assumed := time.Date(2026, 9, 8, 10, 0, 0, 0, time.UTC)
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		name       string
		jwt        string
		want       time.Time
		wantSource voipbin.ExpirySource
	}{
		{"current layout", jwtWith(`{"type":"agent","expire":"2026-09-08T12:00:00.500000Z"}`), at("2026-09-08T12:00:00Z"), voipbin.ExpiryFromExpire},
		{"legacy layout", jwtWith(`{"expire":"2026-09-08 12:00:00.000000"}`), at("2026-09-08T12:00:00Z"), voipbin.ExpiryFromExpire},
		{"fewer fractional digits", jwtWith(`{"expire":"2026-09-08T12:00:00.5Z"}`), at("2026-09-08T12:00:00Z"), voipbin.ExpiryFromExpire},
		{"no fraction", jwtWith(`{"expire":"2026-09-08 12:00:00"}`), at("2026-09-08T12:00:00Z"), voipbin.ExpiryFromExpire},
		{"explicit offset", jwtWith(`{"expire":"2026-09-08T14:00:00+02:00"}`), at("2026-09-08T12:00:00Z"), voipbin.ExpiryFromExpire},
		{"expire wins over exp", jwtWith(`{"expire":"2026-09-08T12:00:00.000000Z","exp":1}`), at("2026-09-08T12:00:00Z"), voipbin.ExpiryFromExpire},
		{"only exp", jwtWith(`{"exp":1788868800}`), at("2026-09-08T12:00:00Z"), voipbin.ExpiryFromExp},
		{"fractional exp", jwtWith(`{"exp":1788868800.75}`), at("2026-09-08T12:00:00Z"), voipbin.ExpiryFromExp},
		{"unparseable expire falls back to exp", jwtWith(`{"expire":"next week","exp":1788868800}`), at("2026-09-08T12:00:00Z"), voipbin.ExpiryFromExp},
		{"expire not a string", jwtWith(`{"expire":1788868800}`), assumed, voipbin.ExpiryAssumed},
		{"exp as a string", jwtWith(`{"exp":"1788868800"}`), assumed, voipbin.ExpiryAssumed},
		{"negative exp", jwtWith(`{"exp":-5}`), assumed, voipbin.ExpiryAssumed},
		{"absurd exp", jwtWith(`{"exp":1e300}`), assumed, voipbin.ExpiryAssumed},
		{"neither", jwtWith(`{"type":"agent","agent":{"id":"x"}}`), assumed, voipbin.ExpiryAssumed},
		{"payload not JSON", jwtWith(`not json`), assumed, voipbin.ExpiryAssumed},
		{"payload JSON null", jwtWith(`null`), assumed, voipbin.ExpiryAssumed},
		{"padded base64", strings.Replace(jwtWith(`{"exp":1788868800}`), ".", "==.", 2), at("2026-09-08T12:00:00Z"), voipbin.ExpiryFromExp},
		{"two parts", "abc.def", assumed, voipbin.ExpiryAssumed},
		{"empty", "", assumed, voipbin.ExpiryAssumed},
		{"bad base64", "a.!!!.c", assumed, voipbin.ExpiryAssumed},
	}
	for _, tc := range cases {
		got, source := voipbin.ParseTokenExpiry(tc.jwt, answered)
		if !got.Equal(tc.want) || got.Location() != time.UTC || source != tc.wantSource {
			t.Errorf("%s: ParseTokenExpiry = %v (%s), want %v (%s)", tc.name, got, source, tc.want, tc.wantSource)
		}
	}
}

func TestTokenNeverPrintsItsJWT(t *testing.T) {
	t.Parallel()
	const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzZWNyZXQiOiJ5ZXMifQ.c2lnbmF0dXJlLXNlY3JldA"
	tok := voipbin.Token{JWT: jwt, IssuedAt: time.Unix(1, 0).UTC(), ExpiresAt: time.Unix(2, 0).UTC(), ExpirySource: voipbin.ExpiryFromExpire}
	type holder struct {
		Token voipbin.Token
		Ptr   *voipbin.Token
	}
	var outputs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		outputs = append(outputs,
			fmt.Sprintf(verb, tok), fmt.Sprintf(verb, &tok), fmt.Sprintf(verb, []voipbin.Token{tok}),
			fmt.Sprintf(verb, holder{tok, &tok}))
	}
	outputs = append(outputs, tok.String(), tok.GoString(), fmt.Sprint(tok), fmt.Sprintln(tok))
	data, err := json.Marshal(holder{tok, &tok})
	if err != nil {
		t.Fatal(err)
	}
	outputs = append(outputs, string(data))
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "token", tok)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "token", tok)
	outputs = append(outputs, buf.String())

	if leaks := findLeaks(outputs, []string{jwt, "eyJzZWNyZXQiOiJ5ZXMifQ"}); len(leaks) > 0 {
		t.Errorf("a Token printed its JWT: %v", leaks)
	}
	if !strings.Contains(tok.String(), "<redacted>") || !strings.Contains(tok.String(), "1970-01-01T00:00:02Z") {
		t.Errorf("String() = %q, want the redaction marker and the times", tok.String())
	}
	// Positive control: the same scan sees the JWT where it is printed on purpose.
	if leaks := findLeaks([]string{"jwt=" + tok.JWT}, []string{jwt}); len(leaks) != 1 {
		t.Errorf("the scan missed a planted JWT")
	}
}

func TestTokenUsername(t *testing.T) {
	for _, tt := range []struct{ name, jwt, want string }{
		{"agent username", jwtWith(`{"type":"agent","agent":{"id":"a","username":"alice@example.com"}}`), "alice@example.com"},
		{"no agent", jwtWith(`{"expire":"2026-01-01T00:00:00.000000Z"}`), ""},
		{"agent not an object", jwtWith(`{"agent":"alice"}`), ""},
		{"not a JWT", "not-a-jwt", ""},
		{"empty", "", ""},
	} {
		if got := voipbin.TokenUsername(tt.jwt); got != tt.want {
			t.Errorf("%s: TokenUsername = %q, want %q", tt.name, got, tt.want)
		}
	}
}
