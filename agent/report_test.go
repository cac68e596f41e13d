package agent

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/geofence/geofence/internal/leaktest"
	"github.com/geofence/geofence/wire"
	"github.com/prometheus/client_golang/prometheus"
)

// load is a load report as received.
type load struct {
	participants int64
	healthy      bool
}

type gotReport struct {
	method, path, auth string
	report             load
}

// fakeDirectory records the load reports it receives.
func fakeDirectory(t *testing.T, status int) (string, <-chan gotReport) {
	t.Helper()
	ch := make(chan gotReport, 1000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rep wire.LoadReport
		if err := json.NewDecoder(r.Body).Decode(&rep); err != nil || rep.Participants == nil || rep.Healthy == nil {
			t.Errorf("load report body: %v, want both members", err)
			return
		}
		select {
		case ch <- gotReport{r.Method, r.URL.EscapedPath(), r.Header.Get("Authorization"), load{*rep.Participants, *rep.Healthy}}:
		default:
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, ch
}

// next waits for the first report that satisfies ok.
func next(t *testing.T, ch <-chan gotReport, what string, ok func(gotReport) bool) gotReport {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case r := <-ch:
			if ok(r) {
				return r
			}
		case <-timeout:
			t.Fatalf("no load report %s", what)
		}
	}
}

func TestLoadReports(t *testing.T) {
	tests := []struct {
		name       string
		credential string
		wantAuth   string
	}{
		{"with credential", "s3cret", "Bearer s3cret"},
		{"without credential", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leaktest.Check(t)
			m := loadModel(t, "../examples/world.yaml")
			ks := newKeyServer(t)
			dir, reports := fakeDirectory(t, http.StatusNoContent)
			a := newAgent(t, Config{ID: "us-sjc", Model: m, Keys: ks.remoteKeys(t), Directory: dir + "/",
				Credential: tt.credential, ReportInterval: 10 * time.Millisecond})

			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- a.Serve(ctx, ln) }()
			defer func() { cancel(); <-done }()

			first := next(t, reports, "at start", func(gotReport) bool { return true })
			want := gotReport{http.MethodPut, "/v1/datacenters/us-sjc/load", tt.wantAuth, load{participants: 0, healthy: true}}
			if first != want {
				t.Errorf("first report: got %+v, want %+v", first, want)
			}

			hc := testClient(t, 30*time.Second)
			tok := ks.sign(t, naClaims(m, []string{"us-sjc"}, nil))
			if got := connect(t, hc, "http://"+ln.Addr().String(), tok); got.status != http.StatusOK {
				t.Fatalf("connect: got %d %s", got.status, got.raw)
			}
			next(t, reports, "with one participant", func(r gotReport) bool { return r.report == load{1, true} })

			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
			done <- nil
			// Draining: the last report says unhealthy, so the directory stops sending joins here.
			var last gotReport
			for len(reports) > 0 {
				last = <-reports
			}
			if want := (load{participants: 1, healthy: false}); last.report != want {
				t.Errorf("last report: got %+v, want %+v", last.report, want)
			}
		})
	}
}

// TestLoadReportsFailing: a directory that refuses reports does not stop the agent serving.
func TestLoadReportsFailing(t *testing.T) {
	leaktest.Check(t)
	m := loadModel(t, "../examples/world.yaml")
	ks := newKeyServer(t)
	dir, reports := fakeDirectory(t, http.StatusUnauthorized)
	a := newAgent(t, Config{ID: "us-sjc", Model: m, Keys: ks.remoteKeys(t), Directory: dir, ReportInterval: 10 * time.Millisecond})
	base := startAgent(t, a)
	next(t, reports, "at start", func(gotReport) bool { return true })
	next(t, reports, "after a failure", func(gotReport) bool { return true })
	hc := testClient(t, 30*time.Second)
	if got := connect(t, hc, base, ks.sign(t, naClaims(m, []string{"us-sjc"}, nil))); got.status != http.StatusOK {
		t.Errorf("connect: got %d %s, want 200", got.status, got.raw)
	}
}

// roundTripFunc is an in-memory http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestExpiryReachesLoadReports runs the expiry and report loops in a synctest bubble, with
// no request at all: a session nobody renews leaves the count, the gauge and the next load
// report once its TTL has passed.
func TestExpiryReachesLoadReports(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := loadModel(t, "../examples/world.yaml")
		var mu sync.Mutex
		var reports []int64
		hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			var rep wire.LoadReport
			if err := json.NewDecoder(r.Body).Decode(&rep); err != nil || rep.Participants == nil {
				t.Errorf("load report: %v", err)
			} else {
				mu.Lock()
				reports = append(reports, *rep.Participants)
				mu.Unlock()
			}
			return &http.Response{StatusCode: http.StatusNoContent, Body: http.NoBody, Request: r}, nil
		})}
		reg := prometheus.NewRegistry()
		const ttl, interval = 30 * time.Second, 2 * time.Second
		a := newAgent(t, Config{ID: "us-sjc", Model: m, Keys: staticKeys{}, Directory: "https://directory.test",
			HTTPClient: hc, ReportInterval: interval, SessionTTL: ttl, Registry: reg})
		a.open(&session{id: "s1", who: identity{"m-1", "globex", "alice"}})
		ctx, cancel := context.WithCancel(t.Context())
		var loops sync.WaitGroup
		loops.Go(func() { a.reportLoop(ctx) })
		loops.Go(func() { a.expireLoop(ctx) })

		time.Sleep(ttl - time.Second)
		synctest.Wait()
		if g := value(t, reg, "geofence_agent_participants", nil); g != 1 {
			t.Errorf("before the TTL: gauge %v, want 1", g)
		}
		// The expiry loop runs every TTL/4, the reports every interval: both have run once
		// more after a TTL/4.
		time.Sleep(ttl / 4)
		synctest.Wait()
		if g := value(t, reg, "geofence_agent_participants", nil); g != 0 {
			t.Errorf("after the TTL: gauge %v, want 0", g)
		}
		if got := value(t, reg, "geofence_agent_sessions_expired_total", nil); got != 1 {
			t.Errorf("got %v expired, want 1", got)
		}
		cancel()
		loops.Wait()
		mu.Lock()
		defer mu.Unlock()
		if len(reports) < 2 || reports[0] != 1 || reports[len(reports)-1] != 0 {
			t.Errorf("got reports %v, want 1 at first and 0 at last", reports)
		}
	})
}
