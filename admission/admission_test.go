package admission

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geofence/geofence/config"
	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/ticket"
	"github.com/geofence/geofence/wire"
)

const issuer = "geofence"

// aprilModel is examples/april-2020.yaml: North America's backup and key-server lists name
// Beijing. It does not verify, on purpose: admission must refuse what its rules forbid
// whatever a signed ticket lists.
var aprilModel = sync.OnceValues(func() (*policy.Model, error) {
	c, err := config.Load("../examples/april-2020.yaml")
	if err != nil {
		return nil, err
	}
	return policy.New(c)
})

func detRand(seed byte) io.Reader {
	var s [32]byte
	s[0] = seed
	return rand.NewChaCha8(s)
}

// staticKeys verifies with a fixed key set, without a network.
type staticKeys struct{ v *ticket.Verifier }

func (s staticKeys) Verify(_ context.Context, token string) (wire.Claims, error) {
	return s.v.Verify(token)
}

type verifierFunc func(ctx context.Context, token string) (wire.Claims, error)

func (f verifierFunc) Verify(ctx context.Context, token string) (wire.Claims, error) {
	return f(ctx, token)
}

// naClaims is a basic-plan participant from the US in a North American meeting homed in
// us-sjc, with us-sjc and us-den as primaries, eu-ams and cn-pek as secondaries (April 2020)
// and us-sjc and cn-pek as key servers.
func naClaims() wire.Claims {
	return wire.Claims{
		Meeting: "m-1", Participant: "alice", Account: "initech", Mode: wire.ModeManaged,
		Region: "na", Home: "us-sjc",
		Primary:   []wire.DC{{ID: "us-sjc", Country: "US"}, {ID: "us-den", Country: "US"}},
		Secondary: []wire.DC{{ID: "eu-ams", Country: "NL"}, {ID: "cn-pek", Country: "CN"}},
		KMS:       []wire.DC{{ID: "us-sjc", Country: "US"}, {ID: "cn-pek", Country: "CN"}},
		Context: wire.Context{
			ParticipantCountry: "US", ParticipantRegion: "na", ParticipantPlan: "basic",
			MeetingRegion: "na", HostAccount: "initech", HostPlan: "basic",
		},
	}
}

func TestAdmit(t *testing.T) {
	m, err := aprilModel()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	signer, err := ticket.NewSigner(issuer, detRand(1), clock)
	if err != nil {
		t.Fatal(err)
	}
	v, err := ticket.NewVerifier(signer.JWKS(), issuer, clock)
	if err != nil {
		t.Fatal(err)
	}
	keys := staticKeys{v}
	sign := func(s *ticket.Signer, edit func(*wire.Claims), ttl time.Duration) string {
		t.Helper()
		c := naClaims()
		if edit != nil {
			edit(&c)
		}
		tok, err := s.Sign(c, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	forger, err := ticket.NewSigner(issuer, detRand(2), clock) // keys the verifier does not know
	if err != nil {
		t.Fatal(err)
	}
	past, err := ticket.NewSigner(issuer, detRand(1), func() time.Time { return now.Add(-time.Hour) })
	if err != nil {
		t.Fatal(err)
	}
	good := sign(signer, nil, time.Hour)
	down := verifierFunc(func(context.Context, string) (wire.Claims, error) {
		return wire.Claims{}, errors.New("fetch ticket keys: connection refused")
	})
	gov := func(c *wire.Claims) {
		c.Context.ParticipantPlan, c.Context.HostPlan = "government", "government"
	}

	tests := []struct {
		name       string
		dc         string
		svc        Service
		keys       TicketVerifier // nil: the signer's
		token      string
		wantStatus int // 0: admitted
		wantCode   string
		wantRule   string
		wantInMsg  string
		wantClaims bool // claims returned with the refusal
	}{
		{name: "primary", dc: "us-sjc", svc: Media, token: good, wantClaims: true},
		{name: "secondary", dc: "eu-ams", svc: Media, token: good, wantClaims: true},
		{name: "key server", dc: "us-sjc", svc: KMS, token: good, wantClaims: true},

		{name: "forbidden dc: april 2020 beijing as a secondary", dc: "cn-pek", svc: Media, token: good,
			wantStatus: 403, wantCode: wire.CodeResidencyConflict, wantRule: "nothing-else-enters-china", wantInMsg: "cn-pek", wantClaims: true},
		{name: "forbidden dc: april 2020 beijing as a key server", dc: "cn-pek", svc: KMS, token: good,
			wantStatus: 403, wantCode: wire.CodeResidencyConflict, wantRule: "nothing-else-enters-china", wantInMsg: "key server cn-pek", wantClaims: true},
		{name: "unlisted dc", dc: "us-nyc", svc: Media, token: good,
			wantStatus: 403, wantCode: wire.CodeNotListed, wantInMsg: "does not list datacenter us-nyc", wantClaims: true},
		{name: "listed for media, asked for keys", dc: "us-den", svc: KMS, token: good,
			wantStatus: 403, wantCode: wire.CodeNotListed, wantInMsg: "as a key server", wantClaims: true},
		{name: "listed for keys, asked for media", dc: "us-sjc", svc: Media, token: sign(signer, func(c *wire.Claims) {
			c.Primary = []wire.DC{{ID: "us-den", Country: "US"}}
		}, time.Hour), wantStatus: 403, wantCode: wire.CodeNotListed, wantClaims: true},
		{name: "forbidden home", dc: "us-sjc", svc: Media, token: sign(signer, func(c *wire.Claims) { c.Home = "cn-pek" }, time.Hour),
			wantStatus: 403, wantCode: wire.CodeResidencyConflict, wantRule: "nothing-else-enters-china", wantInMsg: "home datacenter cn-pek", wantClaims: true},
		{name: "forbidden home does not matter to a key server", dc: "us-sjc", svc: KMS,
			token: sign(signer, func(c *wire.Claims) { c.Home = "cn-pek" }, time.Hour), wantClaims: true},
		{name: "unknown home", dc: "us-sjc", svc: Media, token: sign(signer, func(c *wire.Claims) { c.Home = "xx-nowhere" }, time.Hour),
			wantStatus: 403, wantCode: wire.CodeResidencyConflict, wantInMsg: "xx-nowhere", wantClaims: true},
		{name: "dedicated class clash", dc: "us-sjc", svc: Media, token: sign(signer, gov, time.Hour),
			wantStatus: 403, wantCode: wire.CodePlanConflict, wantClaims: true},
		{name: "country outside its region", dc: "us-sjc", svc: Media, token: sign(signer, func(c *wire.Claims) {
			c.Context.ParticipantCountry = "CN"
		}, time.Hour), wantStatus: 403, wantCode: wire.CodeResidencyConflict, wantInMsg: "region cn", wantClaims: true},

		{name: "expired", dc: "us-sjc", svc: Media, token: sign(past, nil, time.Minute),
			wantStatus: 401, wantCode: wire.CodeInvalidTicket, wantInMsg: "expired"},
		{name: "forged: unknown signing key", dc: "us-sjc", svc: Media, token: sign(forger, nil, time.Hour),
			wantStatus: 401, wantCode: wire.CodeInvalidTicket, wantInMsg: "unknown signing key"},
		{name: "forged: claims swapped under a signature", dc: "us-sjc", svc: KMS,
			token: swapClaims(good, sign(signer, gov, time.Hour)), wantStatus: 401, wantCode: wire.CodeInvalidTicket},
		{name: "not a token", dc: "us-sjc", svc: Media, token: "hello", wantStatus: 401, wantCode: wire.CodeInvalidTicket},
		{name: "keys unavailable", dc: "us-sjc", svc: Media, keys: down, token: good,
			wantStatus: 503, wantCode: wire.CodeKeysUnavailable, wantInMsg: "cannot verify tickets"},
		{name: "dc not in the policy", dc: "xx-nowhere", svc: Media, token: good,
			wantStatus: 503, wantCode: wire.CodeInternal, wantClaims: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &Admitter{Model: func() *policy.Model { return m }, DC: tt.dc, Keys: keys}
			if tt.keys != nil {
				a.Keys = tt.keys
			}
			c, ref := a.Admit(context.Background(), tt.token, tt.svc)
			if got := c != nil; got != tt.wantClaims {
				t.Errorf("got claims %v, want claims %v", got, tt.wantClaims)
			}
			if tt.wantStatus == 0 {
				if ref != nil {
					t.Fatalf("got refusal %v, want admitted", ref)
				}
				if c.Participant != "alice" {
					t.Errorf("got participant %q, want alice", c.Participant)
				}
				return
			}
			if ref == nil {
				t.Fatalf("got admitted, want %d %s", tt.wantStatus, tt.wantCode)
			}
			if ref.Status != tt.wantStatus || ref.Code != tt.wantCode || ref.Rule != tt.wantRule {
				t.Errorf("got %d %s rule %q, want %d %s rule %q", ref.Status, ref.Code, ref.Rule, tt.wantStatus, tt.wantCode, tt.wantRule)
			}
			if !strings.Contains(ref.Message, tt.wantInMsg) {
				t.Errorf("got message %q, want it to say %q", ref.Message, tt.wantInMsg)
			}
			if tt.wantCode == wire.CodeKeysUnavailable {
				if ref.Cause == nil || strings.Contains(ref.Message, "connection refused") {
					t.Errorf("got cause %v and message %q, want the cause kept for the log and out of the message", ref.Cause, ref.Message)
				}
			}
			body := ref.Body()
			if body.Error != tt.wantCode || body.Message != ref.Message {
				t.Errorf("got body %+v, want error %s and the message", body, tt.wantCode)
			}
			switch {
			case tt.wantStatus != http.StatusForbidden && body.Rules != nil:
				t.Errorf("a %d body carries rules %q, want none", tt.wantStatus, body.Rules)
			case tt.wantStatus == http.StatusForbidden && tt.wantRule == "" && (body.Rules == nil || len(body.Rules) != 0):
				t.Errorf("got rules %#v, want an empty array", body.Rules)
			case tt.wantStatus == http.StatusForbidden && tt.wantRule != "" && (len(body.Rules) != 1 || body.Rules[0] != tt.wantRule):
				t.Errorf("got rules %q, want [%s]", body.Rules, tt.wantRule)
			}
		})
	}
}

// swapClaims puts other's payload under tok's header and signature.
func swapClaims(tok, other string) string {
	p := strings.Split(tok, ".")
	q := strings.Split(other, ".")
	return p[0] + "." + q[1] + "." + p[2]
}

// TestAdmitSeesANewModel: the Admitter asks Model at every admission, so a new policy
// swapped in applies to the next one.
func TestAdmitSeesANewModel(t *testing.T) {
	m, err := aprilModel()
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Load("../examples/world.yaml")
	if err != nil {
		t.Fatal(err)
	}
	world, err := policy.New(c)
	if err != nil {
		t.Fatal(err)
	}
	current := m
	a := &Admitter{Model: func() *policy.Model { return current }, DC: "cn-pek",
		Keys: verifierFunc(func(context.Context, string) (wire.Claims, error) { return naClaims(), nil })}
	for _, step := range []struct {
		name  string
		model *policy.Model
	}{{"april 2020", m}, {"world", world}} {
		current = step.model
		_, ref := a.Admit(context.Background(), "t", Media)
		if ref == nil || ref.Code != wire.CodeResidencyConflict {
			t.Errorf("%s: got %v, want residency_conflict", step.name, ref)
		}
	}
	// The same ticket at an allowed datacenter of the new model.
	a.DC = "us-sjc"
	if _, ref := a.Admit(context.Background(), "t", Media); ref != nil {
		t.Errorf("us-sjc in the world: got %v, want admitted", ref)
	}
}
