package voipbintest_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/voipbin/credential-operator/internal/voipbin/voipbintest"
)

const (
	user     = "admin@example.com"
	password = "correct horse"
)

// answer is a raw HTTP answer.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// call sends one request with a plain client (no jar, no redirects).
type call struct {
	method, path, body string
	query              url.Values
	cookies            map[string]string
	header             map[string]string
}

func send(t *testing.T, s *voipbintest.Server, c call) answer {
	t.Helper()
	u := s.URL() + c.path
	if len(c.query) > 0 {
		u += "?" + c.query.Encode()
	}
	if c.method == "" {
		c.method = http.MethodGet
	}
	req, err := http.NewRequest(c.method, u, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	for name, value := range c.cookies {
		req.AddCookie(&http.Cookie{Name: name, Value: value})
	}
	for name, value := range c.header {
		req.Header.Set(name, value)
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, body}
}

func login(t *testing.T, s *voipbintest.Server, username, pw string) answer {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"username": username, "password": pw})
	return send(t, s, call{method: http.MethodPost, path: "/auth/login", body: string(body),
		header: map[string]string{"Content-Type": "application/json"}})
}

func mustLogin(t *testing.T, s *voipbintest.Server) string {
	t.Helper()
	a := login(t, s, user, password)
	var out struct{ Token string }
	if a.status != http.StatusOK || json.Unmarshal(a.body, &out) != nil || out.Token == "" {
		t.Fatalf("login: %d %s", a.status, a.body)
	}
	return out.Token
}

// envelopeReason returns the error envelope's reason, failing unless the body
// is an envelope whose request_id matches X-Request-Id.
func envelopeReason(t *testing.T, a answer) string {
	t.Helper()
	var env struct {
		Error struct {
			Status, Reason, Message string
			RequestID               string `json:"request_id"`
			Details                 []any
		}
	}
	if err := json.Unmarshal(a.body, &env); err != nil || env.Error.Reason == "" || env.Error.Status == "" {
		t.Fatalf("not an error envelope: %d %q", a.status, a.body)
	}
	if env.Error.RequestID == "" || env.Error.RequestID != a.header.Get("X-Request-Id") {
		t.Errorf("request_id %q, X-Request-Id %q", env.Error.RequestID, a.header.Get("X-Request-Id"))
	}
	return env.Error.Reason
}

func newStandIn(t *testing.T, opts ...voipbintest.Option) *voipbintest.Server {
	t.Helper()
	s := voipbintest.NewServer(t, opts...)
	s.AddAgent(user, password, "")
	return s
}

func TestLoginFailuresAreABare400(t *testing.T) {
	t.Parallel()
	s := newStandIn(t)
	bodies := map[string]string{
		"wrong password":   `{"username":"admin@example.com","password":"wrong"}`,
		"unknown user":     `{"username":"nobody@example.com","password":"correct horse"}`,
		"malformed JSON":   `{"username":`,
		"missing password": `{"username":"admin@example.com"}`,
		"missing username": `{"password":"correct horse"}`,
		"empty fields":     `{"username":"","password":""}`,
		"empty body":       ``,
		"not an object":    `["admin@example.com","correct horse"]`,
	}
	for name, body := range bodies {
		a := send(t, s, call{method: http.MethodPost, path: "/auth/login", body: body,
			header: map[string]string{"Content-Type": "application/json"}})
		if a.status != http.StatusBadRequest || len(a.body) != 0 || a.header.Get("Content-Type") != "" {
			t.Errorf("%s: %d, content type %q, body %q; want a bare 400", name, a.status, a.header.Get("Content-Type"), a.body)
		}
	}
	if n := s.Count("/auth/login", http.StatusBadRequest); n != len(bodies) {
		t.Errorf("Count(400) = %d, want %d", n, len(bodies))
	}
}

func TestLoginIssuesAVoIPBINToken(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 9, 1, 12, 0, 0, 123456789, time.UTC)
	s := newStandIn(t, voipbintest.WithClock(func() time.Time { return now }))
	a := login(t, s, user, password)
	if a.status != http.StatusOK {
		t.Fatalf("login: %d %s", a.status, a.body)
	}
	var out map[string]string
	if err := json.Unmarshal(a.body, &out); err != nil || len(out) != 2 || out["username"] != user || out["token"] == "" {
		t.Fatalf("answer %s", a.body)
	}
	jwt := out["token"]
	var cookie *http.Cookie
	for _, c := range (&http.Response{Header: a.header}).Cookies() {
		if c.Name == "token" {
			cookie = c
		}
	}
	if cookie == nil || cookie.Value != jwt {
		t.Errorf("no token cookie with the JWT: %v", a.header.Values("Set-Cookie"))
	}

	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("JWT has %d parts", len(parts))
	}
	header, _ := base64.RawURLEncoding.DecodeString(parts[0])
	if string(header) != `{"alg":"HS256","typ":"JWT"}` {
		t.Errorf("JWT header %s", header)
	}
	if sig, err := base64.RawURLEncoding.DecodeString(parts[2]); err != nil || len(sig) != 32 {
		t.Errorf("signature: %d bytes, %v; want an HMAC-SHA256", len(sig), err)
	}
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]json.RawMessage
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatalf("claims %s: %v", payload, err)
	}
	keys := slices.Sorted(maps.Keys(claims))
	if !slices.Equal(keys, []string{"agent", "expire", "type"}) {
		t.Errorf("claims %v, want exactly agent, expire, type (no exp, iat, sub)", keys)
	}
	if string(claims["expire"]) != `"2026-09-08T12:00:00.123456Z"` || string(claims["type"]) != `"agent"` {
		t.Errorf("expire %s, type %s", claims["expire"], claims["type"])
	}
	var agent struct {
		ID         string `json:"id"`
		CustomerID string `json:"customer_id"`
		Username   string `json:"username"`
		Name       string `json:"name"`
		Permission int    `json:"permission"`
	}
	if err := json.Unmarshal(claims["agent"], &agent); err != nil || agent.ID == "" ||
		agent.CustomerID != s.DefaultCustomerID() || agent.Username != user || agent.Permission != 32 {
		t.Errorf("agent claim %s", claims["agent"])
	}
	if s.LoginCount(user) != 1 || s.TokenCount() != 1 {
		t.Errorf("LoginCount %d TokenCount %d", s.LoginCount(user), s.TokenCount())
	}
}

func TestExpireFormats(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		format voipbintest.ExpireFormat
		want   string // the claims after "type" and "agent"
	}{
		{voipbintest.ExpireCurrent, `"expire":"2026-09-01T13:00:00.000000Z"`},
		{voipbintest.ExpireLegacy, `"expire":"2026-09-01 13:00:00.000000"`},
		{voipbintest.ExpireNumericExp, `"exp":1788267600`},
		{voipbintest.ExpireNone, `}`},
	}
	for _, tc := range cases {
		s := newStandIn(t, voipbintest.WithClock(func() time.Time { return now }), voipbintest.WithTokenLifetime(time.Hour))
		s.SetExpireFormat(tc.format)
		payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(mustLogin(t, s), ".")[1])
		endsRight := strings.HasSuffix(string(payload), "},"+tc.want+"}") ||
			(tc.want == "}" && strings.HasSuffix(string(payload), "}}"))
		if !endsRight {
			t.Errorf("format %d: claims %s, want them to end with %s", tc.format, payload, tc.want)
		}
		if strings.Contains(string(payload), `"iat"`) || strings.Contains(string(payload), `"sub"`) {
			t.Errorf("format %d: claims %s hold iat or sub", tc.format, payload)
		}
	}
}

func TestCredentialPrecedence(t *testing.T) {
	t.Parallel()
	s := newStandIn(t)
	token := mustLogin(t, s)
	key := s.AddAccessKey(voipbintest.AccessKey{}).Key
	const stale = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.e30.c3RhbGU"
	const badKey = "vb_00000000000000000000000000000000"

	cases := []struct {
		name        string
		tokenCookie string
		tokenQuery  string
		auth        string
		keyCookie   string
		keyQuery    string
		wantStatus  int
		wantReason  string
		wantSource  voipbintest.CredentialSource
	}{
		{name: "nothing", wantStatus: 401, wantReason: "AUTHENTICATION_REQUIRED", wantSource: voipbintest.CredentialNone},
		{name: "token cookie", tokenCookie: token, wantStatus: 200, wantSource: voipbintest.CredentialTokenCookie},
		{name: "token query", tokenQuery: token, wantStatus: 200, wantSource: voipbintest.CredentialTokenQuery},
		{name: "bearer", auth: "Bearer " + token, wantStatus: 200, wantSource: voipbintest.CredentialBearer},
		{name: "accesskey cookie", keyCookie: key, wantStatus: 200, wantSource: voipbintest.CredentialAccessKeyCookie},
		{name: "accesskey query", keyQuery: key, wantStatus: 200, wantSource: voipbintest.CredentialAccessKeyQuery},
		{name: "stale token query beats a valid accesskey cookie", tokenQuery: stale, keyCookie: key,
			wantStatus: 401, wantReason: "INVALID_CREDENTIALS", wantSource: voipbintest.CredentialTokenQuery},
		{name: "stale token cookie beats a valid bearer", tokenCookie: stale, auth: "Bearer " + token,
			wantStatus: 401, wantReason: "INVALID_CREDENTIALS", wantSource: voipbintest.CredentialTokenCookie},
		{name: "stale bearer beats a valid accesskey query", auth: "Bearer " + stale, keyQuery: key,
			wantStatus: 401, wantReason: "INVALID_CREDENTIALS", wantSource: voipbintest.CredentialBearer},
		{name: "bad accesskey cookie beats a valid accesskey query", keyCookie: badKey, keyQuery: key,
			wantStatus: 401, wantReason: "INVALID_CREDENTIALS", wantSource: voipbintest.CredentialAccessKeyCookie},
		{name: "valid token query beats a bad accesskey cookie", tokenQuery: token, keyCookie: badKey,
			wantStatus: 200, wantSource: voipbintest.CredentialTokenQuery},
		{name: "empty token cookie is skipped", tokenCookie: "", keyCookie: key,
			wantStatus: 200, wantSource: voipbintest.CredentialAccessKeyCookie},
		{name: "lower-case bearer is not a credential", auth: "bearer " + token, keyCookie: key,
			wantStatus: 200, wantSource: voipbintest.CredentialAccessKeyCookie},
		{name: "empty bearer is skipped", auth: "Bearer ", keyQuery: key,
			wantStatus: 200, wantSource: voipbintest.CredentialAccessKeyQuery},
		{name: "a key as bearer is checked as a token", auth: "Bearer " + key,
			wantStatus: 401, wantReason: "INVALID_CREDENTIALS", wantSource: voipbintest.CredentialBearer},
	}
	for _, tc := range cases {
		s.Reset()
		c := call{path: "/v1.0/accesskeys", query: url.Values{}, cookies: map[string]string{}, header: map[string]string{}}
		if tc.tokenCookie != "" {
			c.cookies["token"] = tc.tokenCookie
		}
		if tc.name == "empty token cookie is skipped" {
			c.header["Cookie"] = "token=; accesskey=" + key
			delete(c.cookies, "accesskey")
		}
		if tc.tokenQuery != "" {
			c.query.Set("token", tc.tokenQuery)
		}
		if tc.auth != "" {
			c.header["Authorization"] = tc.auth
		}
		if tc.keyCookie != "" && tc.name != "empty token cookie is skipped" {
			c.cookies["accesskey"] = tc.keyCookie
		}
		if tc.keyQuery != "" {
			c.query.Set("accesskey", tc.keyQuery)
		}
		a := send(t, s, c)
		if a.status != tc.wantStatus {
			t.Errorf("%s: status %d, want %d (%s)", tc.name, a.status, tc.wantStatus, a.body)
			continue
		}
		if tc.wantReason != "" {
			if reason := envelopeReason(t, a); reason != tc.wantReason {
				t.Errorf("%s: reason %q, want %q", tc.name, reason, tc.wantReason)
			}
		}
		reqs := s.Requests()
		if len(reqs) != 1 || reqs[0].Credential != tc.wantSource {
			t.Errorf("%s: recorded %+v, want source %q", tc.name, reqs, tc.wantSource)
		}
		if tc.name == "empty token cookie is skipped" && !reqs[0].TokenCookie {
			t.Errorf("%s: the empty token cookie was not recorded as present", tc.name)
		}
	}
}

// listPage is a decoded page of GET /v1.0/accesskeys, kept raw per entry.
type listPage struct {
	Result        []map[string]json.RawMessage `json:"result"`
	NextPageToken string                       `json:"next_page_token"`
}

func list(t *testing.T, s *voipbintest.Server, key string, query url.Values) listPage {
	t.Helper()
	a := send(t, s, call{path: "/v1.0/accesskeys", query: query, cookies: map[string]string{"accesskey": key}})
	if a.status != http.StatusOK {
		t.Fatalf("list: %d %s", a.status, a.body)
	}
	var p listPage
	if err := json.Unmarshal(a.body, &p); err != nil {
		t.Fatalf("list body: %v", err)
	}
	return p
}

func str(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("%s is not a string", raw)
	}
	return s
}

func TestListAccessKeys(t *testing.T) {
	t.Parallel()
	s := newStandIn(t)
	oldest := s.AddAccessKey(voipbintest.AccessKey{Name: "oldest", Detail: "with detail"})
	expired := s.AddAccessKey(voipbintest.AccessKey{Name: "expired", Expire: time.Now().Add(-time.Hour)})
	deleted := s.AddAccessKey(voipbintest.AccessKey{Name: "deleted"})
	s.DeleteAccessKey(deleted.ID)
	s.AddAccessKeys(247, "")
	other := s.AddAccessKey(voipbintest.AccessKey{CustomerID: "00000000-0000-4000-8000-000000000001", Name: "other customer"})
	newest := s.AddAccessKey(voipbintest.AccessKey{Name: "newest"})
	// Live keys of the default customer: oldest, expired, 247, newest = 250.

	var all []map[string]json.RawMessage
	token := ""
	for page := 1; page <= 3; page++ {
		q := url.Values{}
		if token != "" {
			q.Set("page_token", token)
		}
		p := list(t, s, newest.Key, q)
		want := 100
		if page == 3 {
			want = 50
		}
		if len(p.Result) != want {
			t.Fatalf("page %d: %d entries, want %d", page, len(p.Result), want)
		}
		last := str(t, p.Result[len(p.Result)-1]["tm_create"])
		if p.NextPageToken == "" || p.NextPageToken != last {
			t.Errorf("page %d: next_page_token %q, want the last tm_create %q (not empty, even on the last page)", page, p.NextPageToken, last)
		}
		all = append(all, p.Result...)
		token = p.NextPageToken
	}
	if p := list(t, s, newest.Key, url.Values{"page_token": {token}}); len(p.Result) != 0 || p.NextPageToken != "" {
		t.Errorf("past the end: %d entries, token %q", len(p.Result), p.NextPageToken)
	}

	var prev time.Time
	ids := map[string]bool{}
	for i, e := range all {
		created, err := time.Parse(time.RFC3339Nano, str(t, e["tm_create"]))
		if err != nil {
			t.Fatalf("entry %d tm_create: %v", i, err)
		}
		if i > 0 && !created.Before(prev) {
			t.Errorf("entry %d not older than the one before", i)
		}
		prev = created
		ids[str(t, e["id"])] = true
		if _, ok := e["token"]; ok {
			t.Errorf("entry %d holds the key itself", i)
		}
		if string(e["tm_delete"]) != "null" {
			t.Errorf("entry %d tm_delete %s, want null", i, e["tm_delete"])
		}
		for _, field := range []string{"id", "customer_id", "token_prefix", "tm_expire", "tm_create", "tm_update"} {
			if _, ok := e[field]; !ok {
				t.Errorf("entry %d has no %s", i, field)
			}
		}
	}
	if str(t, all[0]["id"]) != newest.ID || str(t, all[len(all)-1]["id"]) != oldest.ID {
		t.Errorf("not newest first")
	}
	if !ids[expired.ID] || ids[deleted.ID] || ids[other.ID] || len(ids) != 250 {
		t.Errorf("expired listed %v, deleted listed %v, other customer listed %v, %d keys", ids[expired.ID], ids[deleted.ID], ids[other.ID], len(ids))
	}
	last := all[len(all)-1]
	if str(t, last["detail"]) != "with detail" || str(t, last["token_prefix"]) != oldest.Key[:11] {
		t.Errorf("oldest entry: %v", last)
	}
	if _, ok := all[0]["detail"]; ok {
		t.Errorf("an empty detail is not omitted")
	}

	for _, tc := range []struct {
		size string
		want int
	}{{"10", 10}, {"100", 100}, {"500", 100}, {"0", 100}} {
		if p := list(t, s, newest.Key, url.Values{"page_size": {tc.size}}); len(p.Result) != tc.want {
			t.Errorf("page_size=%s: %d entries, want %d", tc.size, len(p.Result), tc.want)
		}
	}
	a := send(t, s, call{path: "/v1.0/accesskeys", query: url.Values{"page_token": {"yesterday"}}, cookies: map[string]string{"accesskey": newest.Key}})
	if a.status != http.StatusBadRequest || envelopeReason(t, a) != "INVALID_ARGUMENT" {
		t.Errorf("bad page_token: %d %s", a.status, a.body)
	}
}

// TestAccessKeyCreateTimesAreDistinct pins what TestListAccessKeys needs
// without depending on the machine's speed: a clock that advances 300ns a
// call puts several keys in one microsecond, and asked Create times collide
// on purpose. Every key still gets its own tm_create (the real server orders
// and pages by it), and generated ones increase strictly.
func TestAccessKeyCreateTimesAreDistinct(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	clock := time.Date(2026, 9, 1, 12, 0, 0, 700, time.UTC)
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(300 * time.Nanosecond)
		return clock
	}
	s := newStandIn(t, voipbintest.WithClock(now))
	asked := time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)
	var generated []voipbintest.AccessKey
	for i := 0; i < 500; i++ {
		generated = append(generated, s.AddAccessKey(voipbintest.AccessKey{}))
		s.AddAccessKey(voipbintest.AccessKey{Create: asked})
	}
	generated = append(generated, s.AddAccessKeys(500, "")...)

	seen := map[time.Time]string{}
	for _, k := range s.AccessKeys() {
		if !k.Create.Equal(k.Create.Truncate(time.Microsecond)) {
			t.Errorf("key %s: tm_create %v is finer than a microsecond", k.ID, k.Create)
		}
		if other, ok := seen[k.Create]; ok {
			t.Fatalf("keys %s and %s share tm_create %v", other, k.ID, k.Create)
		}
		seen[k.Create] = k.ID
	}
	for i := 1; i < len(generated); i++ {
		if !generated[i].Create.After(generated[i-1].Create) {
			t.Fatalf("generated key %d: tm_create %v not after %v", i, generated[i].Create, generated[i-1].Create)
		}
	}
}

func TestExpiredDeletedAndUnknownCredentials(t *testing.T) {
	t.Parallel()
	clock := time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	s := newStandIn(t, voipbintest.WithClock(now), voipbintest.WithTokenLifetime(10*time.Second))
	token := mustLogin(t, s)
	expiring := s.AddAccessKey(voipbintest.AccessKey{Expire: clock.Add(10 * time.Second)})
	deleted := s.AddAccessKey(voipbintest.AccessKey{})
	s.DeleteAccessKey(deleted.ID)

	check := func(name string, c call, want int) {
		t.Helper()
		c.path = "/v1.0/accesskeys"
		a := send(t, s, c)
		if a.status != want {
			t.Errorf("%s: %d, want %d", name, a.status, want)
		}
		if want == http.StatusUnauthorized && envelopeReason(t, a) != "INVALID_CREDENTIALS" {
			t.Errorf("%s: wrong reason", name)
		}
	}
	check("fresh token", call{header: map[string]string{"Authorization": "Bearer " + token}}, 200)
	check("fresh key", call{cookies: map[string]string{"accesskey": expiring.Key}}, 200)
	check("deleted key", call{cookies: map[string]string{"accesskey": deleted.Key}}, 401)
	check("unknown key", call{cookies: map[string]string{"accesskey": voipbintest.NewAccessKeySecret()}}, 401)
	check("forged token", call{header: map[string]string{"Authorization": "Bearer " + token[:len(token)-2] + "AA"}}, 401)

	mu.Lock()
	clock = clock.Add(10 * time.Second)
	mu.Unlock()
	check("token at its expiry", call{header: map[string]string{"Authorization": "Bearer " + token}}, 401)
	check("key at its expiry", call{cookies: map[string]string{"accesskey": expiring.Key}}, 401)
}

func TestDisabledCustomers(t *testing.T) {
	t.Parallel()
	for _, reason := range []string{voipbintest.ReasonAccountExpired, voipbintest.ReasonAccountDeleted, voipbintest.ReasonAccountFrozen} {
		s := newStandIn(t)
		token := mustLogin(t, s)
		key := s.AddAccessKey(voipbintest.AccessKey{}).Key
		s.SetCustomerStatus(s.DefaultCustomerID(), reason)

		a := login(t, s, user, password)
		if reason == voipbintest.ReasonAccountFrozen {
			if a.status != http.StatusOK {
				t.Errorf("%s: login %d, want 200 (only expired or deleted customers are refused at login)", reason, a.status)
			}
		} else if a.status != http.StatusForbidden || envelopeReason(t, a) != reason {
			t.Errorf("%s: login %d %s, want 403 with the reason", reason, a.status, a.body)
		}
		for _, c := range []call{
			{path: "/v1.0/accesskeys", cookies: map[string]string{"token": token}},
			{path: "/v1.0/accesskeys", cookies: map[string]string{"accesskey": key}},
		} {
			if a := send(t, s, c); a.status != http.StatusForbidden || envelopeReason(t, a) != reason {
				t.Errorf("%s: API call %d %s, want 403 with the reason", reason, a.status, a.body)
			}
		}
		if login(t, s, user, "wrong").status != http.StatusBadRequest {
			t.Errorf("%s: a wrong password must still be the bare 400", reason)
		}
		s.SetCustomerStatus(s.DefaultCustomerID(), "")
		if a := send(t, s, call{path: "/v1.0/accesskeys", cookies: map[string]string{"accesskey": key}}); a.status != http.StatusOK {
			t.Errorf("%s: re-enabled customer: %d", reason, a.status)
		}
	}
}

func TestRateLimits(t *testing.T) {
	t.Parallel()
	s := newStandIn(t)
	key := s.AddAccessKey(voipbintest.AccessKey{}).Key

	burst := func(n int, c call) []answer {
		answers := make([]answer, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { answers[i] = send(t, s, c) })
		}
		wg.Wait()
		return answers
	}
	loginCall := call{method: http.MethodPost, path: "/auth/login", body: `{"username":"x","password":"y"}`}
	burst(30, loginCall)
	if n := s.CountStatus(http.StatusTooManyRequests); n != 0 {
		t.Fatalf("limits off: %d answers 429", n)
	}

	s.EnableRateLimits(true)
	s.Reset()
	answers := burst(30, loginCall) // /auth/*: burst 20 per IP
	// At most 10 (burst 20 of 30); fewer when the bucket refilled meanwhile.
	if n := s.Count("/auth/login", http.StatusTooManyRequests); n < 1 || n > 10 {
		t.Errorf("30 logins at once: %d answers 429, want 1 to 10", n)
	}
	for _, a := range answers {
		if a.status != http.StatusTooManyRequests {
			continue
		}
		if reason := envelopeReason(t, a); reason != "RATE_LIMIT_EXCEEDED" {
			t.Errorf("429 reason %q", reason)
		}
		if secs, err := strconv.Atoi(a.header.Get("Retry-After")); err != nil || secs < 1 {
			t.Errorf("Retry-After %q, want whole seconds >= 1", a.header.Get("Retry-After"))
		}
	}

	s.Reset()
	burst(45, call{path: "/v1.0/accesskeys", cookies: map[string]string{"accesskey": key}}) // per customer: burst 33
	if n := s.Count("/v1.0/accesskeys", http.StatusTooManyRequests); n < 1 || n > 12 {
		t.Errorf("45 calls of one customer at once: %d answers 429, want 1 to 12", n)
	}
	if n := s.Count("/ping", http.StatusTooManyRequests); n != 0 {
		t.Errorf("/ping limited")
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	s := newStandIn(t)
	s.InjectFault("/ping", voipbintest.Fault{Status: http.StatusServiceUnavailable, RetryAfter: "9", Count: 2})
	s.InjectFault("/ping", voipbintest.Fault{Status: http.StatusTooManyRequests, EmptyBody: true})
	s.InjectFault("/ping", voipbintest.Fault{Garbage: true})
	s.InjectFault("/ping", voipbintest.Fault{Oversized: true})
	s.InjectFault("/ping", voipbintest.Fault{Redirect: "/elsewhere"})
	s.InjectFault("/ping", voipbintest.Fault{Hang: 50 * time.Millisecond})

	for i := range 2 {
		a := send(t, s, call{path: "/ping"})
		if a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") != "9" || envelopeReason(t, a) == "" {
			t.Errorf("fault 1, request %d: %d %q", i, a.status, a.header.Get("Retry-After"))
		}
	}
	if a := send(t, s, call{path: "/ping"}); a.status != http.StatusTooManyRequests || len(a.body) != 0 {
		t.Errorf("fault 2: %d %q", a.status, a.body)
	}
	if a := send(t, s, call{path: "/ping"}); a.status != http.StatusOK || json.Valid(a.body) {
		t.Errorf("garbage: %d %q", a.status, a.body)
	}
	if a := send(t, s, call{path: "/ping"}); a.status != http.StatusOK || len(a.body) <= 1<<20 {
		t.Errorf("oversized: %d, %d bytes", a.status, len(a.body))
	}
	if a := send(t, s, call{path: "/ping"}); a.status != http.StatusFound || a.header.Get("Location") != "/elsewhere" {
		t.Errorf("redirect: %d %q", a.status, a.header.Get("Location"))
	}
	start := time.Now()
	if a := send(t, s, call{path: "/ping"}); a.status != http.StatusOK || string(a.body) != `{"message":"pong"}` || time.Since(start) < 50*time.Millisecond {
		t.Errorf("hang then normal: %d %s after %v", a.status, a.body, time.Since(start))
	}
	if a := send(t, s, call{path: "/ping"}); a.status != http.StatusOK {
		t.Errorf("after the faults: %d", a.status)
	}
	var faults []string
	for _, r := range s.RequestsTo("/ping") {
		faults = append(faults, r.Fault)
	}
	if want := []string{"status", "status", "status", "garbage", "oversized", "redirect", "hang", ""}; !slices.Equal(faults, want) {
		t.Errorf("recorded faults %q, want %q", faults, want)
	}
	if n := s.Hits("/elsewhere"); n != 0 {
		t.Errorf("the redirect target was hit")
	}

	// Reset: no answer at all.
	s.InjectFault("/ping", voipbintest.Fault{Reset: true})
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}} // a reused connection would be retried
	if resp, err := fresh.Get(s.URL() + "/ping"); err == nil {
		_ = resp.Body.Close()
		t.Errorf("reset: got an answer %d", resp.StatusCode)
	}
	// A hang ends when the client gives up; nothing is answered.
	s.InjectFault("/ping", voipbintest.Fault{Hang: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"/ping", nil)
	if resp, err := fresh.Do(req); err == nil {
		_ = resp.Body.Close()
		t.Errorf("hang: got an answer %d", resp.StatusCode)
	}

	// Down until cleared.
	s.SetDown("/v1.0/accesskeys", http.StatusBadGateway)
	for range 3 {
		if a := send(t, s, call{path: "/v1.0/accesskeys"}); a.status != http.StatusBadGateway {
			t.Errorf("down: %d", a.status)
		}
	}
	s.SetDown("/v1.0/accesskeys", 0)
	if a := send(t, s, call{path: "/v1.0/accesskeys"}); a.status != http.StatusUnauthorized {
		t.Errorf("after down: %d", a.status)
	}
}

func TestOtherEndpoints(t *testing.T) {
	t.Parallel()
	s := newStandIn(t)
	token := mustLogin(t, s)
	auth := map[string]string{"Authorization": "Bearer " + token}

	if a := send(t, s, call{path: "/ping"}); a.status != http.StatusOK || string(a.body) != `{"message":"pong"}` {
		t.Errorf("ping: %d %s", a.status, a.body)
	}
	a := send(t, s, call{method: http.MethodPost, path: "/v1.0/accesskeys", header: auth, body: `{"name":"ci","expire":3600}`})
	if a.status != http.StatusBadRequest || envelopeReason(t, a) != "INVALID_ARGUMENT" {
		t.Errorf("create with expire < 1 day: %d %s", a.status, a.body)
	}
	a = send(t, s, call{method: http.MethodPost, path: "/v1.0/accesskeys", header: auth, body: `{"name":"ci","detail":"d","expire":86400}`})
	var created map[string]any
	if a.status != http.StatusOK || json.Unmarshal(a.body, &created) != nil {
		t.Fatalf("create: %d %s", a.status, a.body)
	}
	key, _ := created["token"].(string)
	id, _ := created["id"].(string)
	if !strings.HasPrefix(key, "vb_") || len(key) != 35 || created["token_prefix"] != key[:11] {
		t.Errorf("created %v", created)
	}
	a = send(t, s, call{path: "/v1.0/accesskeys/" + id, cookies: map[string]string{"accesskey": key}})
	if a.status != http.StatusOK || strings.Contains(string(a.body), key) {
		t.Errorf("get by id: %d, key shown: %v", a.status, strings.Contains(string(a.body), key))
	}
	if a := send(t, s, call{path: "/v1.0/accesskeys/not-a-uuid", header: auth}); a.status != http.StatusBadRequest {
		t.Errorf("non-UUID id: %d", a.status)
	}
	if a := send(t, s, call{path: "/v1.0/accesskeys/00000000-0000-4000-8000-000000000000", header: auth}); a.status != http.StatusNotFound {
		t.Errorf("unknown id: %d", a.status)
	}
	if a := send(t, s, call{method: http.MethodDelete, path: "/v1.0/accesskeys/" + id, header: auth}); a.status != http.StatusOK {
		t.Errorf("delete: %d", a.status)
	}
	if a := send(t, s, call{path: "/v1.0/accesskeys/" + id, header: auth}); a.status != http.StatusConflict {
		t.Errorf("get deleted: %d", a.status)
	}
	if a := send(t, s, call{path: "/v1.0/accesskeys", cookies: map[string]string{"accesskey": key}}); a.status != http.StatusUnauthorized {
		t.Errorf("deleted key still authenticates: %d", a.status)
	}

	// A lost answer: the key is created, the connection reset, the listing
	// (another method) passes the fault by.
	s.InjectFault("/v1.0/accesskeys", voipbintest.Fault{LoseAnswer: true, Method: http.MethodPost})
	if a := send(t, s, call{path: "/v1.0/accesskeys", header: auth}); a.status != http.StatusOK {
		t.Errorf("listing with a create fault queued: %d", a.status)
	}
	before := len(s.AccessKeys())
	req, _ := http.NewRequest(http.MethodPost, s.URL()+"/v1.0/accesskeys", strings.NewReader(`{"name":"lost","expire":86400}`))
	req.Header.Set("Authorization", "Bearer "+token)
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if resp, err := fresh.Do(req); err == nil {
		_ = resp.Body.Close()
		t.Errorf("lost answer: got an answer %d", resp.StatusCode)
	}
	if keys := s.AccessKeys(); len(keys) != before+1 || keys[len(keys)-1].Name != "lost" || !keys[len(keys)-1].Delete.IsZero() {
		t.Errorf("lost answer: the key was not created (%d keys, %d before)", len(keys), before)
	}
}
