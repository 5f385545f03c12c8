package voipbin_test

import (
	"strings"
	"testing"
	"time"

	"github.com/voipbin/credential-operator/internal/voipbin"
)

// FuzzParseTokenExpiry: any input gives a UTC expiry in whole seconds and a
// known source, never a panic; the assumed expiry is exactly 7 days after the
// answer.
func FuzzParseTokenExpiry(f *testing.F) {
	for _, claims := range []string{
		`{"type":"agent","agent":{"id":"a","customer_id":"c","username":"u","name":"n","permission":32},"expire":"2026-09-08T12:00:00.000000Z"}`,
		`{"expire":"2026-09-08 12:00:00.000000"}`,
		`{"exp":1788868800}`,
		`{"exp":1e400}`,
		`{"exp":-1,"expire":null}`,
		`{"expire":"9999-12-31T23:59:59.999999Z"}`,
		`{"expire":"0000-01-01 00:00:00"}`,
		`{}`,
		`[]`,
	} {
		f.Add(jwtWith(claims), int64(1788264000))
	}
	f.Add("", int64(0))
	f.Add("a.b.c", int64(-62135596800))
	f.Add("..", int64(253402300799))
	f.Add(strings.Repeat(".", 10), int64(1))

	f.Fuzz(func(t *testing.T, jwt string, answeredUnix int64) {
		answered := time.Unix(answeredUnix%(1<<40), 0)
		got, source := voipbin.ParseTokenExpiry(jwt, answered)
		if got.Location() != time.UTC || got.Nanosecond() != 0 {
			t.Fatalf("expiry %v is not UTC whole seconds", got)
		}
		switch source {
		case voipbin.ExpiryFromExpire, voipbin.ExpiryFromExp:
		case voipbin.ExpiryAssumed:
			if want := answered.Add(voipbin.DefaultTokenLifetime).UTC().Truncate(time.Second); !got.Equal(want) {
				t.Fatalf("assumed expiry %v, want %v", got, want)
			}
		default:
			t.Fatalf("unknown source %q", source)
		}
	})
}

// FuzzDecodeAccessKeyPage: any body decodes or fails cleanly, never a panic;
// a decoded page has UTC times and never more than the body could hold.
func FuzzDecodeAccessKeyPage(f *testing.F) {
	f.Add([]byte(`{"result":[{"id":"0f7d","customer_id":"c","name":"ci","token_prefix":"vb_AbCdEfGh","tm_expire":"2027-01-01T00:00:00Z","tm_create":"2026-01-01T00:00:00.123456Z","tm_update":"2026-01-01T00:00:00.1Z","tm_delete":null}],"next_page_token":"2026-01-01T00:00:00.123456Z"}`))
	f.Add([]byte(`{"result":null,"next_page_token":""}`))
	f.Add([]byte(`{"result":[]}`))
	f.Add([]byte(`{"result":[{}],"next_page_token":null}`))
	f.Add([]byte(`{"result":[{"tm_expire":"2026-01-01T00:00:00+14:00"}]}`))
	f.Add([]byte(`{"result":[{"tm_create":"not a time"}]}`))
	f.Add([]byte(`{"error":{"status":"UNAUTHENTICATED","reason":"INVALID_CREDENTIALS"}}`))
	f.Add([]byte(`<html>`))
	f.Add([]byte(``))

	f.Fuzz(func(t *testing.T, body []byte) {
		page, err := voipbin.DecodeAccessKeyPage(body)
		if err != nil {
			if len(page.Result) != 0 || page.NextPageToken != "" {
				t.Fatalf("error %v with a non-empty page", err)
			}
			return
		}
		if len(page.Result) > len(body)/2 {
			t.Fatalf("%d entries from %d bytes", len(page.Result), len(body))
		}
		for _, e := range page.Result {
			for _, ts := range []time.Time{e.TMExpire, e.TMCreate, e.TMUpdate, e.TMDelete} {
				if !ts.IsZero() && ts.Location() != time.UTC {
					t.Fatalf("time %v is not UTC", ts)
				}
			}
		}
	})
}
