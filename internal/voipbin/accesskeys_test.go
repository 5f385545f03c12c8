package voipbin_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voipbin/credential-operator/internal/voipbin"
	"github.com/voipbin/credential-operator/internal/voipbin/voipbintest"
)

const accessKeysPath = "/v1.0/accesskeys"

func TestValidateAccessKeyOnPageThree(t *testing.T) {
	t.Parallel()
	s := voipbintest.NewServer(t)
	// The key under test is the oldest of 250: newest first, it is entry 250,
	// on page 3.
	key := s.AddAccessKey(voipbintest.AccessKey{Name: "oldest", Expire: time.Date(2027, 1, 2, 3, 4, 5, 678901000, time.UTC)})
	s.AddAccessKeys(249, "")
	c := newClient(t, s.URL(), voipbin.Options{})

	info, err := c.ValidateAccessKey(context.Background(), key.Key)
	if err != nil {
		t.Fatalf("ValidateAccessKey: %v", err)
	}
	want := voipbin.AccessKeyInfo{ID: key.ID, Name: "oldest", Prefix: key.Key[:11], ExpiresAt: key.Expire, Found: true}
	if info != want {
		t.Errorf("info = %+v, want %+v", info, want)
	}
	reqs := s.RequestsTo(accessKeysPath)
	if len(reqs) != 3 || s.Count(accessKeysPath, http.StatusOK) != 3 {
		t.Fatalf("%d list requests, want 3 answered 200", len(reqs))
	}
	for i, r := range reqs {
		if r.Credential != voipbintest.CredentialAccessKeyCookie || r.TokenCookie || r.Authorization {
			t.Errorf("request %d: credential %q, token cookie %v, authorization %v", i, r.Credential, r.TokenCookie, r.Authorization)
		}
		if strings.Contains(r.RawQuery, key.Key) || strings.Contains(r.RawQuery, "accesskey") {
			t.Errorf("request %d: the key is in the URL: %q", i, r.RawQuery)
		}
		if !strings.Contains(r.RawQuery, "page_size=100") || (i > 0) != strings.Contains(r.RawQuery, "page_token=") {
			t.Errorf("request %d: query %q", i, r.RawQuery)
		}
	}
}

func TestValidateAccessKeyAfterLoginUsesTheKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client(t, voipbin.Options{})
	if _, err := c.Login(context.Background(), testUser, testPassword); err != nil {
		t.Fatalf("Login: %v", err)
	}
	// The login answer set a `token` cookie. Had the client kept it, the
	// server would authenticate by the token (it comes first) and a deleted
	// key would look valid.
	f.s.DeleteAccessKey(f.key.ID)
	if _, err := c.ValidateAccessKey(context.Background(), f.key.Key); !voipbin.IsInvalidCredentials(err) {
		t.Fatalf("deleted key after a login: %v, want invalid credentials", err)
	}
	live := f.s.AddAccessKey(voipbintest.AccessKey{Name: "live"})
	info, err := c.ValidateAccessKey(context.Background(), live.Key)
	if err != nil || !info.Found || info.ID != live.ID {
		t.Fatalf("live key after a login: %+v, %v", info, err)
	}
	for i, r := range f.s.RequestsTo(accessKeysPath) {
		if r.TokenCookie || r.Authorization || r.Credential != voipbintest.CredentialAccessKeyCookie {
			t.Errorf("request %d: token cookie %v, authorization %v, credential %q", i, r.TokenCookie, r.Authorization, r.Credential)
		}
		if strings.Contains(r.RawQuery, f.key.Key) || strings.Contains(r.RawQuery, live.Key) {
			t.Errorf("request %d: a key is in the URL", i)
		}
	}
}

func TestValidateAccessKeyExpiredButListed(t *testing.T) {
	t.Parallel()
	// An expired key still appears in listings, but cannot authenticate.
	f := newFixture(t)
	expired := f.s.AddAccessKey(voipbintest.AccessKey{Expire: time.Now().Add(-time.Hour)})
	c := f.client(t, voipbin.Options{})
	info, err := c.ValidateAccessKey(context.Background(), f.key.Key)
	if err != nil || !info.Found {
		t.Fatalf("live key: %+v, %v", info, err)
	}
	if _, err := c.ValidateAccessKey(context.Background(), expired.Key); !voipbin.IsInvalidCredentials(err) {
		t.Errorf("expired key: %v, want invalid credentials", err)
	}
}

func TestValidateAccessKeyNotListed(t *testing.T) {
	t.Parallel()
	// A key created "in the future" authenticates but is not in a listing
	// bounded by now: the client must page to the end and stop, whatever
	// next_page_token says.
	cases := []struct {
		others    int
		wantPages int
	}{
		{0, 1},   // empty first page
		{150, 2}, // stop on the short second page
		{200, 3}, // two full pages, then an empty one
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%d others", tc.others), func(t *testing.T) {
			t.Parallel()
			s := voipbintest.NewServer(t)
			s.AddAccessKeys(tc.others, "")
			hidden := s.AddAccessKey(voipbintest.AccessKey{Create: time.Now().Add(time.Hour)})
			c := newClient(t, s.URL(), voipbin.Options{})
			info, err := c.ValidateAccessKey(context.Background(), hidden.Key)
			if err != nil {
				t.Fatalf("ValidateAccessKey: %v", err)
			}
			want := voipbin.AccessKeyInfo{Prefix: hidden.Key[:11]}
			if info != want {
				t.Errorf("info = %+v, want %+v", info, want)
			}
			if n := s.Count(accessKeysPath, http.StatusOK); n != tc.wantPages {
				t.Errorf("%d pages requested, want %d", n, tc.wantPages)
			}
		})
	}
}

// TestValidateAccessKeyPagingSafety uses a broken server (not the stand-in):
// full pages forever, with a repeated or empty next_page_token.
func TestValidateAccessKeyPagingSafety(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		token     func(page int64) string
		wantPages int64
	}{
		{"repeated token", func(int64) string { return "2026-01-01T00:00:00Z" }, 2},
		{"empty token", func(int64) string { return "" }, 1},
		{"new token every page: the page cap", func(p int64) string { return fmt.Sprintf("token-%d", p) }, 1000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var pages atomic.Int64
			entries := make([]string, 100)
			for i := range entries {
				entries[i] = fmt.Sprintf(`{"id":"%d","token_prefix":"vb_other%03d","tm_create":"2026-01-01T00:00:00Z"}`, i, i)
			}
			body := `{"result":[` + strings.Join(entries, ",") + `],"next_page_token":%q}`
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				p := pages.Add(1)
				_, _ = fmt.Fprintf(w, body, tc.token(p))
			}))
			t.Cleanup(hs.Close)
			c := newClient(t, hs.URL, voipbin.Options{Throttle: voipbin.NewThrottle(0, 0, 0, 0)})
			info, err := c.ValidateAccessKey(context.Background(), "vb_AbCdEfGhIjKlMnOpQrStUvWxYz012345")
			if err != nil || info.Found || info.Prefix != "vb_AbCdEfGh" {
				t.Fatalf("info %+v, err %v", info, err)
			}
			if got := pages.Load(); got != tc.wantPages {
				t.Errorf("%d pages requested, want %d", got, tc.wantPages)
			}
		})
	}
}

func TestValidateShortAccessKey(t *testing.T) {
	t.Parallel()
	// A key no longer than a prefix would be published whole as its
	// "prefix": the client leaves Prefix empty and does not search.
	s := voipbintest.NewServer(t)
	short := s.AddAccessKey(voipbintest.AccessKey{Key: "AuTKq6F5AB"})
	s.AddAccessKeys(120, "")
	info, err := newClient(t, s.URL(), voipbin.Options{}).ValidateAccessKey(context.Background(), short.Key)
	if err != nil || info != (voipbin.AccessKeyInfo{}) {
		t.Fatalf("info %+v, err %v; want an empty info and no error", info, err)
	}
	if n := s.Hits(accessKeysPath); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestDecodeAccessKeyPage(t *testing.T) {
	t.Parallel()
	page, err := voipbin.DecodeAccessKeyPage([]byte(`{"result":[{"id":"a","customer_id":"c","name":"n",
		"token_prefix":"vb_AbCdEfGh","tm_expire":"2027-01-02T03:04:05.6Z","tm_create":"2026-01-02T03:04:05+02:00",
		"tm_update":"2026-01-02T01:04:05.123456789Z","tm_delete":null,"token":"never-kept"}],"next_page_token":"x"}`))
	if err != nil {
		t.Fatalf("DecodeAccessKeyPage: %v", err)
	}
	want := voipbin.AccessKeyEntry{ID: "a", CustomerID: "c", Name: "n", TokenPrefix: "vb_AbCdEfGh",
		TMExpire: time.Date(2027, 1, 2, 3, 4, 5, 600000000, time.UTC),
		TMCreate: time.Date(2026, 1, 2, 1, 4, 5, 0, time.UTC),
		TMUpdate: time.Date(2026, 1, 2, 1, 4, 5, 123456789, time.UTC)}
	if len(page.Result) != 1 || page.Result[0] != want || page.NextPageToken != "x" {
		t.Errorf("page = %+v, want one entry %+v and token x", page, want)
	}

	for _, ok := range []string{`{"result":null,"next_page_token":""}`, `{"result":[]}`} {
		if p, err := voipbin.DecodeAccessKeyPage([]byte(ok)); err != nil || len(p.Result) != 0 {
			t.Errorf("%s: %+v, %v; want an empty page", ok, p, err)
		}
	}
	for _, bad := range []string{``, `null`, `[]`, `{}`, `{"result":{}}`, `{"result":[1]}`,
		`{"result":[{"tm_expire":"tomorrow"}]}`, `{"result":[],"next_page_token":5}`, `{"result":[]} trailing`} {
		if _, err := voipbin.DecodeAccessKeyPage([]byte(bad)); err == nil {
			t.Errorf("%q decoded without error", bad)
		}
	}
}
