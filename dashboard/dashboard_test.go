package dashboard_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/geofence/geofence/config"
	"github.com/geofence/geofence/dashboard"
	"github.com/geofence/geofence/directory"
	"github.com/geofence/geofence/examples"
	"github.com/geofence/geofence/geo"
	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/wire"
)

func world(t testing.TB) *policy.Model {
	t.Helper()
	c, errs := config.Parse("world.yaml", examples.World)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	m, err := policy.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

type env struct {
	t    testing.TB
	core *directory.Core
	dash *dashboard.Dashboard
	srv  *httptest.Server
	m    *policy.Model
}

// newEnv is a directory core on the world config with every DC up, and its dashboard served
// on loopback (no authentication: the directory's API adds it).
func newEnv(t testing.TB, cfg dashboard.Config) *env {
	t.Helper()
	m := world(t)
	feed := dashboard.NewFeed(0)
	core, err := directory.New(directory.Config{Model: m, Decisions: feed, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for _, dc := range m.DCs {
		core.ReportLoad(dc.ID, 0, true)
	}
	cfg.Core, cfg.Feed, cfg.Logger = core, feed, slog.New(slog.DiscardHandler)
	d, err := dashboard.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go d.Run(ctx)
	srv := httptest.NewServer(d.Handler())
	t.Cleanup(func() { cancel(); srv.Close() })
	return &env{t: t, core: core, dash: d, srv: srv, m: m}
}

func (e *env) do(method, path, body string, out any) int {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

// join makes a meeting of host in country hostCC and joins it from country cc.
func (e *env) join(host, hostCC, cc string) error {
	e.t.Helper()
	k, _ := geo.LookupCountry(hostCC)
	rec, err := e.core.CreateMeeting(context.Background(), directory.CreateMeeting{HostAccount: host, Host: directory.Where{Country: k}})
	if err != nil {
		e.t.Fatal(err)
	}
	p, _ := geo.LookupCountry(cc)
	_, err = e.core.Join(context.Background(), directory.JoinRequest{Meeting: rec.ID, Account: host,
		Where: directory.Where{Country: p, Location: p.Centroid(), Located: true}})
	return err
}

// TestImpact: every DC of a region marked down spills or refuses that region's participants,
// on a copy: the live state is unchanged.
func TestImpact(t *testing.T) {
	e := newEnv(t, dashboard.Config{})
	var eu []string
	for _, dc := range e.m.DCs {
		if e.m.Regions[dc.Region].ID == "eu" {
			eu = append(eu, dc.ID)
		}
	}
	body, _ := json.Marshal(dashboard.ImpactRequest{Down: eu})
	var got dashboard.Impact
	if st := e.do("POST", "/v1/dashboard/impact", string(body), &got); st != 200 {
		t.Fatalf("status %d", st)
	}
	seen := 0
	for _, r := range got.Rows {
		if r.Region != "eu" {
			continue
		}
		seen++
		if r.Outcome != "spilled" && r.Outcome != "refused" {
			t.Errorf("eu/%s: %s (before %v, after %v), want spilled or refused", r.Plan, r.Outcome, r.Before, r.After)
		}
		for _, id := range r.After.Primary {
			if slices.Contains(eu, id) {
				t.Errorf("eu/%s: after lists %s, which is marked down", r.Plan, id)
			}
		}
	}
	if seen == 0 {
		t.Fatal("no row for region eu")
	}
	for _, dc := range e.core.Datacenters() {
		if dc.Down {
			t.Errorf("%s is down in the live state after a what-if", dc.ID)
		}
	}
}

// TestWhatIfBadBodies: what-if bodies are strict and bounded.
func TestWhatIfBadBodies(t *testing.T) {
	e := newEnv(t, dashboard.Config{})
	for _, tc := range []struct{ name, path, body string }{
		{"impact unknown member", "/v1/dashboard/impact", `{"down":[],"up":[]}`},
		{"impact unknown dc", "/v1/dashboard/impact", `{"down":["xx-nowhere"]}`},
		{"impact load range", "/v1/dashboard/impact", `{"load":{"us-sjc":-1}}`},
		{"impact not json", "/v1/dashboard/impact", `down=us-sjc`},
		{"impact too big", "/v1/dashboard/impact", `{"down":["` + strings.Repeat("a", 70<<10) + `"]}`},
		{"sim no scenario", "/v1/dashboard/sim", `{}`},
		{"sim bad yaml", "/v1/dashboard/sim", `{"scenario":"version: 1\nregions: {na: {joins: -5}}"}`},
		{"sim too long", "/v1/dashboard/sim", `{"scenario":"version: 1\nduration: 48h\nregions: {na: {joins: 10}}"}`},
		{"sim too many joins", "/v1/dashboard/sim", `{"scenario":"version: 1\nduration: 1h\nregions: {na: {joins: 900000000}}"}`},
		{"sim unknown region", "/v1/dashboard/sim", `{"scenario":"version: 1\nduration: 1h\nregions: {mars: {joins: 10}}"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body wire.Error
			if st := e.do("POST", tc.path, tc.body, &body); st != 400 || body.Error != wire.CodeBadRequest || body.Message == "" {
				t.Errorf("got %d %+v, want 400 bad_request with a message", st, body)
			}
		})
	}
}

// TestSim: the proposed scenario runs, with the DCs down now down for the run, and the
// answer carries the simulator's SVG plots.
func TestSim(t *testing.T) {
	e := newEnv(t, dashboard.Config{})
	e.core.ReportLoad("us-den", 0, false)
	sc := dashboard.ProposeScenario(e.m, e.core.Datacenters(), time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	sc = strings.Replace(sc, "duration: 2h", "duration: 20m", 1)
	body, _ := json.Marshal(dashboard.SimRequest{Scenario: sc, Seed: 1})
	var got struct {
		Down       []string          `json:"down"`
		Plots      map[string]string `json:"plots"`
		Violations int               `json:"violations"`
		Summary    map[string]any    `json:"summary"`
	}
	if st := e.do("POST", "/v1/dashboard/sim", string(body), &got); st != 200 {
		t.Fatalf("status %d\n%s", st, sc)
	}
	if !slices.Equal(got.Down, []string{"us-den"}) {
		t.Errorf("down %v, want [us-den]", got.Down)
	}
	for _, k := range []string{"utilization", "refusals", "spill"} {
		if !strings.HasPrefix(strings.TrimSpace(got.Plots[k]), "<svg") {
			t.Errorf("plot %s is not SVG: %.60q", k, got.Plots[k])
		}
	}
	if got.Violations != 0 {
		t.Errorf("%d violations", got.Violations)
	}
}

// TestStateAlerts: the state names a DC down, a region refusing and a config served
// unverified, each as an alert.
func TestStateAlerts(t *testing.T) {
	e := newEnv(t, dashboard.Config{Unverified: true, Interval: 10 * time.Millisecond})
	e.core.ReportLoad("eu-ams", 0, false)
	// A participant in China joining a meeting hosted in the US: residency_conflict.
	if err := e.join("acme", "US", "CN"); err == nil {
		t.Fatal("a join from CN into an na meeting was answered")
	}
	if err := e.join("acme", "US", "US"); err != nil {
		t.Fatal(err)
	}
	st := readState(t, e, func(s *dashboard.State) bool { return len(s.Alerts) >= 3 && s.JoinsTotal >= 1 })
	kinds := map[string]string{}
	for _, a := range st.Alerts {
		kinds[a.Kind] = a.Subject
	}
	if kinds["dc_down"] != "eu-ams" || kinds["config_unverified"] == "" || kinds["region_refusing"] != "cn" {
		t.Errorf("alerts %+v, want dc_down eu-ams, region_refusing cn, config_unverified", st.Alerts)
	}
	if st.JoinsTotal != 1 || len(st.Refusals) == 0 || st.Refusals[0].Code != wire.CodeResidencyConflict {
		t.Errorf("joins %d refusals %+v, want 1 and a residency_conflict", st.JoinsTotal, st.Refusals)
	}
	var rs struct{ Refusals []dashboard.Refusal }
	e.do("GET", "/v1/dashboard/refusals?country=CN", "", &rs)
	if len(rs.Refusals) != 1 || rs.Refusals[0].Region != "cn" || rs.Refusals[0].MeetingRegion != "na" {
		t.Errorf("refusals from CN: %+v, want one, region cn, meeting region na", rs.Refusals)
	}
	e.do("GET", "/v1/dashboard/refusals?country=DE", "", &rs)
	if len(rs.Refusals) != 0 {
		t.Errorf("refusals from DE: %+v, want none", rs.Refusals)
	}
}

// readState reads the event stream until a state satisfies ok.
func readState(t *testing.T, e *env, ok func(*dashboard.State) bool) *dashboard.State {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/v1/dashboard/events", nil)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var last *dashboard.State
	err = eachEvent(resp.Body, func(name string, data []byte) bool {
		if name != "state" {
			return true
		}
		var s dashboard.State
		if err := json.Unmarshal(data, &s); err != nil {
			t.Fatal(err)
		}
		last = &s
		return !ok(&s)
	})
	if last == nil || !ok(last) {
		t.Fatalf("no state came that satisfies the test (%v); last: %+v", err, last)
	}
	return last
}

func newStreamRequest(ctx context.Context, e *env) (*http.Request, error) {
	return http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/v1/dashboard/events", nil)
}

// eachEvent calls fn with every server-sent event until it returns false.
func eachEvent(r io.Reader, fn func(name string, data []byte) bool) error {
	buf := make([]byte, 0, 1<<20)
	tmp := make([]byte, 32<<10)
	for {
		n, err := r.Read(tmp)
		buf = append(buf, tmp[:n]...)
		for {
			i := bytes.Index(buf, []byte("\n\n"))
			if i < 0 {
				break
			}
			var name string
			var data []byte
			for line := range bytes.SplitSeq(buf[:i], []byte("\n")) {
				if v, ok := bytes.CutPrefix(line, []byte("event: ")); ok {
					name = string(v)
				} else if v, ok := bytes.CutPrefix(line, []byte("data: ")); ok {
					data = append(data, v...)
				}
			}
			buf = buf[i+2:]
			if name != "" && !fn(name, data) {
				return nil
			}
		}
		if err != nil {
			return err
		}
	}
}

// TestStreamCapOverHTTP: the stream beyond the cap gets 503 with Retry-After.
func TestStreamCapOverHTTP(t *testing.T) {
	e := newEnv(t, dashboard.Config{MaxStreams: 1})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/v1/dashboard/events", nil)
	resp, err := e.srv.Client().Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("first stream: %v %v", resp, err)
	}
	defer resp.Body.Close()
	resp.Body.Read(make([]byte, 64)) // the stream is registered once it wrote
	resp2, err := e.srv.Client().Get(e.srv.URL + "/v1/dashboard/events")
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusServiceUnavailable || resp2.Header.Get("Retry-After") == "" {
		t.Errorf("second stream: %d, want 503 with Retry-After", resp2.StatusCode)
	}
}

// TestPage: the page is served with a CSP that lets it load nothing from elsewhere.
func TestPage(t *testing.T) {
	e := newEnv(t, dashboard.Config{})
	for _, p := range []string{"/ui/", "/ui/dashboard.js", "/ui/countries-50m.json", "/ui/dashboard.css"} {
		resp, err := e.srv.Client().Get(e.srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("%s: %d CSP %q, want 200 and default-src 'self'", p, resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
		}
	}
}

// TestBundleCurrent: dashboard/dist is what scripts/build-dashboard.sh builds from
// web/dashboard. It needs node and web/dashboard/node_modules (npm ci, which the script runs).
func TestBundleCurrent(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("skipping: node is not installed, so the bundle cannot be rebuilt to compare (apt-get install -y nodejs npm)")
	}
	if _, err := os.Stat("../web/dashboard/node_modules/esbuild"); err != nil {
		// CI installs the pinned dependencies (npm ci) and must check; a newcomer's first
		// `go test ./...` need not have.
		if os.Getenv("CI") == "" {
			t.Skip("web/dashboard/node_modules is missing: run `npm ci` in web/dashboard (or scripts/build-dashboard.sh) to check the committed bundle")
		}
		t.Fatal("web/dashboard/node_modules is missing: run `npm ci` in web/dashboard first")
	}
	out := t.TempDir()
	cmd := exec.Command(node, "build.mjs", out)
	cmd.Dir = "../web/dashboard"
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	want, _ := filepath.Glob(filepath.Join(out, "*"))
	have, _ := filepath.Glob("dist/*")
	if len(want) != len(have) {
		t.Errorf("dist has %d files, the build %d: run scripts/build-dashboard.sh and commit dashboard/dist", len(have), len(want))
	}
	for _, w := range want {
		built, _ := os.ReadFile(w)
		committed, err := os.ReadFile(filepath.Join("dist", filepath.Base(w)))
		if err != nil || !bytes.Equal(built, committed) {
			t.Errorf("dist/%s is not what web/dashboard builds: run scripts/build-dashboard.sh and commit dashboard/dist", filepath.Base(w))
		}
	}
}
