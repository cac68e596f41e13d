package agent

import (
	"encoding/base64"
	"encoding/json"
	"github.com/geofence/geofence/wire"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/geofence/geofence/internal/leaktest"

	"github.com/geofence/geofence/ticket"
)

// TestConnect is the admission decision, on the April 2020 config: the lists are wrong there
// on purpose, and the agents must refuse what the rules forbid whatever a signed ticket says.
func TestConnect(t *testing.T) {
	leaktest.Check(t)
	m := loadModel(t, "../examples/april-2020.yaml")
	ks := newKeyServer(t)
	rk := ks.remoteKeys(t)
	base := map[string]string{}
	for _, id := range []string{"us-sjc", "cn-pek", "us-gov-east", "eu-ams"} {
		base[id] = startAgent(t, newAgent(t, Config{ID: id, Model: m, Keys: rk}))
	}
	hc := testClient(t, 30*time.Second)

	// Signers of the other tokens: unknown keys; the same keys under another issuer; the same
	// keys and issuer an hour ago.
	forger, err := ticket.NewSigner(testIssuer, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	evil, err := ticket.NewSigner("https://evil.test", detRand(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	past, err := ticket.NewSigner(testIssuer, detRand(1), func() time.Time { return time.Now().Add(-time.Hour) })
	if err != nil {
		t.Fatal(err)
	}

	na := func(edit func(*wire.Claims)) string {
		c := naClaims(m, []string{"us-sjc", "us-den"}, []string{"eu-ams", "cn-pek"})
		if edit != nil {
			edit(&c)
		}
		return ks.sign(t, c)
	}
	gov := func(c *wire.Claims) {
		c.Account, c.Context.ParticipantPlan, c.Context.HostAccount, c.Context.HostPlan = "us-treasury", "government", "us-treasury", "government"
	}

	tests := []struct {
		name       string
		dc         string
		token      string
		wantStatus int
		wantCode   string
		wantRule   string
		wantInMsg  string
	}{
		{"primary", "us-sjc", na(nil), 200, "", "", ""},
		{"secondary", "eu-ams", na(nil), 200, "", "", ""},
		{"china meeting in beijing", "cn-pek", na(func(c *wire.Claims) {
			c.Region, c.Home = "cn", "cn-pek"
			c.Primary = []wire.DC{{ID: "cn-pek", Country: "CN"}}
			c.Secondary = nil
			c.Context = wire.Context{ParticipantCountry: "CN", ParticipantRegion: "cn", ParticipantPlan: "enterprise",
				MeetingRegion: "cn", HostAccount: "tsinghua-media", HostPlan: "enterprise"}
		}), 200, "", "", ""},
		{"government in a government dc", "us-gov-east", na(func(c *wire.Claims) {
			gov(c)
			c.Home = "us-gov-east"
			c.Primary = []wire.DC{{ID: "us-gov-east", Country: "US"}}
		}), 200, "", "", ""},

		{"signed by another key", "us-sjc", mustSign(t, forger, naClaims(m, []string{"us-sjc"}, nil), time.Minute), 401, "invalid_ticket", "", "unknown signing key"},
		{"payload swapped under a valid signature", "us-sjc", swapPayload(t, na(nil), naClaims(m, []string{"us-sjc"}, nil)), 401, "invalid_ticket", "", "signature"},
		{"expired", "us-sjc", mustSign(t, past, naClaims(m, []string{"us-sjc"}, nil), time.Minute), 401, "invalid_ticket", "", "expired"},
		{"wrong issuer", "us-sjc", mustSign(t, evil, naClaims(m, []string{"us-sjc"}, nil), time.Minute), 401, "invalid_ticket", "", "iss"},
		{"not a token", "us-sjc", "hello", 401, "invalid_ticket", "", ""},

		{"not listed", "us-sjc", na(func(c *wire.Claims) {
			c.Primary = []wire.DC{{ID: "us-den", Country: "US"}}
		}), 403, "not_listed", "", "does not list datacenter us-sjc"},
		{"listed as key server only", "us-sjc", na(func(c *wire.Claims) {
			c.Primary = []wire.DC{{ID: "us-den", Country: "US"}}
			c.KMS = []wire.DC{{ID: "us-sjc", Country: "US"}}
		}), 403, "not_listed", "", ""},

		// April 2020: Beijing on North America's backup list. The directory (with this config)
		// listed it; the agent in Beijing still refuses a North American participant.
		{"april 2020: north american participant in beijing", "cn-pek", na(nil), 403, "residency_conflict", "nothing-else-enters-china", "cn-pek"},
		{"home dc forbidden", "us-sjc", na(func(c *wire.Claims) { c.Home = "cn-pek" }), 403, "residency_conflict", "nothing-else-enters-china", "home datacenter cn-pek"},
		{"home dc unknown", "us-sjc", na(func(c *wire.Claims) { c.Home = "xx-nowhere" }), 403, "residency_conflict", "", "xx-nowhere"},
		{"country placed in the wrong region", "us-sjc", na(func(c *wire.Claims) { c.Context.ParticipantCountry = "CN" }), 403, "residency_conflict", "", "region cn"},
		{"chinese participant in a us dc", "us-sjc", na(func(c *wire.Claims) {
			c.Context.ParticipantCountry, c.Context.ParticipantRegion = "CN", "cn"
		}), 403, "residency_conflict", "china-stays-in-china", ""},
		{"outside the host's data regions", "eu-ams", na(func(c *wire.Claims) {
			c.Context.HostAccount, c.Context.HostPlan, c.Context.HostDataRegions = "acme", "enterprise", []string{"na"}
		}), 403, "residency_conflict", "", "data regions"},
		{"unknown plan", "us-sjc", na(func(c *wire.Claims) { c.Context.ParticipantPlan = "platinum" }), 403, "residency_conflict", "", "unknown"},

		{"basic plan in a government dc", "us-gov-east", na(func(c *wire.Claims) {
			c.Primary = []wire.DC{{ID: "us-gov-east", Country: "US"}}
		}), 403, "plan_conflict", "", "us-gov-east"},
		{"government plan in a general dc", "us-sjc", na(gov), 403, "plan_conflict", "", "government"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := connect(t, hc, base[tt.dc], tt.token)
			if got.status != tt.wantStatus {
				t.Fatalf("got status %d (%s), want %d", got.status, got.raw, tt.wantStatus)
			}
			if got.status == http.StatusOK {
				if got.connect.Datacenter != tt.dc || got.connect.Participant == "" || len(got.connect.Session) < 22 {
					t.Errorf("got %+v, want datacenter %s, a participant and a 128-bit session", got.connect, tt.dc)
				}
				return
			}
			if got.err.Error != tt.wantCode {
				t.Errorf("got error %q (%s), want %q", got.err.Error, got.err.Message, tt.wantCode)
			}
			if tt.wantStatus == http.StatusForbidden {
				if got.err.Rule == nil {
					t.Errorf("got no rule member in %s, want one", got.raw)
				} else if *got.err.Rule != tt.wantRule {
					t.Errorf("got rule %q, want %q", *got.err.Rule, tt.wantRule)
				}
			}
			if !strings.Contains(got.err.Message, tt.wantInMsg) {
				t.Errorf("got message %q, want it to say %q", got.err.Message, tt.wantInMsg)
			}
		})
	}
}

// swapPayload puts the claims c in place of tok's payload, keeping its header and signature.
func swapPayload(t *testing.T, tok string, c wire.Claims) string {
	t.Helper()
	c.Issuer, c.ID = testIssuer, "AAAAAAAAAAAAAAAAAAAAAA"
	c.IssuedAt = time.Now().Truncate(time.Second)
	c.NotBefore, c.Expiry = c.IssuedAt, c.IssuedAt.Add(time.Hour)
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
}

func TestConnectBadRequest(t *testing.T) {
	leaktest.Check(t)
	m := loadModel(t, "../examples/world.yaml")
	ks := newKeyServer(t)
	base := startAgent(t, newAgent(t, Config{ID: "us-sjc", Model: m, Keys: ks.remoteKeys(t)}))
	hc := testClient(t, 30*time.Second)
	tests := []struct {
		name string
		body string
	}{
		{"empty", ""},
		{"not json", "token=abc"},
		{"no token", "{}"},
		{"empty token", `{"token":""}`},
		{"token not a string", `{"token":42}`},
		{"two objects", `{"token":"a"}{"token":"b"}`},
		{"array", `["token"]`},
		{"too large", `{"token":"` + strings.Repeat("A", maxBody) + `"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := post(t, hc, base+ConnectPath, tt.body)
			if got.status != http.StatusBadRequest || got.err.Error != OutcomeBadRequest {
				t.Errorf("got %d %q, want 400 %q", got.status, got.err.Error, OutcomeBadRequest)
			}
		})
	}
}

func TestParticipants(t *testing.T) {
	leaktest.Check(t)
	m := loadModel(t, "../examples/world.yaml")
	ks := newKeyServer(t)
	a := newAgent(t, Config{ID: "us-sjc", Model: m, Keys: ks.remoteKeys(t)})
	base := startAgent(t, a)
	hc := testClient(t, 30*time.Second)
	tok := ks.sign(t, naClaims(m, []string{"us-sjc"}, nil))

	var sessions []string
	for i := range 3 {
		got := connect(t, hc, base, tok)
		if got.status != http.StatusOK {
			t.Fatalf("connect %d: got %d %s", i, got.status, got.raw)
		}
		sessions = append(sessions, got.connect.Session)
	}
	if sessions[0] == sessions[1] || sessions[1] == sessions[2] {
		t.Fatalf("got sessions %q, want distinct ids", sessions)
	}

	steps := []struct {
		name       string
		session    any
		wantStatus int
		want       int
	}{
		{"after three connects", nil, 0, 3},
		{"disconnect one", DisconnectRequest{Session: sessions[0]}, http.StatusNoContent, 2},
		{"disconnect it again", DisconnectRequest{Session: sessions[0]}, http.StatusNotFound, 2},
		{"unknown session", DisconnectRequest{Session: "nope"}, http.StatusNotFound, 2},
		{"bad body", "{", http.StatusBadRequest, 2},
		{"disconnect another", DisconnectRequest{Session: sessions[2]}, http.StatusNoContent, 1},
	}
	for _, s := range steps {
		if s.session != nil {
			if got := post(t, hc, base+DisconnectPath, s.session); got.status != s.wantStatus {
				t.Errorf("%s: got status %d (%s), want %d", s.name, got.status, got.raw, s.wantStatus)
			}
		}
		if got := a.Participants(); got != s.want {
			t.Errorf("%s: got %d participants, want %d", s.name, got, s.want)
		}
		var h struct {
			Participants int `json:"participants"`
		}
		resp, err := hc.Get(base + HealthPath)
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&h)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || h.Participants != s.want {
			t.Errorf("%s: healthz says %d participants (status %d, %v), want %d", s.name, h.Participants, resp.StatusCode, err, s.want)
		}
	}
}

// TestNoCapacity: a full datacenter refuses explicitly, with a retry hint (I4).
func TestNoCapacity(t *testing.T) {
	leaktest.Check(t)
	m := loadModel(t, "testdata/small.yaml") // us-tiny: capacity 2
	ks := newKeyServer(t)
	base := startAgent(t, newAgent(t, Config{ID: "us-tiny", Model: m, Keys: ks.remoteKeys(t)}))
	hc := testClient(t, 30*time.Second)
	c := naClaims(m, []string{"us-tiny"}, nil)
	c.Home, c.Account, c.Context.HostAccount = "us-tiny", "a", "a"
	tok := ks.sign(t, c)

	var first string
	for i, want := range []int{200, 200, 503} {
		got := connect(t, hc, base, tok)
		if got.status != want {
			t.Fatalf("connect %d: got %d (%s), want %d", i, got.status, got.raw, want)
		}
		if i == 0 {
			first = got.connect.Session
		}
		if want == 503 && (got.err.Error != OutcomeNoCapacity || got.header.Get("Retry-After") == "") {
			t.Errorf("got %q with Retry-After %q, want %q with a Retry-After", got.err.Error, got.header.Get("Retry-After"), OutcomeNoCapacity)
		}
	}
	if got := post(t, hc, base+DisconnectPath, DisconnectRequest{Session: first}); got.status != http.StatusNoContent {
		t.Fatalf("disconnect: got %d", got.status)
	}
	if got := connect(t, hc, base, tok); got.status != http.StatusOK {
		t.Errorf("connect after a disconnect: got %d (%s), want 200", got.status, got.raw)
	}
}

func TestNew(t *testing.T) {
	m := loadModel(t, "../examples/world.yaml")
	keys := staticKeys{}
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"ok", Config{ID: "us-sjc", Model: m, Keys: keys}, ""},
		{"no model", Config{ID: "us-sjc", Keys: keys}, "no policy model"},
		{"no keys", Config{ID: "us-sjc", Model: m}, "no ticket verifier"},
		{"unknown dc", Config{ID: "xx-nowhere", Model: m, Keys: keys}, `"xx-nowhere" is not in the config`},
		{"empty id", Config{Model: m, Keys: keys}, `"" is not in the config`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got error %v, want one saying %q", err, tt.wantErr)
			}
		})
	}
}
