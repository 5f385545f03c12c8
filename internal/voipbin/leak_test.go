package voipbin_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/voipbin/credential-operator/internal/voipbin"
)

// secretForms returns s and its base64 forms (standard and URL alphabets,
// padded and not).
func secretForms(s string) []string {
	b := []byte(s)
	return []string{
		s,
		base64.StdEncoding.EncodeToString(b),
		base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b),
		base64.RawURLEncoding.EncodeToString(b),
	}
}

// findLeaks returns a description of every secret form found in texts.
func findLeaks(texts, secrets []string) []string {
	var leaks []string
	for _, secret := range secrets {
		if len(secret) < 8 {
			continue // too short to search for meaningfully
		}
		for i, form := range secretForms(secret) {
			for _, text := range texts {
				if strings.Contains(text, form) {
					leaks = append(leaks, fmt.Sprintf("form %d of a secret (%d bytes) in %q", i, len(secret), text))
				}
			}
		}
	}
	return leaks
}

// errorTexts are the ways an error reaches a log or a status message.
func errorTexts(err error) []string {
	texts := []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)}
	for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
		texts = append(texts, e.Error())
	}
	return texts
}

// TestErrorsNeverHoldSecrets runs every failure case and looks for the
// password, every key and every token issued, raw and base64, in each error.
func TestErrorsNeverHoldSecrets(t *testing.T) {
	t.Parallel()

	// Positive control: the scan finds a planted secret, raw and base64.
	planted := fmt.Errorf("voipbin login: oops %s and %s", testPassword,
		base64.RawURLEncoding.EncodeToString([]byte("vb_PlantedKey0123456789")))
	for _, secret := range []string{testPassword, "vb_PlantedKey0123456789"} {
		if leaks := findLeaks(errorTexts(planted), []string{secret}); len(leaks) == 0 {
			t.Fatalf("the scan missed a planted secret of %d bytes", len(secret))
		}
	}
	if leaks := findLeaks(errorTexts(planted), []string{"vb_NotPlanted0123456789"}); len(leaks) != 0 {
		t.Fatalf("the scan found a secret that was not planted: %v", leaks)
	}

	var (
		mu            sync.Mutex
		scanned       int
		tokensScanned int
	)
	t.Run("cases", func(t *testing.T) {
		for _, tc := range failureCases() {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				sc := &scenario{t: t}
				err := tc.run(sc)
				if err == nil {
					t.Fatal("no error")
				}
				secrets := sc.allSecrets()
				if leaks := findLeaks(errorTexts(err), secrets); len(leaks) > 0 {
					t.Errorf("error leaks secrets: %v", leaks)
				}
				mu.Lock()
				scanned++
				for _, f := range sc.fixtures {
					tokensScanned += len(f.s.IssuedTokens())
				}
				mu.Unlock()
			})
		}
	})
	// Every case but the closed port ran against a stand-in that had issued
	// a token: the scan looked for real tokens, not only for the password.
	if want := len(failureCases()); scanned != want || tokensScanned < want-1 {
		t.Errorf("scanned %d cases with %d tokens, want %d cases and at least %d tokens", scanned, tokensScanned, want, want-1)
	}
}

// TestErrorsNeverHoldQueries checks that a URL's query never reaches an
// error, even when the transport reports the full URL.
func TestErrorsNeverHoldQueries(t *testing.T) {
	t.Parallel()
	// A closed port makes http.Client.Do fail with a *url.Error, which prints
	// the full URL including page_size; the client must strip it.
	c := newClient(t, "http://127.0.0.1:1", voipbin.Options{})
	_, err := c.ValidateAccessKey(context.Background(), "vb_SomeKeyThatIsLongEnough000000")
	if err == nil {
		t.Fatal("no error")
	}
	for _, text := range errorTexts(err) {
		if strings.Contains(text, "?") || strings.Contains(text, "page_size") {
			t.Errorf("error holds a query: %q", text)
		}
	}
}
