package directoryhttp_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzRequestBodies posts arbitrary bodies to every endpoint that reads one: the directory
// never panics, never answers 500, and every error names what is wrong.
func FuzzRequestBodies(f *testing.F) {
	for _, s := range []string{
		`{"account":"acme"}`, `{"account":"acme","participant":"p1","public_key":"x25519:AAAA"}`,
		`{"host_account":"acme","mode":"e2ee"}`, `{"participants":10,"healthy":true}`,
		`{"plan":"pro","home_region":"eu","data_regions":["eu","na"]}`, `{`, `null`, `[]`, `{"account":null}`,
		`{"participants":1e309,"healthy":true}`, `{"account":"acme"}{"account":"acme"}`, "\x00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		e := newEnv(t, "../../examples/world.yaml", nil)
		e.report(0, true)
		mt := e.meeting("acme")
		h := e.api.Handler()
		for _, target := range []struct{ method, path string }{
			{"POST", "/v1/meetings/" + mt + "/join"},
			{"POST", "/v1/meetings"},
			{"PUT", "/v1/datacenters/us-sjc/load"},
			{"PUT", "/v1/accounts/fuzzed"},
		} {
			req := httptest.NewRequest(target.method, target.path, strings.NewReader(body))
			req.RemoteAddr = "127.0.0.1:1234"
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
				t.Fatalf("%s %s with %q: status %d %s", target.method, target.path, body, rec.Code, rec.Body)
			}
			if rec.Code >= 400 && !strings.Contains(rec.Body.String(), `"error"`) {
				t.Fatalf("%s %s: error without a code: %s", target.method, target.path, rec.Body)
			}
		}
	})
}
