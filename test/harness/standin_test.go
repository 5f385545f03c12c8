package harness

import (
	"net/http"
	"strings"
	"testing"

	"github.com/voipbin/credential-operator/internal/voipbin/voipbintest"
)

func TestServeStandIn(t *testing.T) {
	api := voipbintest.New()
	api.AddAgent("harness@example.com", "harness-password", "")
	s, err := ServeStandIn(api.Handler())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.URL, "http://127.0.0.1:") || strings.HasSuffix(s.URL, "/") {
		t.Errorf("URL %q", s.URL)
	}
	resp, err := http.Post(s.URL+"/auth/login", "application/json",
		strings.NewReader(`{"username":"harness@example.com","password":"harness-password"}`))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || api.LoginCount("harness@example.com") != 1 {
		t.Errorf("login answered %d; the stand-in saw %d logins", resp.StatusCode, api.LoginCount("harness@example.com"))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(s.URL + "/ping"); err == nil {
		t.Error("the stand-in still answers after Close")
	}
}
