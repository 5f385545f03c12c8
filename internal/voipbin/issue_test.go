package voipbin_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/voipbin/credential-operator/internal/voipbin"
	"github.com/voipbin/credential-operator/internal/voipbin/voipbintest"
)

// issueRig is a stand-in with one agent and a client logged in as it.
func issueRig(t *testing.T, opts ...voipbintest.Option) (*voipbintest.Server, *voipbin.Client, string) {
	t.Helper()
	srv := voipbintest.NewServer(t, opts...)
	srv.AddAgent("admin@example.com", "pw", "")
	c, err := voipbin.New(srv.URL(), voipbin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.Login(context.Background(), "admin@example.com", "pw")
	if err != nil {
		t.Fatal(err)
	}
	return srv, c, tok.JWT
}

func TestCreateListDeleteAccessKey(t *testing.T) {
	srv, c, jwt := issueRig(t)
	ctx := context.Background()
	k, err := c.CreateAccessKey(ctx, jwt, "vbc-ns-a-1234abcd", "for ns/a", 30*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(k.Key, "vb_") || k.Prefix != k.Key[:11] || k.ID == "" {
		t.Fatalf("issued key: id %q prefix %q", k.ID, k.Prefix)
	}
	if got := k.ExpiresAt.Sub(k.CreatedAt); got < 30*24*time.Hour-2*time.Second || got > 30*24*time.Hour+2*time.Second {
		t.Errorf("lifetime %s, want 720h", got)
	}
	if s := fmt.Sprintf("%v %+v %#v %s", k, k, k, k); strings.Contains(s, k.Key) {
		t.Errorf("formatting prints the key: %s", s)
	}
	// The new key authenticates.
	if _, err := c.ValidateAccessKey(ctx, k.Key); err != nil {
		t.Fatalf("the created key does not authenticate: %v", err)
	}
	if _, err := c.CreateAccessKey(ctx, jwt, "other", "", 48*time.Hour); err != nil {
		t.Fatal(err)
	}
	named, err := c.ListAccessKeysNamed(ctx, jwt, "vbc-ns-a-1234abcd")
	if err != nil || len(named) != 1 || named[0].ID != k.ID {
		t.Fatalf("ListAccessKeysNamed = %+v, %v", named, err)
	}
	if err := c.DeleteAccessKey(ctx, jwt, k.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteAccessKey(ctx, jwt, k.ID); !errors.Is(err, voipbin.ErrAccessKeyGone) {
		t.Errorf("second delete = %v, want ErrAccessKeyGone (409)", err)
	}
	if err := c.DeleteAccessKey(ctx, jwt, "00000000-0000-0000-0000-000000000000"); !errors.Is(err, voipbin.ErrAccessKeyGone) {
		t.Errorf("delete of an unknown id = %v, want ErrAccessKeyGone (404)", err)
	}
	if _, err := c.ValidateAccessKey(ctx, k.Key); !voipbin.IsInvalidCredentials(err) {
		t.Errorf("a deleted key still authenticates: %v", err)
	}
	if named, _ := c.ListAccessKeysNamed(ctx, jwt, "vbc-ns-a-1234abcd"); len(named) != 0 {
		t.Errorf("a deleted key is listed: %+v", named)
	}
	if n := len(srv.AccessKeys()); n != 2 {
		t.Errorf("stand-in holds %d keys, want 2", n)
	}
}

func TestCreateAccessKeyRefusals(t *testing.T) {
	_, c, jwt := issueRig(t)
	ctx := context.Background()
	_, err := c.CreateAccessKey(ctx, jwt, "short", "", time.Hour)
	var apiErr *voipbin.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 {
		t.Fatalf("expire under a day: %v, want HTTP 400", err)
	}
	_, err = c.CreateAccessKey(ctx, "not-a-token", "n", "", 48*time.Hour)
	if !voipbin.IsInvalidCredentials(err) {
		t.Errorf("a bad token: %v, want InvalidCredentials", err)
	}
	if strings.Contains(fmt.Sprint(err), "not-a-token") {
		t.Errorf("the error quotes the token: %v", err)
	}
	if _, err := c.CreateAccessKey(ctx, "", "n", "", 48*time.Hour); err == nil {
		t.Error("an empty token is sent")
	}
	if err := c.DeleteAccessKey(ctx, jwt, "../../auth/login"); err == nil || strings.Contains(err.Error(), "auth") {
		t.Errorf("a non-UUID id: %v", err)
	}
}

func TestAccessKeyDayCompressesLifetimes(t *testing.T) {
	_, c, jwt := issueRig(t, voipbintest.WithAccessKeyDay(10*time.Second))
	k, err := c.CreateAccessKey(context.Background(), jwt, "n", "", 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if got := k.ExpiresAt.Sub(k.CreatedAt); got < 18*time.Second || got > 22*time.Second {
		t.Errorf("a 48h key lives %s with a 10s day, want about 20s", got)
	}
}
