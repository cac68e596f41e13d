package dashboard_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/geofence/geofence/dashboard"
)

// FuzzImpact: any body of POST /v1/dashboard/impact gets 200 or 400, never a panic. (The
// simulator's scenario parser has its own fuzz test, in package sim/scenario.)
func FuzzImpact(f *testing.F) {
	for _, s := range []string{`{"down":["us-sjc"]}`, `{"load":{"eu-ams":0.95}}`, `{}`, `{"down":null,"load":null}`, `[]`, `{"load":{"x":1e308}}`} {
		f.Add(s)
	}
	e := newEnv(f, dashboard.Config{})
	h := e.dash.Handler()
	f.Fuzz(func(t *testing.T, body string) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("POST", "/v1/dashboard/impact", strings.NewReader(body)))
		if w.Code != http.StatusOK && w.Code != http.StatusBadRequest {
			t.Fatalf("%q: status %d", body, w.Code)
		}
	})
}

// FuzzRefusalFilter: any query of GET /v1/dashboard/refusals gets 200.
func FuzzRefusalFilter(f *testing.F) {
	f.Add("code=residency_conflict&country=CN")
	f.Add("rule=%ZZ&region=")
	e := newEnv(f, dashboard.Config{})
	e.join("acme", "US", "CN")
	h := e.dash.Handler()
	f.Fuzz(func(t *testing.T, q string) {
		w := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/v1/dashboard/refusals", nil)
		req.URL.RawQuery = q
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			t.Fatalf("%q: status %d", q, w.Code)
		}
	})
}
