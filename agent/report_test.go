package agent

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/geofence/geofence/internal/leaktest"
)

type gotReport struct {
	method, path, auth string
	report             LoadReport
}

// fakeDirectory records the load reports it receives.
func fakeDirectory(t *testing.T, status int) (string, <-chan gotReport) {
	t.Helper()
	ch := make(chan gotReport, 1000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rep LoadReport
		if err := json.NewDecoder(r.Body).Decode(&rep); err != nil {
			t.Errorf("load report body: %v", err)
		}
		select {
		case ch <- gotReport{r.Method, r.URL.EscapedPath(), r.Header.Get("Authorization"), rep}:
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
			want := gotReport{http.MethodPut, "/v1/datacenters/us-sjc/load", tt.wantAuth, LoadReport{Participants: 0, Healthy: true}}
			if first != want {
				t.Errorf("first report: got %+v, want %+v", first, want)
			}

			hc := testClient(t, 30*time.Second)
			tok := ks.sign(t, naClaims(m, []string{"us-sjc"}, nil))
			if got := connect(t, hc, "http://"+ln.Addr().String(), tok); got.status != http.StatusOK {
				t.Fatalf("connect: got %d %s", got.status, got.raw)
			}
			next(t, reports, "with one participant", func(r gotReport) bool { return r.report == LoadReport{1, true} })

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
			if want := (LoadReport{Participants: 1, Healthy: false}); last.report != want {
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
