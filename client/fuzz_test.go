package client

import (
	"github.com/geofence/geofence/wire"
	"net/http"
	"testing"
	"time"
)

// FuzzParseAnswers feeds arbitrary answers to the parsers of the directory's join answer and
// refusals and of the DC agents' connect answers: they must never panic, and a parsed join
// answer must be safe to compare with a ticket.
func FuzzParseAnswers(f *testing.F) {
	for _, seed := range []struct {
		status int
		body   string
	}{
		{200, `{"meeting":"m-1","region":"na","home":"us-sjc","primary":[{"id":"us-sjc","country":"US","endpoint":"http://127.0.0.1:1"}],"secondary":[],"kms":[],"expires":"2026-05-01T12:00:00Z","token":"a.b.c"}`},
		{200, `{"token":"a.b.c","primary":null,"expires":"yesterday"}`},
		{200, `{"datacenter":"us-sjc","participant":"alice","session":"s"}`},
		{403, `{"error":"residency_conflict","message":"no","rules":["nothing-else-enters-china"]}`},
		{403, `{"error":"not_listed","message":"no","rule":""}`},
		{503, `{"error":"no_capacity","retry_after":1e308}`},
		{503, `{"error":"no_capacity","retry_after":-5}`},
		{401, `{"error":"invalid_ticket"}`},
		{502, `<html>`},
		{200, ``},
	} {
		f.Add(seed.status, []byte(seed.body))
	}
	claims := wire.Claims{Meeting: "m-1", Account: "a", Region: "na", Home: "us-sjc",
		Primary: []wire.DC{{ID: "us-sjc", Country: "US", Endpoint: "http://127.0.0.1:1"}}}
	now := func() time.Time { return time.Unix(1_777_000_000, 0) }
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if ans, err := parseJoinResponse(body); err == nil {
			if ans.Token == "" {
				t.Fatal("parsed a join answer without a token")
			}
			_ = checkTicket(ans, &claims, "m-1", "a", "", "")
		}
		r := parseRefusal(status, http.Header{"Retry-After": {string(body)}}, body, now)
		if r.Status != status || r.RetryAfter < 0 || r.RetryAfter > maxRetryAfter {
			t.Fatalf("got refusal %+v for status %d", r, status)
		}
		_ = r.Error()
		ok, code, err := parseConnectResponse("us-sjc", status, body)
		if (err == nil) != (ok.Session != "") || (err == nil && code != "") {
			t.Fatalf("got session %q code %q error %v", ok.Session, code, err)
		}
		if ttl := sessionTTL(ok); ttl < 0 || ttl > maxSessionTTL {
			t.Fatalf("got session TTL %v", ttl)
		}
		if u, err := endpointURL(string(body), wire.ConnectPath); err == nil && u == "" {
			t.Fatal("empty endpoint URL without an error")
		}
	})
}
