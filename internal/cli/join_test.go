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
		w.agents[id] = startTestAgent(t, m, id, keys, endpoints)
	}
	return w
}

func startTestAgent(t *testing.T, m *policy.Model, id string, keys admission.TicketVerifier, endpoints map[string]string) *agent.Agent {
	t.Helper()
	a, err := agent.New(agent.Config{ID: id, Model: m, Keys: keys})
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
