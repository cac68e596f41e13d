package client

import (
	"encoding/json"
	"github.com/geofence/geofence/wire"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/geofence/geofence/agent"
	"github.com/geofence/geofence/agent/agenttest"
	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/ticket"
	"github.com/geofence/geofence/verify"
)

func detRand(seed byte) io.Reader {
	var s [32]byte
	s[0] = seed
	return rand.NewChaCha8(s)
}

// fakeDirectory answers joins as the directory does (DESIGN.md section 7), with a ticket for
// a basic-plan participant from the US in a North American meeting, listing the datacenters
// it is told to, with the endpoints of the test's agents.
type fakeDirectory struct {
	t      testing.TB
	m      *policy.Model
	signer *ticket.Signer
	url    string

	mu         sync.Mutex
	primary    []string
	secondary  []string
	endpoints  map[string]string
	signWith   *ticket.Signer                               // instead of signer
	editClaims func(*wire.Claims)                           // before signing
	tamper     func(*wire.JoinResponse)                     // after signing
	respond    func(w http.ResponseWriter, r *http.Request) // instead of a ticket
	requests   []wire.JoinRequest
	xff        []string
	auth       []string // the Authorization headers of the joins
}

func newFakeDirectory(t testing.TB, m *policy.Model) *fakeDirectory {
	t.Helper()
	s, err := ticket.NewSigner(DefaultIssuer, detRand(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	d := &fakeDirectory{t: t, m: m, signer: s, endpoints: map[string]string{}}
	mux := http.NewServeMux()
	mux.Handle("GET "+ticket.JWKSPath, s.Handler())
	mux.HandleFunc("POST /v1/meetings/{id}/join", d.join)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	d.url = srv.URL
	return d
}

func (d *fakeDirectory) set(primary, secondary []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.primary, d.secondary = primary, secondary
}

func (d *fakeDirectory) list(ids []string) []wire.DC {
	var out []wire.DC
	for _, id := range ids {
		dc, ok := d.m.DC(id)
		if !ok {
			d.t.Errorf("fake directory: no datacenter %s", id)
			continue
		}
		out = append(out, wire.DC{ID: id, Country: d.m.DCs[dc].Country.Code(), Endpoint: d.endpoints[id]})
	}
	return out
}

func (d *fakeDirectory) join(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var req wire.JoinRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		d.t.Errorf("fake directory: join body: %v", err)
	}
	d.requests = append(d.requests, req)
	d.xff = append(d.xff, r.Header.Get("X-Forwarded-For"))
	d.auth = append(d.auth, r.Header.Get("Authorization"))
	if d.respond != nil {
		d.respond(w, r)
		return
	}
	c := wire.Claims{
		Meeting: r.PathValue("id"), Participant: req.Participant, Account: req.Account, Mode: wire.ModeE2EE,
		Region: "na", Home: "us-sjc", Primary: d.list(d.primary), Secondary: d.list(d.secondary),
		Context: wire.Context{ParticipantCountry: "US", ParticipantRegion: "na", ParticipantPlan: "basic",
			MeetingRegion: "na", HostAccount: "globex", HostPlan: "basic"},
		PublicKey: req.PublicKey,
	}
	if d.editClaims != nil {
		d.editClaims(&c)
	}
	s := d.signer
	if d.signWith != nil {
		s = d.signWith
	}
	tok, err := s.Sign(c, 5*time.Minute)
	if err != nil {
		d.t.Errorf("fake directory: sign: %v", err)
		http.Error(w, err.Error(), 500)
		return
	}
	ans := wire.JoinResponse{Meeting: c.Meeting, Region: c.Region, Home: c.Home, Primary: c.Primary,
		Secondary: c.Secondary, KMS: []wire.DC{}, Expires: time.Now().Add(5 * time.Minute).UTC().Truncate(time.Second), Token: tok}
	if ans.Secondary == nil {
		ans.Secondary = []wire.DC{}
	}
	if d.tamper != nil {
		d.tamper(&ans)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(ans)
}

// testWorld is a fake directory and real DC agents on loopback, on examples/world.yaml.
type testWorld struct {
	m      *policy.Model
	dir    *fakeDirectory
	agents map[string]*agent.Agent
	http   *http.Client
}

// The datacenters of the tests: North America's first three primaries (US) and its first two
// secondaries (NL, DE).
var (
	naPrimary   = []string{"us-sjc", "us-den", "us-nyc"}
	naSecondary = []string{"eu-ams", "eu-fra"}
)

var worldModel = sync.OnceValues(func() (*policy.Model, error) {
	_, m, err := verify.File("../examples/world.yaml", verify.Options{})
	return m, err
})

func newWorld(t testing.TB, ids ...string) *testWorld {
	t.Helper()
	return newWorldWith(t, nil, ids...)
}

// newWorldWith is newWorld with edit, when set, changing every agent's Config.
func newWorldWith(t testing.TB, edit func(*agent.Config), ids ...string) *testWorld {
	t.Helper()
	m, err := worldModel()
	if err != nil || m == nil {
		t.Fatalf("load world: %v", err)
	}
	w := &testWorld{m: m, dir: newFakeDirectory(t, m), agents: map[string]*agent.Agent{}}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	w.http = &http.Client{Transport: tr}
	keys, err := ticket.NewRemoteKeys(w.dir.url+ticket.JWKSPath, w.http, DefaultIssuer, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		cfg := agent.Config{ID: id, Model: m, Keys: keys}
		if edit != nil {
			edit(&cfg)
		}
		a, err := agent.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		url := agenttest.Start(t, a)
		w.agents[id] = a
		w.dir.endpoints[id] = url
	}
	t.Cleanup(tr.CloseIdleConnections) // runs first: before the agents stop
	return w
}

func (w *testWorld) client(t testing.TB, cfg Config) *Client {
	t.Helper()
	cfg.Directory = w.dir.url
	cfg.HTTPClient = w.http
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (w *testWorld) participants() map[string]int {
	out := map[string]int{}
	for id, a := range w.agents {
		if n := a.Participants(); n > 0 {
			out[id] = n
		}
	}
	return out
}
