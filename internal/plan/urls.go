package plan

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// AllowedURLs is the --allowed-api-urls list: URL prefixes the operator may send
// credentials to, so that a VoipbinCredential cannot send a password to a host of
// its author's choosing.
type AllowedURLs []string

// ParseAllowedURLs parses a comma-separated list of http(s) URL prefixes.
func ParseAllowedURLs(list string) (AllowedURLs, error) {
	var allowed AllowedURLs
	for i, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		normal, err := NormalizeAPIURL(item)
		if err != nil {
			// The item is not quoted: it may hold a password in its user info.
			return nil, fmt.Errorf("allowed API URL #%d: must be an http:// or https:// URL with a host "+
				"and no user info, query or fragment", i+1)
		}
		allowed = append(allowed, normal)
	}
	if len(allowed) == 0 {
		return nil, fmt.Errorf("no allowed API URL")
	}
	return allowed, nil
}

// Allows reports whether apiURL, once normalised, is one of the prefixes or below
// one of them at a path boundary: "https://api.voipbin.net" allows
// "https://api.voipbin.net/" and "https://api.voipbin.net/v2", never
// "https://api.voipbin.net.example.com", and "https://gw/tenant-a" never allows
// "https://gw/tenant-a/../tenant-b" (nor its %2e%2e spelling).
func (a AllowedURLs) Allows(apiURL string) bool {
	normal, err := NormalizeAPIURL(apiURL)
	if err != nil {
		return false
	}
	for _, prefix := range a {
		p := strings.TrimSuffix(prefix, "/")
		if normal == p || strings.HasPrefix(normal, p+"/") {
			return true
		}
	}
	return false
}

// errBadAPIURL is any apiURL that is not an absolute http(s) URL with a host and
// nothing but a path. It does not quote the URL, which may hold user info.
var errBadAPIURL = errors.New("the API URL must be an http:// or https:// URL with a host and no user info, query or fragment")

// NormalizeAPIURL returns apiURL as requests are sent to it: percent-encoded dots
// decoded, dot segments removed (RFC 3986, section 5.2.4), no trailing slash. The
// allow-list is matched against this form and requests go to it, so a path cannot
// walk out of an allowed prefix.
func NormalizeAPIURL(apiURL string) (string, error) {
	u, err := url.Parse(apiURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" ||
		u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(apiURL, "#") {
		return "", errBadAPIURL
	}
	escaped := decodeDots(u.EscapedPath())
	escaped = strings.TrimSuffix(removeDotSegments(escaped), "/")
	path, err := url.PathUnescape(escaped)
	if err != nil {
		return "", errBadAPIURL
	}
	u.Path, u.RawPath = path, escaped
	u.Scheme, u.Host = strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	return u.String(), nil
}

// decodeDots decodes %2e and %2E, the percent-encoded dot, in an escaped path.
func decodeDots(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '%' && i+2 < len(p) && p[i+1] == '2' && (p[i+2] == 'e' || p[i+2] == 'E') {
			b.WriteByte('.')
			i += 2
			continue
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

// removeDotSegments is RFC 3986's remove_dot_segments for an absolute path.
func removeDotSegments(p string) string {
	var out []string
	segments := strings.Split(p, "/")
	for i, s := range segments {
		last := i == len(segments)-1
		switch s {
		case ".":
			if last {
				out = append(out, "")
			}
		case "..":
			if len(out) > 1 {
				out = out[:len(out)-1]
			}
			if last {
				out = append(out, "")
			}
		default:
			out = append(out, s)
		}
	}
	r := strings.Join(out, "/")
	if r != "" && !strings.HasPrefix(r, "/") {
		r = "/" + r
	}
	return r
}
