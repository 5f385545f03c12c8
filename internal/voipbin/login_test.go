package voipbin_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/voipbin/credential-operator/internal/version"

	"github.com/voipbin/credential-operator/internal/voipbin"
	"github.com/voipbin/credential-operator/internal/voipbin/voipbintest"
)

func TestLoginExpiry(t *testing.T) {
	t.Parallel()
	// The stand-in issues at serverNow; the answer "arrives" an hour later on
	// the client's clock, so that an assumed expiry is told apart from a read one.
	serverNow := time.Date(2026, 9, 1, 12, 0, 0, 123456000, time.UTC)
	clientNow := serverNow.Add(time.Hour).Add(700 * time.Millisecond)
	const lifetime = 90 * time.Minute
	read := time.Date(2026, 9, 1, 13, 30, 0, 0, time.UTC) // serverNow+lifetime, whole seconds
	assumed := time.Date(2026, 9, 8, 13, 0, 0, 0, time.UTC)

	cases := []struct {
		name       string
		format     voipbintest.ExpireFormat
		wantExpiry time.Time
		wantSource voipbin.ExpirySource
	}{
		{"expire, current layout", voipbintest.ExpireCurrent, read, voipbin.ExpiryFromExpire},
		{"expire, legacy layout", voipbintest.ExpireLegacy, read, voipbin.ExpiryFromExpire},
		{"only exp", voipbintest.ExpireNumericExp, read, voipbin.ExpiryFromExp},
		{"neither: 7 days after the answer", voipbintest.ExpireNone, assumed, voipbin.ExpiryAssumed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t,
				voipbintest.WithClock(func() time.Time { return serverNow }),
				voipbintest.WithTokenLifetime(lifetime),
				voipbintest.WithExpireFormat(tc.format))
			c := f.client(t, voipbin.Options{Now: func() time.Time { return clientNow }})
			tok, err := c.Login(context.Background(), testUser, testPassword)
			if err != nil {
				t.Fatalf("Login: %v", err)
			}
			if tok.JWT == "" || strings.Count(tok.JWT, ".") != 2 {
				t.Errorf("JWT %d bytes with %d dots", len(tok.JWT), strings.Count(tok.JWT, "."))
			}
			if want := clientNow.Truncate(time.Second); !tok.IssuedAt.Equal(want) || tok.IssuedAt.Location() != time.UTC {
				t.Errorf("IssuedAt = %v, want %v UTC", tok.IssuedAt, want)
			}
			if !tok.ExpiresAt.Equal(tc.wantExpiry) || tok.ExpiresAt.Location() != time.UTC {
				t.Errorf("ExpiresAt = %v, want %v UTC", tok.ExpiresAt, tc.wantExpiry)
			}
			if tok.ExpirySource != tc.wantSource {
				t.Errorf("ExpirySource = %q, want %q", tok.ExpirySource, tc.wantSource)
			}
		})
	}
}

func TestLoginRequestShape(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	obs := &recordingObserver{}
	c := f.client(t, voipbin.Options{Observer: obs})
	if _, err := c.Login(context.Background(), testUser, testPassword); err != nil {
		t.Fatalf("Login: %v", err)
	}
	if _, err := c.Login(context.Background(), testUser, "wrong-password"); !voipbin.IsInvalidCredentials(err) {
		t.Fatalf("wrong password: %v", err)
	}
	reqs := f.s.RequestsTo("/auth/login")
	if len(reqs) != 2 {
		t.Fatalf("%d login requests, want 2", len(reqs))
	}
	r := reqs[0]
	if r.Method != "POST" || r.ContentType != "application/json" || r.Accept != "application/json" {
		t.Errorf("method %q content type %q accept %q", r.Method, r.ContentType, r.Accept)
	}
	if r.UserAgent != "voipbin-credential-operator/"+version.Version {
		t.Errorf("User-Agent %q, Version %q", r.UserAgent, version.Version)
	}
	if r.Username != testUser || r.RawQuery != "" {
		t.Errorf("username %q raw query %q", r.Username, r.RawQuery)
	}
	if reqs[1].TokenCookie {
		t.Errorf("the second login sent the first one's token cookie: the client must have no jar")
	}
	got := obs.observations()
	if len(got) != 2 || got[0].operation != "login" || got[0].code != "200" || got[1].code != "400" || got[0].duration <= 0 {
		t.Errorf("observations %+v, want login 200 then login 400", got)
	}
}

func TestLoginUserAgentOption(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client(t, voipbin.Options{UserAgent: "custom/1.0"})
	if _, err := c.Login(context.Background(), testUser, testPassword); err != nil {
		t.Fatalf("Login: %v", err)
	}
	if ua := f.s.RequestsTo("/auth/login")[0].UserAgent; ua != "custom/1.0" {
		t.Errorf("User-Agent %q", ua)
	}
}

func TestLoginFrozenCustomerStillLogsIn(t *testing.T) {
	t.Parallel()
	// On the real server only an expired or deleted customer gets 403 at
	// login; a frozen one gets its token and meets the 403 on API calls.
	f := newFixture(t)
	f.s.SetCustomerStatus(f.s.DefaultCustomerID(), voipbintest.ReasonAccountFrozen)
	c := f.client(t, voipbin.Options{})
	if _, err := c.Login(context.Background(), testUser, testPassword); err != nil {
		t.Fatalf("Login: %v", err)
	}
	_, err := c.ValidateAccessKey(context.Background(), f.key.Key)
	if !voipbin.IsAccountDisabled(err) {
		t.Errorf("ValidateAccessKey: %v, want account disabled", err)
	}
}

func TestLoginOverTLSWithTheCA(t *testing.T) {
	t.Parallel()
	s := voipbintest.NewTLSServer(t)
	s.AddAgent(testUser, testPassword, "")
	key := s.AddAccessKey(voipbintest.AccessKey{})
	c := newClient(t, s.URL(), voipbin.Options{CACertPEM: s.CACertPEM()})
	if _, err := c.Login(context.Background(), testUser, testPassword); err != nil {
		t.Fatalf("Login with the CA: %v", err)
	}
	if _, err := c.ValidateAccessKey(context.Background(), key.Key); err != nil {
		t.Fatalf("ValidateAccessKey with the CA: %v", err)
	}
	insecure := newClient(t, s.URL(), voipbin.Options{InsecureSkipVerify: true})
	if _, err := insecure.Login(context.Background(), testUser, testPassword); err != nil {
		t.Fatalf("Login with InsecureSkipVerify: %v", err)
	}
}
