package agent

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geofence/geofence/internal/httpserve"
	"github.com/geofence/geofence/internal/leaktest"
	"github.com/geofence/geofence/ticket"
	"github.com/geofence/geofence/wire"
	"github.com/prometheus/client_golang/prometheus"
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
				want := []string{}
				if tt.wantRule != "" {
					want = []string{tt.wantRule}
				}
				if !strings.Contains(got.raw, `"rules":[`) || !slices.Equal(got.err.Rules, want) {
					t.Errorf("got rules %q in %s, want %q", got.err.Rules, got.raw, want)
				}
			} else if strings.Contains(got.raw, `"rules"`) {
				t.Errorf("a %d answer carries rules: %s", got.status, got.raw)
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
			if got.status != http.StatusBadRequest || got.err.Error != wire.CodeBadRequest {
				t.Errorf("got %d %q, want 400 %q", got.status, got.err.Error, wire.CodeBadRequest)
			}
		})
	}
	// A participant body ignores the members it does not know: a newer client works.
	tok := ks.sign(t, naClaims(m, []string{"us-sjc"}, nil))
	if got := post(t, hc, base+ConnectPath, `{"token":"`+tok+`","codecs":["vp8"],"v":2}`); got.status != http.StatusOK {
		t.Errorf("connect with unknown members: got %d %s, want 200", got.status, got.raw)
	}
	for _, path := range []string{HeartbeatPath, DisconnectPath} {
		for _, body := range []string{"", "{}", `{"session":""}`, `{"session":1}`, `{"session":"a"}{}`} {
			if got := post(t, hc, base+path, body); got.status != http.StatusBadRequest || got.err.Error != wire.CodeBadRequest {
				t.Errorf("%s %q: got %d %q, want 400 %q", path, body, got.status, got.err.Error, wire.CodeBadRequest)
			}
		}
		if got := post(t, hc, base+path, `{"session":"nope","extra":true}`); got.status != http.StatusNotFound || got.err.Error != wire.CodeUnknownSession {
			t.Errorf("%s with unknown members: got %d %s, want 404 %s", path, got.status, got.raw, wire.CodeUnknownSession)
		}
	}
}

// participantClaims is naClaims for another participant.
func participantClaims(c wire.Claims, participant string) wire.Claims {
	c.Participant = participant
	return c
}

// TestSessions is a time-stepped scenario on the fake clock: one session per participant and
// meeting, replaced by a second connect; sessions renewed by heartbeats and expired without
// them; each change seen in Participants, /healthz and the metrics.
func TestSessions(t *testing.T) {
	leaktest.Check(t)
	const ttl = 30 * time.Second
	m := loadModel(t, "../examples/world.yaml")
	ks := newKeyServer(t)
	clk := newClock()
	reg := prometheus.NewRegistry()
	a := newAgent(t, Config{ID: "us-sjc", Model: m, Keys: ks.remoteKeys(t), Now: clk.Now, SessionTTL: ttl, Registry: reg})
	base := startAgent(t, a)
	hc := testClient(t, 30*time.Second)
	c := naClaims(m, []string{"us-sjc"}, nil)
	aliceTok := ks.sign(t, c)
	aliceTok2 := ks.sign(t, c) // another ticket, the same participant
	bobTok := ks.sign(t, participantClaims(c, "bob"))
	other := c
	other.Account, other.Context.HostAccount = "initech", "initech" // another account's "alice"
	otherAliceTok := ks.sign(t, other)
	otherMeeting := c
	otherMeeting.Meeting = "m-2"
	aliceM2Tok := ks.sign(t, otherMeeting)

	sessions := map[string]string{} // name -> session id
	steps := []struct {
		name    string
		advance time.Duration
		op      string // connect, heartbeat, disconnect or "" (only check)
		token   string // connect
		save    string // connect: the name of the session
		session string // heartbeat, disconnect: the name of the session
		want    int    // status
		wantN   int    // participants after
	}{
		{name: "alice connects", op: "connect", token: aliceTok, save: "alice-1", want: 200, wantN: 1},
		{name: "the same ticket again replaces her session", op: "connect", token: aliceTok, save: "alice-2", want: 200, wantN: 1},
		{name: "the replaced session's heartbeat fails", op: "heartbeat", session: "alice-1", want: 404, wantN: 1},
		{name: "the replaced session cannot disconnect the new one", op: "disconnect", session: "alice-1", want: 404, wantN: 1},
		{name: "another ticket of hers replaces it too", op: "connect", token: aliceTok2, save: "alice-3", want: 200, wantN: 1},
		{name: "bob connects", op: "connect", token: bobTok, save: "bob", want: 200, wantN: 2},
		{name: "another account's alice is someone else", op: "connect", token: otherAliceTok, save: "other-alice", want: 200, wantN: 3},
		{name: "alice in another meeting is another session", op: "connect", token: aliceM2Tok, save: "alice-m2", want: 200, wantN: 4},
		{name: "alice's m-2 session leaves", op: "disconnect", session: "alice-m2", want: 204, wantN: 3},
		{name: "20 s later alice heartbeats", advance: 20 * time.Second, op: "heartbeat", session: "alice-3", want: 204, wantN: 3},
		{name: "bob and the other alice expire at 30 s", advance: 10 * time.Second, wantN: 1},
		{name: "bob's heartbeat comes too late", op: "heartbeat", session: "bob", want: 404, wantN: 1},
		{name: "alice is alive 29 s after her heartbeat, and heartbeats", advance: 19 * time.Second, op: "heartbeat", session: "alice-3", want: 204, wantN: 1},
		{name: "alice is renewed from then", advance: 29 * time.Second, wantN: 1},
		{name: "alice expires", advance: time.Second, wantN: 0},
		{name: "an expired session cannot disconnect", op: "disconnect", session: "alice-3", want: 404, wantN: 0},
		{name: "alice connects again", op: "connect", token: aliceTok, save: "alice-4", want: 200, wantN: 1},
		{name: "and disconnects", op: "disconnect", session: "alice-4", want: 204, wantN: 0},
	}
	for _, s := range steps {
		clk.Advance(s.advance)
		var got answer
		switch s.op {
		case "connect":
			got = connect(t, hc, base, s.token)
			if got.status == http.StatusOK {
				sessions[s.save] = got.connect.Session
				if got.connect.SessionTTL != 30 {
					t.Errorf("%s: got session_ttl %d, want 30", s.name, got.connect.SessionTTL)
				}
			}
		case "heartbeat", "disconnect":
			path := HeartbeatPath
			if s.op == "disconnect" {
				path = DisconnectPath
			}
			got = post(t, hc, base+path, wire.Session{Session: sessions[s.session]})
			if got.status == http.StatusNotFound && got.err.Error != wire.CodeUnknownSession {
				t.Errorf("%s: got error %q, want %q", s.name, got.err.Error, wire.CodeUnknownSession)
			}
		}
		if s.op != "" && got.status != s.want {
			t.Errorf("%s: got status %d (%s), want %d", s.name, got.status, got.raw, s.want)
		}
		if n := a.Participants(); n != s.wantN {
			t.Errorf("%s: got %d participants, want %d", s.name, n, s.wantN)
		}
		if h := health(t, hc, base); h != s.wantN {
			t.Errorf("%s: healthz says %d participants, want %d", s.name, h, s.wantN)
		}
		if g := value(t, reg, "geofence_agent_participants", nil); g != float64(s.wantN) {
			t.Errorf("%s: gauge says %v participants, want %d", s.name, g, s.wantN)
		}
	}
	seen := map[string]bool{}
	for name, id := range sessions {
		if seen[id] || len(id) < 22 {
			t.Errorf("session %s: id %q is short or seen before", name, id)
		}
		seen[id] = true
	}
	for _, tt := range []struct {
		metric string
		labels map[string]string
		want   float64
	}{
		{"geofence_agent_sessions_replaced_total", nil, 2},
		{"geofence_agent_sessions_expired_total", nil, 3},
		{"geofence_agent_admissions_total", map[string]string{"outcome": OutcomeAdmitted}, 7},
		{"geofence_agent_heartbeats_total", map[string]string{"outcome": "ok"}, 2},
		{"geofence_agent_heartbeats_total", map[string]string{"outcome": wire.CodeUnknownSession}, 2},
	} {
		if got := value(t, reg, tt.metric, tt.labels); got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.metric, tt.labels, got, tt.want)
		}
	}
}

func health(t *testing.T, hc *http.Client, base string) int {
	t.Helper()
	var h struct {
		Participants int `json:"participants"`
	}
	resp, err := hc.Get(base + HealthPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %d, %v", resp.StatusCode, err)
	}
	return h.Participants
}

// TestReplay: one ticket replayed many times, concurrently, holds one session.
func TestReplay(t *testing.T) {
	leaktest.Check(t)
	m := loadModel(t, "../examples/world.yaml")
	ks := newKeyServer(t)
	reg := prometheus.NewRegistry()
	a := newAgent(t, Config{ID: "us-sjc", Model: m, Keys: ks.remoteKeys(t), Registry: reg})
	base := startAgent(t, a)
	hc := testClient(t, 30*time.Second)
	tok := ks.sign(t, naClaims(m, []string{"us-sjc"}, nil))
	const workers, each = 8, 25
	errs := make(chan error, workers)
	for range workers {
		go func() {
			for range each {
				resp, err := hc.Post(base+ConnectPath, "application/json", strings.NewReader(`{"token":"`+tok+`"}`))
				if err != nil {
					errs <- err
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs <- fmt.Errorf("got %s", resp.Status)
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := a.Participants(); n != 1 {
		t.Errorf("got %d participants after %d connects with one ticket, want 1", n, workers*each)
	}
	if got := value(t, reg, "geofence_agent_sessions_replaced_total", nil); got != workers*each-1 {
		t.Errorf("got %v replaced, want %d", got, workers*each-1)
	}
}

// TestNoCapacity: a full datacenter refuses explicitly, with a retry hint (I4); a participant
// who holds a session there replaces it even when full.
func TestNoCapacity(t *testing.T) {
	leaktest.Check(t)
	m := loadModel(t, "testdata/small.yaml") // us-tiny: capacity 2
	ks := newKeyServer(t)
	base := startAgent(t, newAgent(t, Config{ID: "us-tiny", Model: m, Keys: ks.remoteKeys(t)}))
	hc := testClient(t, 30*time.Second)
	c := naClaims(m, []string{"us-tiny"}, nil)
	c.Home, c.Account, c.Context.HostAccount = "us-tiny", "a", "a"
	tok := func(p string) string { return ks.sign(t, participantClaims(c, p)) }
	alice, bob, carol := tok("alice"), tok("bob"), tok("carol")

	var first string
	for i, step := range []struct {
		token string
		want  int
	}{{alice, 200}, {bob, 200}, {carol, 503}, {alice, 200}, {carol, 503}} {
		got := connect(t, hc, base, step.token)
		if got.status != step.want {
			t.Fatalf("connect %d: got %d (%s), want %d", i, got.status, got.raw, step.want)
		}
		if i == 1 {
			first = got.connect.Session
		}
		if step.want == 503 && (got.err.Error != wire.CodeNoCapacity || got.header.Get("Retry-After") == "" || got.err.RetryAfter == 0) {
			t.Errorf("got %q with Retry-After %q (%d), want %q with a retry hint", got.err.Error, got.header.Get("Retry-After"), got.err.RetryAfter, wire.CodeNoCapacity)
		}
	}
	if got := post(t, hc, base+DisconnectPath, wire.Session{Session: first}); got.status != http.StatusNoContent {
		t.Fatalf("disconnect: got %d", got.status)
	}
	if got := connect(t, hc, base, carol); got.status != http.StatusOK {
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
		{"session ttl under a second", Config{ID: "us-sjc", Model: m, Keys: keys, SessionTTL: time.Millisecond}, "less than a second"},
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

// TestSlowBodyCutOff: the agent's HTTP server is bounded (package httpserve): a connect whose
// body trickles in is cut off after the read timeout, and counted.
func TestSlowBodyCutOff(t *testing.T) {
	leaktest.Check(t)
	m := loadModel(t, "../examples/world.yaml")
	reg := prometheus.NewRegistry()
	a := newAgent(t, Config{ID: "us-sjc", Model: m, Keys: staticKeys{}, Registry: reg,
		HTTP: httpserve.Options{ReadTimeout: 200 * time.Millisecond}})
	base := startAgent(t, a)
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute)) // a bound on a broken test only
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 30000\r\n\r\n{\"token\":\"", ConnectPath)
	go func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for range tick.C {
			if _, err := c.Write([]byte("A")); err != nil {
				return
			}
		}
	}()
	got, _ := io.ReadAll(c) // until the agent closes the connection
	if strings.Contains(string(got), "200 OK") {
		t.Errorf("got %q, want the connect cut off", got)
	}
	labels := map[string]string{"server": "agent/us-sjc", "phase": "request"}
	deadline := time.Now().Add(time.Minute)
	for value(t, reg, "geofence_http_timeouts_total", labels) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("geofence_http_timeouts_total%v = %v, want 1", labels, value(t, reg, "geofence_http_timeouts_total", labels))
		}
		time.Sleep(time.Millisecond)
	}
}

// TestMediaSessions: a media session (Hold, the media server's) and an HTTP session are one
// session per participant and meeting, in either order, within the datacenter's capacity.
func TestMediaSessions(t *testing.T) {
	leaktest.Check(t)
	m := loadModel(t, "testdata/small.yaml") // us-tiny: capacity 2
	ks := newKeyServer(t)
	a := newAgent(t, Config{ID: "us-tiny", Model: m, Keys: ks.remoteKeys(t)})
	base := startAgent(t, a)
	hc := testClient(t, 30*time.Second)
	c := naClaims(m, []string{"us-tiny"}, nil)
	c.Home, c.Account, c.Context.HostAccount = "us-tiny", "a", "a"
	claims := func(p string) *wire.Claims { x := participantClaims(c, p); return &x }

	// alice's HTTP session, then her media session: the media one replaces it.
	httpAlice := connect(t, hc, base, ks.sign(t, *claims("alice")))
	if httpAlice.status != http.StatusOK {
		t.Fatalf("connect: %d %s", httpAlice.status, httpAlice.raw)
	}
	var ended atomic.Int32
	releaseAlice, ref := a.Hold(claims("alice"), func() { ended.Add(1) })
	if ref != nil {
		t.Fatalf("hold alice: %v", ref)
	}
	if got := post(t, hc, base+HeartbeatPath, wire.Session{Session: httpAlice.connect.Session}); got.status != http.StatusNotFound {
		t.Errorf("heartbeat of the replaced HTTP session: %d, want 404", got.status)
	}
	// bob fills the datacenter; carol is refused (I4).
	releaseBob, ref := a.Hold(claims("bob"), func() {})
	if ref != nil {
		t.Fatalf("hold bob: %v", ref)
	}
	if _, ref := a.Hold(claims("carol"), func() {}); ref == nil || ref.Code != wire.CodeNoCapacity || ref.Status != http.StatusServiceUnavailable {
		t.Errorf("hold carol in a full datacenter: %v, want 503 no_capacity", ref)
	}
	releaseBob()
	releaseBob() // idempotent
	if _, ref := a.Hold(claims("carol"), func() {}); ref != nil {
		t.Errorf("hold carol after bob left: %v", ref)
	}
	// alice's HTTP connect again replaces her media session, whose end is called.
	if got := connect(t, hc, base, ks.sign(t, *claims("alice"))); got.status != http.StatusOK {
		t.Fatalf("connect again: %d %s", got.status, got.raw)
	}
	if n := ended.Load(); n != 1 {
		t.Errorf("alice's media session ended %d times, want once", n)
	}
	releaseAlice() // her media session is gone already: the HTTP one stays
	if n := a.Participants(); n != 2 {
		t.Errorf("participants = %d, want alice (HTTP) and carol (media)", n)
	}
}
