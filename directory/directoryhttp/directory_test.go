package directoryhttp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/geofence/geofence/directory/directoryhttp"
	"github.com/geofence/geofence/wire"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geofence/geofence/clientip"
	"github.com/geofence/geofence/config"
	"github.com/geofence/geofence/directory"
	"github.com/geofence/geofence/geo"
	"github.com/geofence/geofence/geo/geoip"
	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/ticket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// fakeGeoIP maps the first octet of an IPv4 address to a country: 10.x is the US, 20.x
// Canada, 30.x China, 40.x Germany, 50.x Brazil; anything else is unknown.
type fakeGeoIP struct{}

var octets = map[byte]string{10: "US", 20: "CA", 30: "CN", 40: "DE", 50: "BR", 60: "JP"}

func (fakeGeoIP) Lookup(a netip.Addr) (geoip.Result, error) {
	a = a.Unmap()
	if !a.Is4() {
		return geoip.Result{}, nil
	}
	cc, ok := octets[a.As4()[0]]
	if !ok {
		return geoip.Result{}, nil
	}
	return geoip.Result{Country: cc, Found: true}, nil
}

// ipOf is an address fakeGeoIP places in country cc.
func ipOf(cc string) string {
	for o, c := range octets {
		if c == cc {
			return fmt.Sprintf("%d.1.2.3", o)
		}
	}
	return "192.0.2.1"
}

// clock is a settable fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	t     testing.TB
	srv   *httptest.Server
	core  *directory.Core
	api   *directoryhttp.Server
	model *policy.Model
	clock *clock
	keys  *ticket.Verifier
	reg   *prometheus.Registry
}

func loadModel(t testing.TB, path string) *policy.Model {
	t.Helper()
	c, err := config.Load(path)
	if c == nil {
		t.Fatal(err)
	}
	m, err := policy.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// envConfig is what a test may change before the directory starts.
type envConfig struct {
	Core directory.Config
	HTTP directoryhttp.Config
}

// newEnv starts a directory on loopback. By default loopback is trusted, as in `geofence dev`
// (operator endpoints, load reports and token-less joins from 127.0.0.1); tests of identity
// turn it off.
func newEnv(t testing.TB, path string, tweak func(*envConfig)) *env {
	t.Helper()
	m := loadModel(t, path)
	clk := &clock{t: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	signer, err := ticket.NewSigner("geofence", nil, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	cfg := envConfig{
		Core: directory.Config{
			Model: m, Endpoints: map[string]string{"us-sjc": "http://127.0.0.1:1"},
			Now: clk.Now, Registry: reg, Logger: slog.New(slog.DiscardHandler),
		},
		HTTP: directoryhttp.Config{
			Signer: signer, GeoIP: fakeGeoIP{},
			Proxies:       clientip.Resolver{Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}},
			TrustLoopback: true, Gatherer: reg, Now: clk.Now, Registry: reg, Logger: slog.New(slog.DiscardHandler),
		},
	}
	if tweak != nil {
		tweak(&cfg)
	}
	core, err := directory.New(cfg.Core)
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTP.Core = core
	api, err := directoryhttp.New(cfg.HTTP)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	v, err := ticket.NewVerifier(signer.JWKS(), "geofence", clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, srv: srv, core: core, api: api, model: m, clock: clk, keys: v, reg: reg}
}

// do sends a request with an optional client IP (X-Forwarded-For) and decodes the JSON answer.
func (e *env) do(method, path, clientIP string, body any, out any) (int, http.Header) {
	e.t.Helper()
	return e.doAuth(method, path, clientIP, "", body, out)
}

// doAuth is do with a bearer token ("" for none).
func (e *env) doAuth(method, path, clientIP, token string, body any, out any) (int, http.Header) {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequestWithContext(context.Background(), method, e.srv.URL+path, rd)
	if clientIP != "" {
		req.Header.Set("X-Forwarded-For", clientIP)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			e.t.Fatalf("%s %s: decode %q: %v", method, path, data, err)
		}
	}
	return resp.StatusCode, resp.Header
}

// report makes every listed DC (or all when none) report load and health.
func (e *env) report(participants int64, healthy bool, dcs ...string) {
	e.t.Helper()
	if len(dcs) == 0 {
		for _, d := range e.model.DCs {
			dcs = append(dcs, d.ID)
		}
	}
	for _, id := range dcs {
		st, _ := e.do("PUT", "/v1/datacenters/"+id+"/load", "", map[string]any{"participants": participants, "healthy": healthy}, nil)
		if st != http.StatusNoContent {
			e.t.Fatalf("load report for %s: status %d", id, st)
		}
	}
}

func (e *env) meeting(host string) string {
	e.t.Helper()
	var m struct{ ID, Region, Mode string }
	if st, _ := e.do("POST", "/v1/meetings", "", map[string]string{"host_account": host}, &m); st != http.StatusCreated {
		e.t.Fatalf("create meeting for %s: status %d", host, st)
	}
	return m.ID
}

type joinAnswer struct {
	wire.JoinResponse
	Error      string   `json:"error"`
	Message    string   `json:"message"`
	Rules      []string `json:"rules"`
	RetryAfter int      `json:"retry_after"`
}

func (e *env) join(meeting, account, country string) (int, joinAnswer, http.Header) {
	e.t.Helper()
	var a joinAnswer
	st, h := e.do("POST", "/v1/meetings/"+meeting+"/join", ipOf(country), map[string]string{"account": account}, &a)
	return st, a, h
}

func ids(dcs []wire.DC) []string {
	out := []string{}
	for _, d := range dcs {
		out = append(out, d.ID)
	}
	return out
}

func TestJoin(t *testing.T) {
	e := newEnv(t, "../../examples/world.yaml", nil)
	e.report(0, true)
	mt := e.meeting("acme") // enterprise, home na, narrowed to na and eu
	st, a, _ := e.join(mt, "acme", "US")
	if st != http.StatusOK {
		t.Fatalf("join: status %d %+v", st, a)
	}
	if got, want := ids(a.Primary), []string{"us-den", "ca-yyz", "us-iad"}; !slices.Equal(got, want) {
		t.Errorf("primary = %v, want %v", got, want)
	}
	if a.Home != "us-den" || a.Region != "na" {
		t.Errorf("home %q region %q, want us-den na", a.Home, a.Region)
	}
	if a.Primary[0].Country != "US" {
		t.Errorf("primary[0].country = %q, want US", a.Primary[0].Country)
	}
	c, err := e.keys.Verify(a.Token)
	if err != nil {
		t.Fatalf("ticket does not verify: %v", err)
	}
	if c.Meeting != mt || c.Context.ParticipantRegion != "na" || c.Context.HostPlan != "enterprise" ||
		!slices.Equal(c.Context.HostDataRegions, []string{"na", "eu"}) || c.Context.ParticipantCountry != "US" {
		t.Errorf("ticket claims %+v", c)
	}
	if got := ids(c.Primary); !slices.Equal(got, ids(a.Primary)) {
		t.Errorf("signed primaries %v differ from the answer's %v", got, ids(a.Primary))
	}
	if !a.Expires.After(e.clock.Now()) {
		t.Errorf("expires %v is not after now", a.Expires)
	}

	// A later participant from Germany gets the home DC first.
	st, a, _ = e.join(mt, "acme", "DE")
	if st != http.StatusOK || len(a.Primary) == 0 || a.Primary[0].ID != "us-den" {
		t.Fatalf("second join: status %d primary %v, want us-den first", st, ids(a.Primary))
	}
}

func TestJoinRefusals(t *testing.T) {
	e := newEnv(t, "../../examples/world.yaml", nil)
	e.report(0, true)
	na := e.meeting("acme")
	gov := e.meeting("us-treasury")
	cn := e.meeting("tsinghua-media")

	tests := []struct {
		name, meeting, account, country string
		wantStatus                      int
		wantError                       string
		wantRule                        string
	}{
		{"chinese participant in a north american meeting", na, "initech", "CN", 403, "residency_conflict", "china-stays-in-china"},
		{"american participant in a chinese meeting", cn, "initech", "US", 403, "residency_conflict", "nothing-else-enters-china"},
		{"basic participant in a government meeting", gov, "initech", "US", 403, "plan_conflict", ""},
		{"government participant in an enterprise meeting", na, "us-treasury", "US", 403, "plan_conflict", ""},
		{"unknown meeting", "nope", "acme", "US", 404, "unknown_meeting", ""},
		{"unknown account", na, "nobody", "US", 404, "unknown_account", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, a, _ := e.join(tt.meeting, tt.account, tt.country)
			if st != tt.wantStatus || a.Error != tt.wantError {
				t.Fatalf("got %d %q (%s), want %d %q", st, a.Error, a.Message, tt.wantStatus, tt.wantError)
			}
			if tt.wantRule != "" && !slices.Contains(a.Rules, tt.wantRule) {
				t.Errorf("rules = %v, want %s", a.Rules, tt.wantRule)
			}
			if a.Token != "" || len(a.Primary) > 0 {
				t.Errorf("a refusal carries a ticket: %+v", a.JoinResponse)
			}
		})
	}

	t.Run("no capacity", func(t *testing.T) {
		e.report(0, false, "cn-pek", "cn-sha")
		st, a, h := e.join(cn, "tsinghua-media", "CN")
		if st != 503 || a.Error != "no_capacity" || a.RetryAfter <= 0 || h.Get("Retry-After") == "" {
			t.Fatalf("got %d %+v Retry-After %q, want 503 no_capacity with a retry hint", st, a, h.Get("Retry-After"))
		}
	})
}

func TestBadBodies(t *testing.T) {
	e := newEnv(t, "../../examples/world.yaml", nil)
	e.report(0, true)
	mt := e.meeting("acme")
	tests := []struct {
		name, method, path, body string
		want                     int
	}{
		{"join: not json", "POST", "/v1/meetings/" + mt + "/join", "{", 400},
		{"join: empty", "POST", "/v1/meetings/" + mt + "/join", ``, 400},
		{"join: trailing data", "POST", "/v1/meetings/" + mt + "/join", `{"account":"acme"} {}`, 400},
		{"join: bad participant id", "POST", "/v1/meetings/" + mt + "/join", `{"account":"acme","participant":"a b"}`, 400},
		{"meeting: bad mode", "POST", "/v1/meetings", `{"host_account":"acme","mode":"ecb"}`, 400},
		{"meeting: unknown host", "POST", "/v1/meetings", `{"host_account":"nobody"}`, 404},
		{"load: missing fields", "PUT", "/v1/datacenters/us-sjc/load", `{"participants":1}`, 400},
		{"load: negative", "PUT", "/v1/datacenters/us-sjc/load", `{"participants":-1,"healthy":true}`, 400},
		{"load: unknown dc", "PUT", "/v1/datacenters/xx/load", `{"participants":1,"healthy":true}`, 404},
		{"account: unknown plan", "PUT", "/v1/accounts/new", `{"plan":"platinum"}`, 400},
		{"account: unknown region", "PUT", "/v1/accounts/new", `{"plan":"basic","data_regions":["mars"]}`, 400},
		{"account: config account", "PUT", "/v1/accounts/acme", `{"plan":"basic"}`, 409},
		{"account: bad id", "PUT", "/v1/accounts/a%20b", `{"plan":"basic"}`, 400},
		{"explain: no country", "GET", "/v1/explain", ``, 400},
		{"explain: bad country", "GET", "/v1/explain?country=XX", ``, 400},
		{"huge body", "POST", "/v1/meetings/" + mt + "/join", `{"account":"` + strings.Repeat("a", 70000) + `"}`, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a struct{ Error, Message string }
			st, _ := e.do(tt.method, tt.path, "", tt.body, &a)
			if st != tt.want {
				t.Fatalf("status %d (%s), want %d", st, a.Message, tt.want)
			}
			if a.Error == "" || a.Message == "" {
				t.Errorf("error body %+v lacks a code or a message", a)
			}
		})
	}
}

func TestLoadReportsNeedCredentials(t *testing.T) {
	e := newEnv(t, "../../examples/world.yaml", func(c *envConfig) {
		c.HTTP.TrustLoopback = false
		c.HTTP.Credentials = map[string]string{"us-sjc": "s3cret"}
	})
	body := `{"participants":5,"healthy":true}`
	tests := []struct {
		name, dc, auth string
		want           int
	}{
		{"right credential", "us-sjc", "Bearer s3cret", 204},
		{"wrong credential", "us-sjc", "Bearer guess", 401},
		{"no credential", "us-sjc", "", 401},
		{"dc without credential, loopback not trusted", "us-den", "", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("PUT", e.srv.URL+"/v1/datacenters/"+tt.dc+"/load", strings.NewReader(body))
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}

// TestLiveState walks a time-stepped scenario: staleness, health, placements counted between
// reports, the watermark, and re-homing when the home goes down.
func TestLiveState(t *testing.T) {
	e := newEnv(t, "../../examples/world.yaml", func(c *envConfig) { c.Core.StaleAfter = 10 * time.Second })
	mt := e.meeting("initech") // basic, home apac

	// No DC has reported: all down.
	if st, a, _ := e.join(mt, "initech", "JP"); st != 503 || a.Error != "no_capacity" {
		t.Fatalf("before any report: %d %q, want 503 no_capacity", st, a.Error)
	}
	e.report(0, true)
	st, a, _ := e.join(mt, "initech", "JP")
	if st != 200 || a.Home != "jp-tyo" || ids(a.Primary)[0] != "jp-tyo" {
		t.Fatalf("first join: %d home %q primary %v, want jp-tyo", st, a.Home, ids(a.Primary))
	}
	// The home goes stale (no report for longer than StaleAfter) while others keep reporting:
	// the next join re-homes the meeting.
	e.clock.Add(11 * time.Second)
	var others []string
	for _, d := range e.model.DCs {
		if d.ID != "jp-tyo" {
			others = append(others, d.ID)
		}
	}
	e.report(0, true, others...)
	st, a, _ = e.join(mt, "initech", "JP")
	if st != 200 || a.Home != "jp-osa" || slices.Contains(ids(a.Primary), "jp-tyo") {
		t.Fatalf("after the home went stale: %d home %q primary %v, want re-homed to jp-osa", st, a.Home, ids(a.Primary))
	}
	// Tokyo comes back: the home stays Osaka (sticky while it is up).
	e.report(0, true, "jp-tyo")
	if _, a, _ = e.join(mt, "initech", "JP"); a.Home != "jp-osa" || ids(a.Primary)[0] != "jp-osa" {
		t.Fatalf("home %q primary %v, want jp-osa kept", a.Home, ids(a.Primary))
	}

	// Placements between reports push a DC over the watermark: capacity of jp-osa is 300,000;
	// report 239,990 (just under 0.8) and the next placements tip it over.
	e.report(239_990, true, "jp-osa")
	mt2 := e.meeting("initech")
	_, a, _ = e.join(mt2, "initech", "JP")
	if a.Home != "jp-tyo" {
		t.Fatalf("new meeting home %q, want jp-tyo (nearest)", a.Home)
	}
	var dcs []wire.Datacenter
	e.do("GET", "/v1/datacenters", "", nil, &dcs)
	for _, d := range dcs {
		if d.ID == "jp-tyo" && (d.Placed != 1 || d.Down) {
			t.Errorf("jp-tyo placed %d down %v, want 1 placement and up", d.Placed, d.Down)
		}
	}
}

func TestExplainEndpointMatchesCLIAnswer(t *testing.T) {
	e := newEnv(t, "../../examples/world.yaml", nil)
	e.report(0, true)
	e.report(0, false, "us-den")
	var a struct {
		Primary []struct {
			ID string `json:"id"`
		} `json:"primary"`
		Excluded []struct{ ID, List, Reason string } `json:"excluded"`
	}
	if st, _ := e.do("GET", "/v1/explain?country=US&plan=basic&down=us-iad", "", nil, &a); st != 200 {
		t.Fatalf("status %d", st)
	}
	var got []string
	for _, p := range a.Primary {
		got = append(got, p.ID)
	}
	if want := []string{"ca-yyz", "us-nyc", "us-sjc"}; !slices.Equal(got, want) {
		t.Errorf("primary = %v, want %v (us-den down live, us-iad down by query)", got, want)
	}
}

func TestAccountsAPI(t *testing.T) {
	e := newEnv(t, "../../examples/world.yaml", nil)
	e.report(0, true)
	var acct struct{ ID, Plan, Source string }
	if st, _ := e.do("PUT", "/v1/accounts/hooli", "", `{"plan":"pro","home_region":"eu","data_regions":["eu"]}`, &acct); st != 201 {
		t.Fatalf("PUT status %d", st)
	}
	if st, _ := e.do("GET", "/v1/accounts/hooli", "", nil, &acct); st != 200 || acct.Plan != "pro" || acct.Source != "api" {
		t.Fatalf("GET: %d %+v", st, acct)
	}
	if st, _ := e.do("GET", "/v1/accounts/acme", "", nil, &acct); st != 200 || acct.Source != "config" {
		t.Fatalf("GET config account: %d %+v", st, acct)
	}
	mt := e.meeting("hooli")
	st, a, _ := e.join(mt, "hooli", "US")
	if st != 200 {
		t.Fatalf("join: %d %+v", st, a)
	}
	for _, d := range slices.Concat(a.Primary, a.Secondary, a.KMS) {
		if d.Country != "NL" && d.Country != "DE" {
			t.Errorf("account narrowed to eu got %s in %s", d.ID, d.Country)
		}
	}
}

func TestEndpointsServe(t *testing.T) {
	e := newEnv(t, "../../examples/world.yaml", func(c *envConfig) { c.Core.Unverified = true })
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/.well-known/jwks.json", "/v1/datacenters"} {
		st, _ := e.do("GET", p, "", nil, nil)
		if st != 200 {
			t.Errorf("GET %s: status %d", p, st)
		}
	}
	e.report(0, true)
	e.join(e.meeting("acme"), "initech", "CN")
	req, _ := http.NewRequest("GET", e.srv.URL+"/metrics", nil)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`geofence_directory_refusals_total{code="residency_conflict",rule="china-stays-in-china"} 1`,
		`geofence_directory_joins_total{outcome="residency_conflict",region="na"} 1`,
		`geofence_directory_unverified_config 1`,
		`geofence_directory_dc_up{dc="us-sjc",region="na"} 1`,
		`geofence_directory_selection_seconds_count`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// metricsText is the directory's /metrics page.
func (e *env) metricsText() string {
	e.t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(e.reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

func lookupCountry(cc string) (geo.Country, bool) { return geo.LookupCountry(cc) }

func TestE2EEMeetingTicketsListNoKeyServer(t *testing.T) {
	e := newEnv(t, "../../examples/world.yaml", nil)
	e.report(0, true)
	var m struct{ ID, Mode string }
	if st, _ := e.do("POST", "/v1/meetings", "", map[string]string{"host_account": "globex", "mode": "e2ee"}, &m); st != http.StatusCreated || m.Mode != "e2ee" {
		t.Fatalf("create e2ee meeting: %d %+v", st, m)
	}
	st, a, _ := e.join(m.ID, "globex", "DE")
	if st != http.StatusOK {
		t.Fatalf("join: %d %+v", st, a)
	}
	c, err := e.keys.Verify(a.Token)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.KMS) != 0 || len(c.KMS) != 0 || c.Mode != "e2ee" {
		t.Errorf("e2ee ticket mode %q lists key servers %v / %v, want none", c.Mode, ids(a.KMS), c.KMS)
	}
}

// TestAPIAccountAcrossConfigChange: an API account's narrowing is rebuilt for a new model, whose
// DC indexes differ, so the narrowing never points at the wrong DCs (I1).
func TestAPIAccountAcrossConfigChange(t *testing.T) {
	e := newEnv(t, "../../examples/world.yaml", nil)
	e.report(0, true)
	if st, _ := e.do("PUT", "/v1/accounts/hooli", "", `{"plan":"pro","home_region":"eu","data_regions":["eu"]}`, nil); st != 201 {
		t.Fatalf("PUT account: %d", st)
	}
	mt := e.meeting("hooli")
	if st, _, _ := e.join(mt, "hooli", "DE"); st != http.StatusOK {
		t.Fatalf("join: %d", st)
	}
	// The same world with one more DC listed first: every DC index moves by one.
	src, err := os.ReadFile("../../examples/world.yaml")
	if err != nil {
		t.Fatal(err)
	}
	shifted := strings.Replace(string(src), "datacenters:\n", "datacenters:\n  aa-first:\n    country: FR\n    location: [48.85, 2.35]\n    capacity: 1000\n    services: [media]\n", 1)
	c, errs := config.Parse("shifted.yaml", []byte(shifted))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	m2, err := policy.New(c)
	if err != nil {
		t.Fatal(err)
	}
	e.core.SetModel(m2)
	e.report(0, true)
	st, a, _ := e.join(mt, "hooli", "DE")
	if st != http.StatusOK {
		t.Fatalf("join after the config change: %d %+v", st, a)
	}
	for _, d := range slices.Concat(a.Primary, a.Secondary, a.KMS) {
		if d.Country != "NL" && d.Country != "DE" {
			t.Errorf("account narrowed to eu got %s in %s after the config change", d.ID, d.Country)
		}
	}
}

// TestExplainAPIAccountWithoutHomeRegion: explain for an account created at run time without
// a home region answers (it panicked with index -1): the meeting region is then the
// participant's own.
func TestExplainAPIAccountWithoutHomeRegion(t *testing.T) {
	e := newEnv(t, "../../examples/world.yaml", nil)
	e.report(0, true)
	if st, _ := e.do("PUT", "/v1/accounts/nohome", "", `{"plan":"pro"}`, nil); st != http.StatusCreated {
		t.Fatalf("PUT account: %d", st)
	}
	var a struct {
		MeetingRegion string `json:"meeting_region"`
		Primary       []struct {
			ID string `json:"id"`
		} `json:"primary"`
	}
	if st, _ := e.do("GET", "/v1/explain?country=DE&account=nohome", "", nil, &a); st != http.StatusOK || a.MeetingRegion != "eu" || len(a.Primary) == 0 {
		t.Fatalf("explain: %d %+v, want 200 with meeting region eu and primaries", st, a)
	}
	// A meeting of that account takes its host's country's region.
	var mt wire.Meeting
	if st, _ := e.do("POST", "/v1/meetings", ipOf("JP"), `{"host_account":"nohome"}`, &mt); st != http.StatusCreated || mt.Region != "apac" {
		t.Fatalf("meeting: %d %+v, want region apac (the host's country's)", st, mt)
	}
}
