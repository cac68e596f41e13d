package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/geofence/geofence/wire"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geofence/geofence/admission"
	"github.com/geofence/geofence/agent"
	"github.com/geofence/geofence/agent/agenttest"
	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/ticket"
	"github.com/geofence/geofence/verify"
	"github.com/prometheus/client_golang/prometheus"
)

// joinWorld is a directory stand-in that signs tickets listing real DC agents on loopback:
// enough for `geofence join` end to end without the directory package.
type joinWorld struct {
	url    string
	agents map[string]*agent.Agent

	mu      sync.Mutex
	refuse  bool   // answer 403 residency_conflict
	gotXFF  string // the last join's X-Forwarded-For
	gotPart string // the last join's participant
}

func newJoinWorld(t *testing.T, primary, secondary []string) *joinWorld {
	t.Helper()
	return newJoinWorldWith(t, nil, primary, secondary)
}

// newJoinWorldWith is newJoinWorld with edit, when set, changing every agent's Config.
func newJoinWorldWith(t *testing.T, edit func(*agent.Config), primary, secondary []string) *joinWorld {
	t.Helper()
	_, m, err := verify.File("../../examples/world.yaml", verify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := ticket.NewSigner(Issuer, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := &joinWorld{agents: map[string]*agent.Agent{}}
	endpoints := map[string]string{}
	mux := http.NewServeMux()
	mux.Handle("GET "+ticket.JWKSPath, s.Handler())
	mux.HandleFunc("POST /v1/meetings/{id}/join", func(rw http.ResponseWriter, r *http.Request) {
		var req struct {
			Account, Participant string
			PublicKey            string `json:"public_key"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		w.mu.Lock()
		w.gotXFF, w.gotPart = r.Header.Get("X-Forwarded-For"), req.Participant
		refuse := w.refuse
		w.mu.Unlock()
		rw.Header().Set("Content-Type", "application/json")
		if refuse {
			rw.WriteHeader(http.StatusForbidden)
			rw.Write([]byte(`{"error":"residency_conflict","message":"no datacenter allowed","rules":["nothing-else-enters-china"]}`))
			return
		}
		list := func(ids []string) []wire.DC {
			out := []wire.DC{}
			for _, id := range ids {
				d, _ := m.DC(id)
				out = append(out, wire.DC{ID: id, Country: m.DCs[d].Country.Code(), Endpoint: endpoints[id]})
			}
			return out
		}
		c := wire.Claims{Meeting: r.PathValue("id"), Participant: req.Participant, Account: req.Account,
			Mode: wire.ModeE2EE, Region: "na", Home: "us-sjc", Primary: list(primary), Secondary: list(secondary),
			Context: wire.Context{ParticipantCountry: "US", ParticipantRegion: "na", ParticipantPlan: "basic",
				MeetingRegion: "na", HostAccount: "globex", HostPlan: "basic"}, PublicKey: req.PublicKey}
		tok, err := s.Sign(c, time.Minute)
		if err != nil {
			t.Errorf("sign: %v", err)
		}
		json.NewEncoder(rw).Encode(map[string]any{"meeting": c.Meeting, "region": c.Region, "home": c.Home,
			"primary": c.Primary, "secondary": c.Secondary, "kms": []wire.DC{}, "expires": time.Now().Add(time.Minute), "token": tok})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	w.url = srv.URL
	keys, err := ticket.NewRemoteKeys(srv.URL+ticket.JWKSPath, nil, Issuer, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range append(append([]string{}, primary...), secondary...) {
		w.agents[id] = startTestAgent(t, m, id, keys, endpoints, edit)
	}
	return w
}

func startTestAgent(t *testing.T, m *policy.Model, id string, keys admission.TicketVerifier, endpoints map[string]string, edit func(*agent.Config)) *agent.Agent {
	t.Helper()
	cfg := agent.Config{ID: id, Model: m, Keys: keys}
	if edit != nil {
		edit(&cfg)
	}
	a, err := agent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	endpoints[id] = agenttest.Start(t, a)
	return a
}

func runCmd(ctx context.Context, f func(context.Context, Env, []string) int, args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := f(ctx, Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}, args)
	return code, stdout.String(), stderr.String()
}

func TestJoinCommand(t *testing.T) {
	w := newJoinWorld(t, []string{"us-sjc", "us-den"}, []string{"eu-ams"})
	w.agents["us-sjc"].SetFault(agent.FaultRefuse)

	code, stdout, stderr := runCmd(t.Context(), runJoin, "--directory", w.url, "--meeting", "m-1", "--account", "globex",
		"--client-ip", "203.0.113.9", "--stagger", "1h", "--json")
	if code != ExitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
	}
	keys := func(m map[string]any) []string {
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		return ks
	}
	if k := keys(got); !reflect.DeepEqual(k, []string{"attempts", "datacenter", "elapsed_ms", "list"}) {
		t.Errorf("got members %q, want the four of DESIGN.md section 6", k)
	}
	if got["datacenter"] != "us-den" || got["list"] != "primary" {
		t.Errorf("got %v (%v), want us-den (primary)", got["datacenter"], got["list"])
	}
	attempts, _ := got["attempts"].([]any)
	var outcomes []string
	for _, a := range attempts {
		m := a.(map[string]any)
		if k := keys(m); !reflect.DeepEqual(k, []string{"datacenter", "elapsed_ms", "list", "outcome"}) {
			t.Errorf("got attempt members %q", k)
		}
		outcomes = append(outcomes, m["datacenter"].(string)+":"+m["outcome"].(string))
	}
	if want := []string{"us-sjc:error", "us-den:connected"}; !reflect.DeepEqual(outcomes, want) {
		t.Errorf("got attempts %q, want %q", outcomes, want)
	}
	w.mu.Lock()
	if w.gotXFF != "203.0.113.9" || !strings.HasPrefix(w.gotPart, "p-") {
		t.Errorf("directory got X-Forwarded-For %q and participant %q, want 203.0.113.9 and a random p-...", w.gotXFF, w.gotPart)
	}
	w.mu.Unlock()
	// The command leaves when it is done.
	if n := w.agents["us-den"].Participants(); n != 0 {
		t.Errorf("us-den still counts %d participants after the command", n)
	}
}

func TestJoinCommandText(t *testing.T) {
	w := newJoinWorld(t, []string{"us-sjc"}, nil)
	code, stdout, stderr := runCmd(t.Context(), runJoin, "--directory", w.url, "--meeting", "m-1", "--account", "globex", "--participant", "bob")
	if code != ExitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if !strings.HasPrefix(stdout, "connected to us-sjc (primary) in ") || !strings.Contains(stdout, "us-sjc") {
		t.Errorf("got stdout\n%s", stdout)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.gotPart != "bob" {
		t.Errorf("directory got participant %q, want bob", w.gotPart)
	}
}

func TestJoinCommandFailures(t *testing.T) {
	w := newJoinWorld(t, []string{"us-sjc"}, []string{"eu-ams"})
	base := []string{"--directory", w.url, "--meeting", "m-1", "--account", "globex"}
	tests := []struct {
		name       string
		args       []string
		refuse     bool
		fault      agent.Fault
		wantCode   int
		wantStderr string
		wantStdout string
	}{
		{"directory refuses", base, true, agent.FaultNone, ExitFinding, "403 residency_conflict: no datacenter allowed (rules: nothing-else-enters-china)", ""},
		{"no datacenter reached", append(base, "--json", "--attempt-timeout", "100ms"), false, agent.FaultBlackhole, ExitFinding, "",
			`"error": "join meeting m-1: no datacenter reachable`},
		{"every datacenter pinned", append(base, "--pin-deny", "US,NL"), false, agent.FaultNone, ExitFinding, "every datacenter of the ticket is in a country the client refuses", "pinned"},
		{"no --directory", []string{"--meeting", "m", "--account", "a"}, false, agent.FaultNone, ExitUsage, "geofence join: --directory is required", ""},
		{"no --account", []string{"--directory", w.url, "--meeting", "m"}, false, agent.FaultNone, ExitUsage, "geofence join: --account is required", ""},
		{"bad --client-ip", append(base, "--client-ip", "here"), false, agent.FaultNone, ExitUsage, `--client-ip: "here" is not an IP address`, ""},
		{"bad --pin-deny", append(base, "--pin-deny", "USA"), false, agent.FaultNone, ExitUsage, `pinned country "USA"`, ""},
		{"plain http directory", []string{"--directory", "http://directory.example", "--meeting", "m", "--account", "a"}, false, agent.FaultNone, ExitUsage, "https", ""},
		{"stray argument", append(base, "extra"), false, agent.FaultNone, ExitUsage, `unexpected arguments ["extra"]`, ""},
		{"help", []string{"-h"}, false, agent.FaultNone, ExitOK, "usage: geofence join --directory URL", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w.mu.Lock()
			w.refuse = tt.refuse
			w.mu.Unlock()
			for _, a := range w.agents {
				a.SetFault(tt.fault)
			}
			code, stdout, stderr := runCmd(t.Context(), runJoin, tt.args...)
			if code != tt.wantCode {
				t.Errorf("got exit %d, want %d; stderr:\n%s", code, tt.wantCode, stderr)
			}
			if !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("got stderr\n%s\nwant it to contain %q", stderr, tt.wantStderr)
			}
			if !strings.Contains(stdout, tt.wantStdout) {
				t.Errorf("got stdout\n%s\nwant it to contain %q", stdout, tt.wantStdout)
			}
		})
	}
	for _, a := range w.agents {
		a.SetFault(agent.FaultNone)
	}
}

// TestJoinCommandHold: `geofence join --hold` keeps its session with heartbeats while the
// agent's (fake) clock moves past its session TTL several times, and ends early, exit 1,
// when another join of the same participant replaces it.
func TestJoinCommandHold(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	reg := prometheus.NewRegistry()
	// A TTL of a second: the command heartbeats every third of it.
	w := newJoinWorldWith(t, func(c *agent.Config) { c.SessionTTL, c.Now, c.Registry = time.Second, clock, reg }, []string{"us-sjc"}, nil)
	a := w.agents["us-sjc"]
	heartbeats := func() float64 {
		fams, _ := reg.Gather()
		for _, f := range fams {
			if f.GetName() != "geofence_agent_heartbeats_total" {
				continue
			}
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "outcome" && l.GetValue() == "ok" {
						return m.GetCounter().GetValue()
					}
				}
			}
		}
		return 0
	}
	// waitFor polls cond, a bound on a broken test only.
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %s within a minute", what)
			}
		}
	}
	args := []string{"--directory", w.url, "--meeting", "m-1", "--account", "globex", "--participant", "bob", "--no-key"}
	type result struct {
		code           int
		stdout, stderr string
	}
	held := make(chan result, 1)
	go func() {
		code, stdout, stderr := runCmd(t.Context(), runJoin, append(args, "--hold", "1h")...)
		held <- result{code, stdout, stderr}
	}()
	waitFor("connect", func() bool { return a.Participants() == 1 })
	for i := range 3 {
		mu.Lock()
		now = now.Add(900 * time.Millisecond) // most of the TTL
		mu.Unlock()
		// The second heartbeat counted after the advance was sent after it.
		before := heartbeats()
		waitFor("heartbeat", func() bool { return heartbeats() >= before+2 })
		if n := a.Participants(); n != 1 {
			t.Fatalf("after %d TTLs of agent time: got %d participants, want the held session", i+1, n)
		}
	}
	// A second join of bob replaces the held session, then leaves.
	if code, _, stderr := runCmd(t.Context(), runJoin, args...); code != ExitOK {
		t.Fatalf("second join: exit %d, stderr:\n%s", code, stderr)
	}
	select {
	case r := <-held:
		if r.code != ExitFinding || !strings.Contains(r.stderr, "the session at us-sjc ended") {
			t.Errorf("held join: got exit %d, stderr:\n%s\nwant exit 1 saying the session ended", r.code, r.stderr)
		}
		if !strings.HasPrefix(r.stdout, "connected to us-sjc") {
			t.Errorf("held join: got stdout %q", r.stdout)
		}
	case <-time.After(time.Minute):
		t.Fatal("the held join did not end after its session was replaced")
	}
	if n := a.Participants(); n != 0 {
		t.Errorf("got %d participants at the end, want 0", n)
	}
}
