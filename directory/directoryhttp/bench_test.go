package directoryhttp_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/geofence/geofence/geo"
	"github.com/geofence/geofence/route"
)

// BenchmarkSelectLive is one selection on the directory's live state, in process (no HTTP,
// no signing): building route's state from reports and placements, then route.Select.
func BenchmarkSelectLive(b *testing.B) {
	e := newEnv(b, "../../examples/world.yaml", nil)
	e.report(100000, true)
	m, _ := e.core.LiveState()
	us, _ := geo.LookupCountry("US")
	na, _ := m.Region("na")
	basic, _ := m.Plan("basic")
	p := route.Participant{Region: na, Plan: basic, Location: us.Centroid(), Located: true}
	mt := route.Meeting{Region: na, HostPlan: basic, Home: -1}
	var out route.Selection
	b.ReportAllocs()
	for b.Loop() {
		_, st := e.core.LiveState()
		if err := route.Select(m, p, mt, st, &out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJoinHandler is one whole join through the HTTP handler, signing included.
func BenchmarkJoinHandler(b *testing.B) {
	e := newEnv(b, "../../examples/world.yaml", nil)
	e.report(0, true)
	mt := e.meeting("initech")
	h := e.api.Handler()
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/v1/meetings/"+mt+"/join", strings.NewReader(`{"account":"acme"}`))
		req.RemoteAddr = "127.0.0.1:1000"
		req.Header.Set("X-Forwarded-For", "10.1.2.3")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d %s", rec.Code, rec.Body)
		}
	}
}
