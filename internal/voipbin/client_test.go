package voipbin_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/voipbin/credential-operator/internal/voipbin"
	"github.com/voipbin/credential-operator/internal/voipbin/voipbintest"
)

func TestNewValidatesTheURL(t *testing.T) {
	t.Parallel()
	cases := []struct {
		url     string
		wantErr bool
		want    string
	}{
		{"https://api.voipbin.net", false, "https://api.voipbin.net"},
		{"https://api.voipbin.net/", false, "https://api.voipbin.net"},
		{"http://127.0.0.1:8080/prefix/", false, "http://127.0.0.1:8080/prefix"},
		{"ftp://api.voipbin.net", true, ""},
		{"api.voipbin.net", true, ""},
		{"https://", true, ""},
		{"https://user:pw-in-url@api.voipbin.net", true, ""},
		{"https://api.voipbin.net?accesskey=x", true, ""},
		{"https://api.voipbin.net?", true, ""},
		{"https://api.voipbin.net#frag", true, ""},
		{"https://api.voipbin.net/%zz", true, ""},
		{"https:opaque", true, ""},
	}
	for _, tc := range cases {
		c, err := voipbin.New(tc.url, voipbin.Options{})
		if (err != nil) != tc.wantErr {
			t.Errorf("New(%q): error %v, want error %v", tc.url, err, tc.wantErr)
			continue
		}
		if err != nil {
			if strings.Contains(err.Error(), "pw-in-url") || strings.Contains(err.Error(), "accesskey=") {
				t.Errorf("New(%q) error repeats the URL: %v", tc.url, err)
			}
			continue
		}
		if got := c.BaseURL(); got != tc.want {
			t.Errorf("New(%q).BaseURL() = %q, want %q", tc.url, got, tc.want)
		}
	}
}

func TestNewRejectsACABundleWithoutCertificates(t *testing.T) {
	t.Parallel()
	if _, err := voipbin.New("https://api.voipbin.net", voipbin.Options{CACertPEM: []byte("not a PEM")}); err == nil {
		t.Error("a CA bundle without certificates was accepted")
	}
}

func TestGivenHTTPClientNeverFollowsRedirects(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	given := &http.Client{} // default policy: follow redirects
	c := f.client(t, voipbin.Options{HTTPClient: given})
	f.s.InjectFault("/auth/login", voipbintest.Fault{Redirect: "/elsewhere"})
	_, err := c.Login(context.Background(), testUser, testPassword)
	if !voipbin.IsUnexpectedResponse(err) {
		t.Fatalf("Login: %v, want an unexpected response", err)
	}
	if n := f.s.Hits("/elsewhere"); n != 0 {
		t.Errorf("the redirect was followed %d times", n)
	}
	if given.CheckRedirect != nil {
		t.Errorf("the caller's http.Client was modified")
	}
}
