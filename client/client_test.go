package client

import (
	"context"
	"errors"
	"fmt"
	"github.com/geofence/geofence/wire"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/geofence/geofence/internal/leaktest"

	"github.com/geofence/geofence/agent"
	"github.com/geofence/geofence/ticket"
)

// TestJoin joins through a fake directory and real DC agents on loopback, with some of them
// failing. Stagger and timeouts are short; nothing is asserted about durations but the
// order of events and the stagger's lower bound.
func TestJoin(t *testing.T) {
	const stagger = 50 * time.Millisecond
	type want struct {
		dc, list, outcome string
	}
	tests := []struct {
		name       string
		primary    []string
		secondary  []string
		faults     map[string]agent.Fault
		cfg        Config
		wantWinner string
		want       []want
		check      func(t *testing.T, as []Attempt)
	}{
		{
			name: "first primary", primary: naPrimary, secondary: naSecondary,
			cfg:        Config{Stagger: stagger, AttemptTimeout: 10 * time.Second},
			wantWinner: "us-sjc",
			want:       []want{{"us-sjc", "primary", "connected"}},
		},
		{
			name: "primaries black-holed: a secondary", primary: naPrimary, secondary: naSecondary,
			faults: map[string]agent.Fault{"us-sjc": agent.FaultBlackhole, "us-den": agent.FaultBlackhole, "us-nyc": agent.FaultBlackhole},
			cfg:    Config{Stagger: stagger, AttemptTimeout: 300 * time.Millisecond},
			want: []want{
				{"us-sjc", "primary", "timeout"}, {"us-den", "primary", "timeout"}, {"us-nyc", "primary", "timeout"},
				{"eu-ams", "secondary", "*"}, {"eu-fra", "secondary", "*"},
			},
			check: secondariesAfterPrimaries,
		},
		{
			// Stagger and timeout of an hour: only failures chaining at once can finish this.
			name: "primaries refusing: a secondary at once", primary: naPrimary, secondary: naSecondary,
			faults: map[string]agent.Fault{"us-sjc": agent.FaultRefuse, "us-den": agent.FaultRefuse, "us-nyc": agent.FaultRefuse},
			cfg:    Config{Stagger: time.Hour, AttemptTimeout: time.Hour},
			want: []want{
				{"us-sjc", "primary", "error"}, {"us-den", "primary", "error"}, {"us-nyc", "primary", "error"},
				{"eu-ams", "secondary", "*"}, {"eu-fra", "secondary", "*"},
			},
			check: secondariesAfterPrimaries,
		},
		{
			name: "stagger: first primary black-holed, the second wins", primary: naPrimary, secondary: naSecondary,
			faults:     map[string]agent.Fault{"us-sjc": agent.FaultBlackhole},
			cfg:        Config{Stagger: stagger, AttemptTimeout: 10 * time.Second},
			wantWinner: "us-den",
			want:       []want{{"us-sjc", "primary", "canceled"}, {"us-den", "primary", "connected"}},
			check: func(t *testing.T, as []Attempt) {
				// The second started a stagger after the first, while the first was still on.
				if as[1].Started < as[0].Started+stagger {
					t.Errorf("us-den started at %v, want at least a stagger (%v) after us-sjc (%v)", as[1].Started, stagger, as[0].Started)
				}
				if end0 := as[0].Started + as[0].Elapsed; end0 < as[1].Started+as[1].Elapsed {
					t.Errorf("us-sjc ended at %v, before us-den won at %v: it was not kept alive", end0, as[1].Started+as[1].Elapsed)
				}
			},
		},
		{
			// The DC agent refuses what its policy forbids, even when the ticket lists it.
			name: "primary refuses by policy", primary: []string{"us-gov-east", "us-sjc"}, secondary: naSecondary,
			cfg:        Config{Stagger: time.Hour, AttemptTimeout: time.Hour},
			wantWinner: "us-sjc",
			want:       []want{{"us-gov-east", "primary", "refused"}, {"us-sjc", "primary", "connected"}},
			check: func(t *testing.T, as []Attempt) {
				if as[0].Code != "plan_conflict" {
					t.Errorf("us-gov-east refused with %q, want plan_conflict", as[0].Code)
				}
			},
		},
		{
			name: "pin-deny drops a datacenter", primary: []string{"us-sjc", "us-den"}, secondary: naSecondary,
			faults:     map[string]agent.Fault{"us-sjc": agent.FaultRefuse, "us-den": agent.FaultRefuse},
			cfg:        Config{Stagger: time.Hour, AttemptTimeout: time.Hour, PinDeny: []string{"nl"}},
			wantWinner: "eu-fra",
			want: []want{
				{"eu-ams", "secondary", "pinned"},
				{"us-sjc", "primary", "error"}, {"us-den", "primary", "error"},
				{"eu-fra", "secondary", "connected"},
			},
		},
		{
			name: "pin-deny drops every primary: the secondaries at once", primary: naPrimary, secondary: naSecondary,
			cfg: Config{Stagger: time.Hour, AttemptTimeout: time.Hour, PinDeny: []string{"US"}},
			want: []want{
				{"us-sjc", "primary", "pinned"}, {"us-den", "primary", "pinned"}, {"us-nyc", "primary", "pinned"},
				{"eu-ams", "secondary", "*"}, {"eu-fra", "secondary", "*"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leaktest.Check(t)
			w := newWorld(t, slices.Concat(tt.primary, tt.secondary)...)
			w.dir.set(tt.primary, tt.secondary)
			for id, f := range tt.faults {
				w.agents[id].SetFault(f)
			}
			c := w.client(t, tt.cfg)
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			res, err := c.Join(ctx, "m-1", "globex", "alice", "pk-alice")
			if err != nil {
				t.Fatalf("Join: %v", err)
			}
			var got []want
			for _, a := range res.Attempts {
				got = append(got, want{a.Datacenter, a.List, a.Outcome})
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got attempts %v, want %v", got, tt.want)
			}
			for i := range got {
				if w := tt.want[i]; got[i] != w && !(w.outcome == "*" && got[i].dc == w.dc && got[i].list == w.list) {
					t.Errorf("attempt %d: got %v, want %v", i, got[i], w)
				}
			}
			// Exactly one attempt won, and it is the result.
			var winners []Attempt
			for _, a := range res.Attempts {
				if a.Outcome == OutcomeConnected {
					winners = append(winners, a)
				}
			}
			if len(winners) != 1 || winners[0].Datacenter != res.Datacenter || winners[0].List != res.List {
				t.Fatalf("got winners %v and result %s (%s), want one winner, the result", winners, res.Datacenter, res.List)
			}
			if tt.wantWinner != "" && res.Datacenter != tt.wantWinner {
				t.Errorf("got %s, want %s", res.Datacenter, tt.wantWinner)
			}
			if res.Claims.Participant != "alice" || res.Token == "" || res.Session == "" || res.Endpoint != w.dir.endpoints[res.Datacenter] {
				t.Errorf("got result %+v, want alice's verified ticket, a session and the endpoint", res)
			}
			if tt.check != nil {
				tt.check(t, res.Attempts)
			}
			// Only the winner holds the participant: a loser that connected too was told to
			// disconnect.
			if got, want := w.participants(), map[string]int{res.Datacenter: 1}; !maps.Equal(got, want) {
				t.Errorf("got participants %v, want %v", got, want)
			}
			if err := c.Disconnect(ctx, res); err != nil {
				t.Errorf("Disconnect: %v", err)
			}
			if got := w.participants(); len(got) != 0 {
				t.Errorf("after Disconnect: got participants %v, want none", got)
			}
			for id := range tt.faults {
				w.agents[id].SetFault(agent.FaultNone) // so that the agents drain at once
			}
		})
	}
}

// secondariesAfterPrimaries checks that the secondaries started together, after the last
// primary failed.
func secondariesAfterPrimaries(t *testing.T, as []Attempt) {
	t.Helper()
	var lastPrimaryEnd time.Duration
	var secs []Attempt
	for _, a := range as {
		switch a.List {
		case wire.ListPrimary:
			lastPrimaryEnd = max(lastPrimaryEnd, a.Started+a.Elapsed)
		case wire.ListSecondary:
			secs = append(secs, a)
		}
	}
	if len(secs) != 2 {
		t.Fatalf("got %d secondary attempts, want 2", len(secs))
	}
	for _, s := range secs {
		if s.Started < lastPrimaryEnd {
			t.Errorf("%s started at %v, before the last primary failed at %v", s.Datacenter, s.Started, lastPrimaryEnd)
		}
	}
	// Together: the second started before the first ended.
	if secs[1].Started > secs[0].Started+secs[0].Elapsed {
		t.Errorf("%s started at %v, after %s ended at %v", secs[1].Datacenter, secs[1].Started, secs[0].Datacenter, secs[0].Started+secs[0].Elapsed)
	}
}

func TestJoinNoDatacenter(t *testing.T) {
	tests := []struct {
		name        string
		faults      map[string]agent.Fault
		pin         []string
		wantPinned  bool
		wantOutcome string
	}{
		{"every datacenter refuses", map[string]agent.Fault{"us-sjc": agent.FaultRefuse, "us-den": agent.FaultRefuse, "us-nyc": agent.FaultRefuse,
			"eu-ams": agent.FaultRefuse, "eu-fra": agent.FaultRefuse}, nil, false, OutcomeError},
		{"every datacenter is pinned away", nil, []string{"US", "NL", "DE"}, true, OutcomePinned},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leaktest.Check(t)
			w := newWorld(t, slices.Concat(naPrimary, naSecondary)...)
			w.dir.set(naPrimary, naSecondary)
			for id, f := range tt.faults {
				w.agents[id].SetFault(f)
			}
			c := w.client(t, Config{Stagger: time.Hour, AttemptTimeout: time.Hour, PinDeny: tt.pin})
			res, err := c.Join(t.Context(), "m-1", "globex", "alice", "")
			if !errors.Is(err, ErrNoDatacenter) {
				t.Fatalf("got error %v, want ErrNoDatacenter", err)
			}
			if got := errors.Is(err, ErrAllPinned); got != tt.wantPinned {
				t.Errorf("error %v: matches ErrAllPinned %v, want %v", err, got, tt.wantPinned)
			}
			if res == nil || len(res.Attempts) != 5 {
				t.Fatalf("got result %+v, want the five attempts", res)
			}
			for _, a := range res.Attempts {
				if a.Outcome != tt.wantOutcome {
					t.Errorf("%s: got %s, want %s", a.Datacenter, a.Outcome, tt.wantOutcome)
				}
				if !strings.Contains(err.Error(), a.Datacenter) {
					t.Errorf("error %q does not name %s", err, a.Datacenter)
				}
			}
			if res.Datacenter != "" || res.Session != "" {
				t.Errorf("got datacenter %q session %q, want none", res.Datacenter, res.Session)
			}
			if got := w.participants(); len(got) != 0 {
				t.Errorf("got participants %v, want none", got)
			}
		})
	}
}

// TestJoinUntrusted: a ticket that does not verify, or whose signed claims disagree with the
// unsigned answer or with the request, is refused before any datacenter is contacted.
func TestJoinUntrusted(t *testing.T) {
	forger, err := ticket.NewSigner(DefaultIssuer, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	evil, err := ticket.NewSigner("evil", detRand(1), nil) // the directory's keys, another issuer
	if err != nil {
		t.Fatal(err)
	}
	past, err := ticket.NewSigner(DefaultIssuer, detRand(1), func() time.Time { return time.Now().Add(-time.Hour) })
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		signWith  *ticket.Signer
		edit      func(*wire.Claims)
		tamper    func(*wire.JoinResponse)
		wantInErr string
	}{
		{name: "signed by another key", signWith: forger, wantInErr: "unknown signing key"},
		{name: "another issuer", signWith: evil, wantInErr: "iss"},
		{name: "expired", signWith: past, wantInErr: "expired"},
		{name: "token garbled", tamper: func(a *wire.JoinResponse) { a.Token = a.Token[:len(a.Token)/2] }, wantInErr: "invalid ticket"},
		{name: "endpoint swapped", tamper: func(a *wire.JoinResponse) {
			a.Primary[0].Endpoint, a.Primary[1].Endpoint = a.Primary[1].Endpoint, a.Primary[0].Endpoint
		}, wantInErr: "primary"},
		{name: "datacenter added", tamper: func(a *wire.JoinResponse) {
			a.Secondary = append(a.Secondary, wire.DC{ID: "cn-pek", Country: "CN", Endpoint: "http://127.0.0.1:1"})
		}, wantInErr: "secondary"},
		{name: "country changed", tamper: func(a *wire.JoinResponse) { a.Primary[2].Country = "CA" }, wantInErr: "primary"},
		{name: "secondaries dropped", tamper: func(a *wire.JoinResponse) { a.Secondary = nil }, wantInErr: "secondary"},
		{name: "key servers added", tamper: func(a *wire.JoinResponse) { a.KMS = []wire.DC{{ID: "cn-pek", Country: "CN"}} }, wantInErr: "kms"},
		{name: "home changed", tamper: func(a *wire.JoinResponse) { a.Home = "us-den" }, wantInErr: "home"},
		{name: "region changed", tamper: func(a *wire.JoinResponse) { a.Region = "eu" }, wantInErr: "region"},
		{name: "ticket for another meeting", edit: func(c *wire.Claims) { c.Meeting = "m-2" }, wantInErr: "meeting"},
		{name: "ticket for another participant", edit: func(c *wire.Claims) { c.Participant = "mallory" }, wantInErr: "participant"},
		{name: "ticket for another account", edit: func(c *wire.Claims) { c.Account = "acme" }, wantInErr: "account"},
		{name: "ticket with another public key", edit: func(c *wire.Claims) { c.PublicKey = "pk-mallory" }, wantInErr: "public key"},
	}
	leaktest.Check(t)
	w := newWorld(t, naPrimary...)
	w.dir.set(naPrimary, naSecondary)
	c := w.client(t, Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w.dir.mu.Lock()
			w.dir.signWith, w.dir.editClaims, w.dir.tamper = tt.signWith, tt.edit, tt.tamper
			w.dir.mu.Unlock()
			res, err := c.Join(t.Context(), "m-1", "globex", "alice", "pk-alice")
			if !errors.Is(err, ErrUntrustedTicket) {
				t.Fatalf("got %+v, %v; want ErrUntrustedTicket", res, err)
			}
			if !strings.Contains(err.Error(), tt.wantInErr) {
				t.Errorf("got error %q, want it to say %q", err, tt.wantInErr)
			}
			if got := w.participants(); len(got) != 0 {
				t.Errorf("got participants %v, want none: no datacenter may be contacted", got)
			}
		})
	}
}

func TestJoinRefusals(t *testing.T) {
	tests := []struct {
		name   string
		status int
		header map[string]string
		body   string
		want   Refusal
	}{
		{"residency conflict", 403, nil,
			`{"error":"residency_conflict","message":"no datacenter of meeting m-1 is allowed for region cn","rules":["china-stays-in-china"]}`,
			Refusal{Status: 403, Code: "residency_conflict", Message: "no datacenter of meeting m-1 is allowed for region cn", Rules: []string{"china-stays-in-china"}}},
		{"plan conflict", 403, nil, `{"error":"plan_conflict","message":"government and basic cannot meet","rules":[]}`,
			Refusal{Status: 403, Code: "plan_conflict", Message: "government and basic cannot meet", Rules: []string{}}},
		{"no capacity", 503, map[string]string{"Retry-After": "7"}, `{"error":"no_capacity","message":"all full","retry_after":7}`,
			Refusal{Status: 503, Code: "no_capacity", Message: "all full", RetryAfter: 7 * time.Second}},
		{"no capacity, header only", 503, map[string]string{"Retry-After": "5"}, `{"error":"no_capacity"}`,
			Refusal{Status: 503, Code: "no_capacity", Message: "Service Unavailable", RetryAfter: 5 * time.Second}},
		{"unknown meeting", 404, nil, `{"error":"unknown_meeting","message":"no meeting \"m-1\""}`,
			Refusal{Status: 404, Code: "unknown_meeting", Message: `no meeting "m-1"`}},
		{"unknown account", 404, nil, `{"error":"unknown_account","message":"no account \"globex\""}`,
			Refusal{Status: 404, Code: "unknown_account", Message: `no account "globex"`}},
		{"not json", 502, nil, "<html>bad gateway</html>", Refusal{Status: 502, Message: "Bad Gateway"}},
	}
	leaktest.Check(t)
	w := newWorld(t)
	c := w.client(t, Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w.dir.mu.Lock()
			w.dir.respond = func(rw http.ResponseWriter, _ *http.Request) {
				for k, v := range tt.header {
					rw.Header().Set(k, v)
				}
				rw.WriteHeader(tt.status)
				fmt.Fprint(rw, tt.body)
			}
			w.dir.mu.Unlock()
			res, err := c.Join(t.Context(), "m-1", "globex", "alice", "")
			var got *Refusal
			if !errors.As(err, &got) {
				t.Fatalf("got %+v, %v; want a *Refusal", res, err)
			}
			if got.Status != tt.want.Status || got.Code != tt.want.Code || got.Message != tt.want.Message ||
				!slices.Equal(got.Rules, tt.want.Rules) || got.RetryAfter != tt.want.RetryAfter {
				t.Errorf("got %+v, want %+v", *got, tt.want)
			}
			if tt.want.Code != "" && !strings.Contains(err.Error(), tt.want.Code) {
				t.Errorf("error %q does not name the code %s", err, tt.want.Code)
			}
		})
	}
}

func TestJoinRequest(t *testing.T) {
	leaktest.Check(t)
	w := newWorld(t, "us-sjc")
	w.dir.set([]string{"us-sjc"}, nil)
	c := w.client(t, Config{ClientIP: "203.0.113.7"})
	res, err := c.Join(t.Context(), "m-1", "globex", "alice", "pk-alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Disconnect(t.Context(), res); err != nil {
		t.Fatal(err)
	}
	w.dir.mu.Lock()
	defer w.dir.mu.Unlock()
	want := wire.JoinRequest{Account: "globex", Participant: "alice", PublicKey: "pk-alice"}
	if len(w.dir.requests) != 1 || w.dir.requests[0] != want {
		t.Errorf("got join requests %+v, want %+v", w.dir.requests, want)
	}
	if got := w.dir.xff; len(got) != 1 || got[0] != "203.0.113.7" {
		t.Errorf("got X-Forwarded-For %q, want 203.0.113.7", got)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"https", Config{Directory: "https://directory.example"}, ""},
		{"loopback http", Config{Directory: "http://127.0.0.1:8080/"}, ""},
		{"plain http elsewhere", Config{Directory: "http://directory.example"}, "https"},
		{"no directory", Config{}, "not an http(s) base URL"},
		{"not a url", Config{Directory: "directory.example"}, "not an http(s) base URL"},
		{"query", Config{Directory: "https://directory.example/?x=1"}, "not an http(s) base URL"},
		{"pinned countries", Config{Directory: "https://d.example", PinDeny: []string{"cn", " RU "}}, ""},
		{"pinned typo", Config{Directory: "https://d.example", PinDeny: []string{"CHN"}}, `"CHN"`},
		{"negative stagger", Config{Directory: "https://d.example", Stagger: -1}, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got error %v", err)
				}
				if c.cfg.Stagger != DefaultStagger || c.cfg.AttemptTimeout != DefaultAttemptTimeout || c.cfg.Issuer != DefaultIssuer {
					t.Errorf("got defaults %v %v %q", c.cfg.Stagger, c.cfg.AttemptTimeout, c.cfg.Issuer)
				}
				for _, cc := range tt.cfg.PinDeny {
					if !c.Pinned(strings.TrimSpace(cc)) {
						t.Errorf("Pinned(%q) = false", cc)
					}
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got error %v, want one saying %q", err, tt.wantErr)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"120", 2 * time.Minute},
		{" 3 ", 3 * time.Second},
		{"-1", 0},
		{"1.5", 0},
		{"99999999999", 0},
		{"4294967295", time.Hour},
		{"Fri, 01 May 2026 12:00:30 GMT", 30 * time.Second},
		{"Fri, 01 May 2026 11:00:00 GMT", 0},
		{"Sat, 01 May 2027 12:00:00 GMT", time.Hour},
		{"soon", 0},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.in, clock); got != tt.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
