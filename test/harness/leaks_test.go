package harness

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

// A secret whose base64 differs between the standard and the URL alphabet (it
// encodes to + and /), so that each form is a string of its own.
const alphabetSecret = "pass\xfb\xff\xfe-word>>>?"

func TestFormsCoverBothAlphabets(t *testing.T) {
	forms := Forms(alphabetSecret)
	std, url := forms["base64-std"], forms["base64-url"]
	if !strings.ContainsAny(std, "+/") || std == url {
		t.Fatalf("the test secret does not tell the alphabets apart: std %q, url %q", std, url)
	}
	if std != base64.StdEncoding.EncodeToString([]byte(alphabetSecret)) ||
		url != base64.URLEncoding.EncodeToString([]byte(alphabetSecret)) {
		t.Errorf("forms %v are not the base64 encodings", forms)
	}
	if _, ok := forms["jwt-signature"]; ok {
		t.Error("a secret that is no JWT has a signature form")
	}
	jwt := "eyJhbGciOiJIUzI1NiJ9.eyJhIjoiYiJ9.c2lnbmF0dXJlLW9mLWEtand0LXRva2Vu"
	if got := Forms(jwt)["jwt-signature"]; got != "c2lnbmF0dXJlLW9mLWEtand0LXRva2Vu" {
		t.Errorf("jwt-signature form %q", got)
	}
}

// TestScanFindsEveryForm is the scanner's positive control: each form of a
// secret, alone in a log line, is found and named; nothing else is.
func TestScanFindsEveryForm(t *testing.T) {
	l := NewLeakScanner()
	l.Add("password", alphabetSecret)
	l.Add("password", "short") // below MinSecretLength: ignored
	clean := `{"level":"info","msg":"logged in","username":"alice@example.com"}`
	if leaks := l.Scan("logs", clean); len(leaks) != 0 {
		t.Fatalf("leaks in clean text: %v", leaks)
	}
	for name, form := range Forms(alphabetSecret) {
		leaks := l.Scan("logs", clean+"\n"+`{"msg":"oops","value":"`+form+`"}`)
		if len(leaks) == 0 {
			t.Errorf("form %s not found", name)
			continue
		}
		named := false
		for _, leak := range leaks {
			named = named || leak.Form == name
			if strings.Contains(leak.Context, form) || strings.Contains(leak.String(), alphabetSecret) {
				t.Errorf("the report of form %s shows the secret: %s", name, leak)
			}
			if leak.Kind != "password" || leak.Source != "logs" || leak.Fingerprint == "" {
				t.Errorf("leak %+v", leak)
			}
		}
		if !named {
			t.Errorf("form %s found only as %v", name, leaks)
		}
	}
	if l.Secrets() != 1 {
		t.Errorf("Secrets() = %d, want 1 (the short one is ignored)", l.Secrets())
	}
}

// TestScanReadsIssuersAtScanTime: tokens issued after the issuer was registered
// are looked for.
func TestScanReadsIssuersAtScanTime(t *testing.T) {
	l := NewLeakScanner()
	var issued []string
	l.AddIssuer("token", func() []string { return issued })
	text := "token=issued-later-0123456789"
	if leaks := l.Scan("logs", text); len(leaks) != 0 {
		t.Fatalf("leaks before the token was issued: %v", leaks)
	}
	issued = append(issued, "issued-later-0123456789")
	if leaks := l.Scan("logs", text); len(leaks) != 1 || leaks[0].Kind != "token" {
		t.Fatalf("leaks %v, want the issued token once", leaks)
	}
}

// TestContextMasksCutSecrets: a second secret cut by the context's edge is masked
// too, and the report still shows the surrounding text.
func TestContextMasksCutSecrets(t *testing.T) {
	l := NewLeakScanner()
	first, second := "first-secret-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "second-secret-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	l.Add("accesskey", first, second)
	text := second + strings.Repeat(" ", contextBytes-10) + "key=" + first + " end"
	checked := false
	for _, leak := range l.Scan("status", text) {
		if strings.Contains(leak.Context, "bbbbbbbbbb") || strings.Contains(leak.Context, "aaaaaaaaaa") {
			t.Errorf("the context shows part of a secret: %q", leak.Context)
		}
		if leak.Fingerprint == Fingerprint(first) && leak.Form == "raw" {
			checked = true
			// The context starts inside the second secret: masked, not shown in part.
			if !strings.HasPrefix(leak.Context, "<SECRET> ") || !strings.HasSuffix(leak.Context, "key=<SECRET> end") {
				t.Errorf("context %q", leak.Context)
			}
		}
	}
	if !checked {
		t.Error("the first secret was not found")
	}
}

func TestProveFinds(t *testing.T) {
	if err := ProveFinds(strings.Repeat(`{"level":"debug","msg":"reconciling"}`+"\n", 100)); err != nil {
		t.Fatal(err)
	}
}

// TestScanReaderFindsASecretAcrossChunks: a secret cut by a chunk's end is
// found (the chunks overlap by the longest form), and reported once although
// the overlap holds it twice; a secret added after a scan is looked for by the
// next one.
func TestScanReaderFindsASecretAcrossChunks(t *testing.T) {
	l := NewLeakScanner()
	secret := "token-" + RandomString(40)
	l.Add("token", secret)
	const chunk = 1000
	for _, at := range []int{0, chunk - 10, chunk - len(secret), chunk + 1, 3*chunk - 5} {
		text := strings.Repeat("x", at) + secret + strings.Repeat("y", 2*chunk)
		leaks, err := l.scanReader("file", strings.NewReader(text), chunk)
		if err != nil {
			t.Fatal(err)
		}
		if len(leaks) != 1 || leaks[0].Form != "raw" || leaks[0].Source != "file" {
			t.Errorf("secret at %d: leaks %v, want its raw form once", at, leaks)
		}
	}
	later := "password-" + RandomString(20)
	text := strings.Repeat("z", 2*chunk) + base64.StdEncoding.EncodeToString([]byte(later))
	if leaks, _ := l.scanReader("file", strings.NewReader(text), chunk); len(leaks) != 0 {
		t.Fatalf("leaks before the password was added: %v", leaks)
	}
	l.Add("password", later)
	leaks, _ := l.scanReader("file", strings.NewReader(text), chunk)
	forms := map[string]bool{}
	for _, leak := range leaks {
		forms[leak.Form] = leak.Fingerprint == Fingerprint(later)
	}
	// Its base64 has neither + nor / and a padded form starts with the unpadded one.
	if !forms["base64-std"] || !forms["base64-url-nopad"] || forms["raw"] {
		t.Errorf("leaks %v, want the password's base64 forms", leaks)
	}
}

// TestScanOfManySecretsIsOnePass: ten thousand secrets (sixty thousand forms)
// over a megabyte take well under a second: the cost is the text's length, not
// the number of secrets times it.
func TestScanOfManySecretsIsOnePass(t *testing.T) {
	l := NewLeakScanner()
	for range 10000 {
		l.Add("token", RandomString(32))
	}
	planted := RandomString(32)
	l.Add("token", planted)
	text := strings.Repeat(`{"level":"debug","msg":"reconciling","namespace":"soak","name":"soak-017"}`+"\n", 14000) + planted
	start := time.Now()
	leaks := l.Scan("logs", text)
	took := time.Since(start)
	if len(leaks) != 1 || leaks[0].Fingerprint != Fingerprint(planted) {
		t.Errorf("leaks %v, want the planted token", leaks)
	}
	if took > 2*time.Second {
		t.Errorf("one scan of %d bytes for %d secrets took %s", len(text), l.Secrets(), took)
	}
	t.Logf("%d bytes, %d secrets: %s", len(text), l.Secrets(), took)
}
