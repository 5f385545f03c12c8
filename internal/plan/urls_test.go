package plan

import (
	"slices"
	"strings"
	"testing"
)

func TestParseAllowedURLs(t *testing.T) {
	tests := []struct {
		name    string
		list    string
		want    AllowedURLs
		wantErr bool
	}{
		{name: "the default", list: "https://api.voipbin.net", want: AllowedURLs{"https://api.voipbin.net"}},
		{name: "two, with spaces", list: "https://api.voipbin.net, http://voipbin-stand-in.test:8080",
			want: AllowedURLs{"https://api.voipbin.net", "http://voipbin-stand-in.test:8080"}},
		{name: "empty items are skipped", list: " ,https://a.example.com/,, https://b.example.com/voipbin ,",
			want: AllowedURLs{"https://a.example.com", "https://b.example.com/voipbin"}},
		{name: "with a path", list: "https://gw.example.com/voipbin/",
			want: AllowedURLs{"https://gw.example.com/voipbin"}},
		{name: "IP and port", list: "http://127.0.0.1:8080", want: AllowedURLs{"http://127.0.0.1:8080"}},
		{name: "empty list", list: "", wantErr: true},
		{name: "only separators and blanks", list: " , ,,", wantErr: true},
		{name: "no scheme", list: "api.voipbin.net", wantErr: true},
		{name: "scheme-relative", list: "//api.voipbin.net", wantErr: true},
		{name: "ftp scheme", list: "ftp://api.voipbin.net", wantErr: true},
		{name: "file scheme", list: "file:///etc/passwd", wantErr: true},
		{name: "javascript scheme", list: "javascript:alert(1)", wantErr: true},
		{name: "no host", list: "https://", wantErr: true},
		{name: "no host, path only", list: "https:///v1", wantErr: true},
		{name: "user info", list: "https://admin@api.voipbin.net", wantErr: true},
		{name: "user info with password", list: "https://admin:pw@api.voipbin.net", wantErr: true},
		{name: "query", list: "https://api.voipbin.net/?tenant=1", wantErr: true},
		{name: "fragment", list: "https://api.voipbin.net/#x", wantErr: true},
		{name: "unparseable", list: "https://api.voipbin.net:port", wantErr: true},
		{name: "one bad item fails the list", list: "https://api.voipbin.net,ftp://files.example.com", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAllowedURLs(tt.list)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseAllowedURLs(%q) = %q, want an error", tt.list, got)
				}
				if got != nil {
					t.Errorf("ParseAllowedURLs(%q) returned %q with its error", tt.list, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseAllowedURLs(%q): %v", tt.list, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("ParseAllowedURLs(%q) = %q, want %q", tt.list, got, tt.want)
			}
		})
	}
}

// TestParseAllowedURLsErrorHidesPassword: the error is logged at startup, and
// URLs with credentials are never printed.
func TestParseAllowedURLsErrorHidesPassword(t *testing.T) {
	const password = "s3cr3t-Pa55word"
	for _, list := range []string{
		"https://admin:" + password + "@api.voipbin.net",
		"https://api.voipbin.net,http://admin:" + password + "@localhost:8080",
	} {
		_, err := ParseAllowedURLs(list)
		if err == nil {
			t.Fatalf("ParseAllowedURLs accepted a URL with user info")
		}
		if strings.Contains(err.Error(), password) {
			t.Errorf("the error for a URL with user info prints the password: %q", err.Error())
		}
	}
}

func TestAllows(t *testing.T) {
	voipbin := AllowedURLs{"https://api.voipbin.net"}
	withSlash := AllowedURLs{"https://api.voipbin.net/"}
	withPath := AllowedURLs{"https://gw.example.com/voipbin"}
	local := AllowedURLs{"http://localhost:8080"}
	several := AllowedURLs{"https://api.voipbin.net", "http://localhost:8080"}
	tenantA := AllowedURLs{"https://gw.example/tenant-a"}
	tests := []struct {
		name    string
		allowed AllowedURLs
		apiURL  string
		want    bool
	}{
		{"exact", voipbin, "https://api.voipbin.net", true},
		{"trailing slash", voipbin, "https://api.voipbin.net/", true},
		{"sub-path", voipbin, "https://api.voipbin.net/v1.0", true},
		{"deeper sub-path", voipbin, "https://api.voipbin.net/a/b/", true},
		{"host suffix attack", voipbin, "https://api.voipbin.net.evil.com", false},
		{"host suffix attack with a path", voipbin, "https://api.voipbin.net.evil.com/v1.0", false},
		{"host with a dash appended", voipbin, "https://api.voipbin.net-evil.com", false},
		{"user info attack", voipbin, "https://api.voipbin.net@evil.com", false},
		{"user info attack with a path", voipbin, "https://api.voipbin.net@evil.com/", false},
		{"other port", voipbin, "https://api.voipbin.net:8443", false},
		{"http is not https", voipbin, "http://api.voipbin.net", false},
		{"http is not https, sub-path", voipbin, "http://api.voipbin.net/v1.0", false},
		{"other host", voipbin, "https://evil.com", false},
		{"allowed URL inside the path of another host", voipbin, "https://evil.com/https://api.voipbin.net", false},
		{"query on the host", voipbin, "https://api.voipbin.net?x=@evil.com", false},
		{"empty", voipbin, "", false},
		{"allowed with slash: exact without", withSlash, "https://api.voipbin.net", true},
		{"allowed with slash: with", withSlash, "https://api.voipbin.net/", true},
		{"allowed with slash: sub-path", withSlash, "https://api.voipbin.net/v1.0", true},
		{"allowed with slash: suffix attack", withSlash, "https://api.voipbin.net.evil.com", false},
		{"path prefix: exact", withPath, "https://gw.example.com/voipbin", true},
		{"path prefix: below", withPath, "https://gw.example.com/voipbin/v1.0", true},
		{"path prefix: not at a path boundary", withPath, "https://gw.example.com/voipbinevil", false},
		{"path prefix: the host alone", withPath, "https://gw.example.com", false},
		{"path prefix: a sibling", withPath, "https://gw.example.com/other", false},
		{"http with port: exact", local, "http://localhost:8080", true},
		{"http with port: https", local, "https://localhost:8080", false},
		{"http with port: longer port", local, "http://localhost:80801", false},
		{"several: first", several, "https://api.voipbin.net/v1.0", true},
		{"several: second", several, "http://localhost:8080/", true},
		{"several: neither", several, "http://api.voipbin.net", false},
		{"nothing allowed", AllowedURLs{}, "https://api.voipbin.net", false},
		{"nil list", nil, "https://api.voipbin.net", false},
		{"dot segments walk out of a path prefix", tenantA, "https://gw.example/tenant-a/../tenant-b", false},
		{"encoded dots walk out", tenantA, "https://gw.example/tenant-a/%2e%2e/tenant-b", false},
		{"upper-case encoded dots walk out", tenantA, "https://gw.example/tenant-a/%2E%2E/tenant-b", false},
		{"mixed dots walk out", tenantA, "https://gw.example/tenant-a/.%2e/tenant-b", false},
		{"dot segments that stay inside", tenantA, "https://gw.example/tenant-a/x/../v1", true},
		{"a single dot segment", tenantA, "https://gw.example/tenant-a/./v1", true},
		{"dots above the root", tenantA, "https://gw.example/../../tenant-a", true},
		{"a name with dots is no segment", tenantA, "https://gw.example/tenant-a/..x", true},
		{"upper-case host", voipbin, "https://API.voipbin.net/v1.0", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.allowed.Allows(tt.apiURL); got != tt.want {
				t.Errorf("%q.Allows(%q) = %t, want %t", tt.allowed, tt.apiURL, got, tt.want)
			}
		})
	}
}

func TestNormalizeAPIURL(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"https://api.voipbin.net", "https://api.voipbin.net"},
		{"https://api.voipbin.net/", "https://api.voipbin.net"},
		{"https://gw.example/tenant-a/../tenant-b", "https://gw.example/tenant-b"},
		{"https://gw.example/tenant-a/%2e%2e/tenant-b", "https://gw.example/tenant-b"},
		{"https://gw.example/a/./b/.", "https://gw.example/a/b"},
		{"https://gw.example/a/b/..", "https://gw.example/a"},
		{"http://localhost:8080/x%2Fy", "http://localhost:8080/x%2Fy"},
		{"HTTPS://Gw.Example/A", "https://gw.example/A"},
	} {
		got, err := NormalizeAPIURL(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("NormalizeAPIURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "ftp://x", "https://u:p@x", "https://x?q=1", "https://x#f", "/relative", "https://"} {
		if got, err := NormalizeAPIURL(bad); err == nil {
			t.Errorf("NormalizeAPIURL(%q) = %q, want an error", bad, got)
		}
	}
}
