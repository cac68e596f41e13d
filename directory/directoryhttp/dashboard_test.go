package directoryhttp_test

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geofence/geofence/dashboard"
	"github.com/geofence/geofence/wire"
)

// lazyHandler lets a test hand the directory a handler made once the directory exists.
type lazyHandler struct{ h atomic.Pointer[http.Handler] }

func (l *lazyHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*l.h.Load()).ServeHTTP(w, r)
}

// newDashboardEnv is a production-like directory (operator token, loopback untrusted) with
// the dashboard mounted.
func newDashboardEnv(t *testing.T) *authEnv {
	t.Helper()
	feed := dashboard.NewFeed(0)
	lazy := &lazyHandler{}
	a := newAuthEnvWith(t, func(c *envConfig) {
		c.Core.Decisions = feed
		c.HTTP.Dashboard = lazy
	})
	d, err := dashboard.New(dashboard.Config{Core: a.core, Feed: feed})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go d.Run(ctx)
	h := d.Handler()
	lazy.h.Store(&h)
	return a
}

// TestDashboardAuth: every dashboard path is the operator's. Without a credential: 401 with a
// Basic challenge (a browser then asks); a participant's valid join token: 403; the operator
// token as a bearer token or as the Basic password: 200, and the event stream streams.
func TestDashboardAuth(t *testing.T) {
	a := newDashboardEnv(t)
	participant := a.token("alpha", "alpha", "p1", "", false, a.clock.Now(), time.Hour)
	paths := []string{"/ui/", "/ui/dashboard.js", "/v1/dashboard/events", "/v1/dashboard/refusals", "/v1/dashboard/scenario",
		"/v1/dashboard/explain?country=US"}
	for _, p := range paths {
		t.Run(p, func(t *testing.T) {
			st, h := a.as("", "GET", p, "", nil, nil)
			if st != http.StatusUnauthorized || !strings.Contains(strings.Join(h.Values("WWW-Authenticate"), ";"), "Basic") {
				t.Errorf("no credential: %d %q, want 401 with a Basic challenge", st, h.Values("WWW-Authenticate"))
			}
			if st, _ := a.as("not-the-operator-token-but-long-enough", "GET", p, "", nil, nil); st != http.StatusUnauthorized {
				t.Errorf("wrong token: %d, want 401", st)
			}
			var body wire.Error
			if st, _ := a.as(participant, "GET", p, "", nil, &body); st != http.StatusForbidden || body.Error != wire.CodeForbidden {
				t.Errorf("participant join token: %d %q, want 403 forbidden", st, body.Error)
			}
			if p == "/v1/dashboard/events" {
				return // streams: below
			}
			if st, _ := a.as(operatorToken, "GET", p, "", nil, nil); st != http.StatusOK {
				t.Errorf("operator token: %d, want 200", st)
			}
			req, _ := http.NewRequest("GET", a.srv.URL+p, nil)
			req.SetBasicAuth("ops", operatorToken)
			resp, err := a.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("Basic with the operator token: %d, want 200", resp.StatusCode)
			}
		})
	}
	for _, basic := range []bool{false, true} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		req, _ := http.NewRequestWithContext(ctx, "GET", a.srv.URL+"/v1/dashboard/events", nil)
		if basic {
			req.SetBasicAuth("", operatorToken)
		} else {
			req.Header.Set("Authorization", "Bearer "+operatorToken)
		}
		resp, err := a.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("operator stream: %d %q, want 200 text/event-stream", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		var events []string
		for sc.Scan() && len(events) < 2 {
			if ev, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				events = append(events, ev)
			}
		}
		cancel()
		resp.Body.Close()
		if strings.Join(events, ",") != "model,state" {
			t.Errorf("stream starts with %v, want [model state]", events)
		}
	}
}

// TestMediaLoad: a media server's load (sessions, tracks, bit rates, bridges) goes from its
// load report to GET /v1/datacenters; a later report without one clears it; bad ones are
// refused.
func TestMediaLoad(t *testing.T) {
	e := newEnv(t, "../../examples/world.yaml", nil)
	media := wire.MediaLoad{Sessions: 12, Meetings: 3, TracksIn: 20, TracksOut: 60, BitsInPerSecond: 4_000_000, BitsOutPerSecond: 9_000_000,
		Bridges: []wire.BridgeLoad{{Datacenter: "us-iad", Direction: "out", Meetings: 1, TracksIn: 2, TracksOut: 4}}}
	if st, _ := e.do("PUT", "/v1/datacenters/us-sjc/load", "", map[string]any{"participants": 12, "healthy": true, "media": media}, nil); st != http.StatusNoContent {
		t.Fatalf("report with media: %d", st)
	}
	get := func() *wire.MediaLoad {
		var dcs []wire.Datacenter
		e.do("GET", "/v1/datacenters", "", nil, &dcs)
		for _, d := range dcs {
			if d.ID == "us-sjc" {
				return d.Media
			}
		}
		t.Fatal("no us-sjc")
		return nil
	}
	got := get()
	if got == nil || got.Sessions != 12 || got.BitsOutPerSecond != 9_000_000 || len(got.Bridges) != 1 || got.Bridges[0].Datacenter != "us-iad" {
		t.Fatalf("media = %+v, want the report's", got)
	}
	e.report(5, true, "us-sjc")
	if got := get(); got != nil {
		t.Errorf("after a report without media: %+v, want none", got)
	}
	for _, tc := range []struct{ name, body string }{
		{"negative", `{"participants":1,"healthy":true,"media":{"sessions":-1}}`},
		{"direction", `{"participants":1,"healthy":true,"media":{"bridges":[{"datacenter":"us-iad","direction":"sideways"}]}}`},
		{"unknown member", `{"participants":1,"healthy":true,"media":{"sessions":1,"cpu":3}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if st, _ := e.do("PUT", "/v1/datacenters/us-sjc/load", "", tc.body, nil); st != http.StatusBadRequest {
				t.Errorf("got %d, want 400", st)
			}
		})
	}
}
