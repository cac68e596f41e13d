package kms

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/geofence/geofence/wire"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geofence/geofence/internal/leaktest"

	"github.com/geofence/geofence/crypto/keywrap"
	"github.com/geofence/geofence/ticket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

var suites = []keywrap.Suite{keywrap.X25519, keywrap.MLKEM768X25519}

// TestKeyOpensOnlyForIntended checks that an issued key opens with the participant's private
// key under exactly the (meeting, epoch, participant) it was issued for, and with nothing
// else; and that every participant of a meeting gets the same meeting key.
func TestKeyOpensOnlyForIntended(t *testing.T) {
	for _, suite := range suites {
		t.Run(suite.String(), func(t *testing.T) {
			e := newEnv(t, "us-sjc", nil)
			alice := newParty(t, "alice", suite)
			bob := newParty(t, "bob", suite)
			a := e.key("m-1", wire.KeyRequest{Token: e.sign(naClaims("m-1", alice))})
			if a.status != http.StatusOK {
				t.Fatalf("got %d %s (%s), want 200", a.status, a.err.Error, a.err.Message)
			}
			if a.key.Suite != suite.String() || a.key.Meeting != "m-1" || a.key.Epoch != 1 || a.key.KMS != "us-sjc" {
				t.Fatalf("got %+v, want suite %s, meeting m-1, epoch 1, kms us-sjc", a.key, suite)
			}
			key := open(t, alice, a.key)
			if len(key) != KeySize {
				t.Fatalf("got a %d-byte key, want %d", len(key), KeySize)
			}

			w, err := keywrap.ParseWrapped(a.key.Wrapped)
			if err != nil {
				t.Fatal(err)
			}
			good := keywrap.Binding{Meeting: "m-1", Epoch: 1, Participant: "alice"}
			other := newParty(t, "alice", suite) // same id, another key pair
			tests := []struct {
				name string
				priv keywrap.PrivateKey
				b    keywrap.Binding
			}{
				{"bob's private key", bob.priv, good},
				{"another key pair of alice's", other.priv, good},
				{"another meeting", alice.priv, keywrap.Binding{Meeting: "m-2", Epoch: 1, Participant: "alice"}},
				{"another epoch", alice.priv, keywrap.Binding{Meeting: "m-1", Epoch: 2, Participant: "alice"}},
				{"another participant", alice.priv, keywrap.Binding{Meeting: "m-1", Epoch: 1, Participant: "bob"}},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					got, err := keywrap.Unwrap(tt.priv, w, tt.b)
					if err == nil {
						t.Fatalf("unwrapped %d bytes, want an error", len(got))
					}
					if !errors.Is(err, keywrap.ErrUnwrap) {
						t.Errorf("got %v, want keywrap.ErrUnwrap", err)
					}
				})
			}

			// Bob, in the same meeting, gets the same meeting key wrapped to his own key.
			b := e.key("m-1", wire.KeyRequest{Token: e.sign(naClaims("m-1", bob))})
			if b.status != http.StatusOK {
				t.Fatalf("bob: got %d %s", b.status, b.err.Error)
			}
			if b.key.Wrapped == a.key.Wrapped {
				t.Errorf("bob got alice's wrapped key")
			}
			if got := open(t, bob, b.key); !bytes.Equal(got, key) {
				t.Errorf("bob's meeting key differs from alice's")
			}
			// Another meeting gets another key.
			c := e.key("m-2", wire.KeyRequest{Token: e.sign(naClaims("m-2", alice))})
			if c.status != http.StatusOK {
				t.Fatalf("m-2: got %d %s", c.status, c.err.Error)
			}
			if got := open(t, alice, c.key); bytes.Equal(got, key) {
				t.Errorf("meetings m-1 and m-2 have the same key")
			}
			if got := value(t, e.reg, "geofence_kms_issuances_total", map[string]string{"datacenter": "us-sjc", "suite": suite.String()}); got != 3 {
				t.Errorf("got %v issuances counted, want 3", got)
			}
		})
	}
}

// flip returns tok with the base64url character at i replaced by another one.
func flip(tok string, i int) string {
	b := []byte(tok)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// TestRefusals checks every reason a key request is refused, and that a refusal never
// carries a key nor creates one.
func TestRefusals(t *testing.T) {
	e := newEnv(t, "us-sjc", nil)
	gov := newEnv(t, "us-gov-east", nil)
	alice := newParty(t, "alice", keywrap.X25519)
	mallory := newParty(t, "mallory", keywrap.X25519)
	good := e.sign(naClaims("m-1", alice))
	dot1 := strings.IndexByte(good, '.')
	dot2 := strings.LastIndexByte(good, '.')

	otherSigner, err := ticket.NewSigner(testIssuer, detRand(2), e.clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	wrongSigner, err := otherSigner.Sign(naClaims("m-1", alice), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	expiring := e.signTTL(naClaims("m-1", alice), time.Minute)

	edit := func(f func(*wire.Claims)) string {
		c := naClaims("m-1", alice)
		f(&c)
		return e.sign(c)
	}
	tests := []struct {
		name       string
		env        *env
		meeting    string
		req        wire.KeyRequest
		before     func() // run before the request
		wantStatus int
		wantCode   string
		wantRule   string // for 403s
		wantMsg    string // part of the message
	}{
		{name: "control", meeting: "m-1", req: wire.KeyRequest{Token: good}, wantStatus: 200},
		{name: "bit flip in header", meeting: "m-1", req: wire.KeyRequest{Token: flip(good, 5)}, wantStatus: 401, wantCode: wire.CodeInvalidTicket},
		{name: "bit flip in claims", meeting: "m-1", req: wire.KeyRequest{Token: flip(good, dot1+20)}, wantStatus: 401, wantCode: wire.CodeInvalidTicket},
		{name: "bit flip in signature", meeting: "m-1", req: wire.KeyRequest{Token: flip(good, dot2+10)}, wantStatus: 401, wantCode: wire.CodeInvalidTicket},
		{name: "truncated", meeting: "m-1", req: wire.KeyRequest{Token: good[:len(good)-4]}, wantStatus: 401, wantCode: wire.CodeInvalidTicket},
		{name: "not a token", meeting: "m-1", req: wire.KeyRequest{Token: "hello"}, wantStatus: 401, wantCode: wire.CodeInvalidTicket},
		{name: "wrong signer", meeting: "m-1", req: wire.KeyRequest{Token: wrongSigner}, wantStatus: 401, wantCode: wire.CodeInvalidTicket, wantMsg: "unknown signing key"},
		{name: "expired", meeting: "m-1", req: wire.KeyRequest{Token: expiring},
			before: func() { e.clk.Advance(time.Minute + ticket.Leeway) }, wantStatus: 401, wantCode: wire.CodeInvalidTicket, wantMsg: "expired"},
		{name: "public key substituted", meeting: "m-1", req: wire.KeyRequest{Token: good, PublicKey: mallory.pub.String()},
			wantStatus: 403, wantCode: wire.CodePublicKeyMismatch},
		{name: "public key substituted by a hybrid key", meeting: "m-1",
			req:        wire.KeyRequest{Token: good, PublicKey: newParty(t, "alice", keywrap.MLKEM768X25519).pub.String()},
			wantStatus: 403, wantCode: wire.CodePublicKeyMismatch},
		{name: "public key repeated", meeting: "m-1", req: wire.KeyRequest{Token: good, PublicKey: alice.pub.String()}, wantStatus: 200},
		{name: "ticket without public key", meeting: "m-1", req: wire.KeyRequest{Token: edit(func(c *wire.Claims) { c.PublicKey = "" })},
			wantStatus: 400, wantCode: wire.CodeBadPublicKey},
		{name: "ticket with a malformed public key", meeting: "m-1", req: wire.KeyRequest{Token: edit(func(c *wire.Claims) { c.PublicKey = "x25519:AAAA" })},
			wantStatus: 400, wantCode: wire.CodeBadPublicKey},
		{name: "meeting id mismatch", meeting: "m-2", req: wire.KeyRequest{Token: good}, wantStatus: 403, wantCode: wire.CodeMeetingMismatch},
		{name: "not listed", meeting: "m-1", req: wire.KeyRequest{Token: edit(func(c *wire.Claims) {
			c.KMS = []wire.DC{{ID: "ca-yyz", Country: "CA"}}
		})}, wantStatus: 403, wantCode: wire.CodeNotListed},
		{name: "listed as media server only", meeting: "m-1", req: wire.KeyRequest{Token: edit(func(c *wire.Claims) {
			c.KMS = []wire.DC{{ID: "ca-yyz", Country: "CA"}}
			c.Secondary = []wire.DC{{ID: "us-sjc", Country: "US"}}
		})}, wantStatus: 403, wantCode: wire.CodeNotListed},
		{name: "e2ee meeting", meeting: "m-1", req: wire.KeyRequest{Token: edit(func(c *wire.Claims) { c.Mode = wire.ModeE2EE })},
			wantStatus: 409, wantCode: wire.CodeE2EEMeeting},
		{name: "e2ee meeting without key servers", meeting: "m-1", req: wire.KeyRequest{Token: edit(func(c *wire.Claims) {
			c.Mode, c.KMS = wire.ModeE2EE, nil
		})}, wantStatus: 409, wantCode: wire.CodeE2EEMeeting},
		{name: "government participant at a general key server", meeting: "m-1", req: wire.KeyRequest{Token: edit(func(c *wire.Claims) {
			c.Context.ParticipantPlan, c.Context.HostPlan = "government", "government"
		})}, wantStatus: 403, wantCode: wire.CodePlanConflict, wantRule: ""},
		{name: "basic participant at a government key server", env: gov, meeting: "m-1", req: wire.KeyRequest{Token: gov.sign(func() wire.Claims {
			c := naClaims("m-1", alice)
			c.KMS = append(c.KMS, wire.DC{ID: "us-gov-east", Country: "US"})
			return c
		}())}, wantStatus: 403, wantCode: wire.CodePlanConflict, wantMsg: "government"},
		{name: "meeting in China", meeting: "m-1", req: wire.KeyRequest{Token: edit(func(c *wire.Claims) {
			c.Context.MeetingRegion, c.Context.HostPlan = "cn", "enterprise"
			c.Context.HostDataRegions = nil
		})}, wantStatus: 403, wantCode: wire.CodeResidencyConflict, wantRule: "china-stays-in-china"},
		{name: "outside the host's data regions", meeting: "m-1", req: wire.KeyRequest{Token: edit(func(c *wire.Claims) {
			c.Context.HostDataRegions = []string{"eu"}
		})}, wantStatus: 403, wantCode: wire.CodeResidencyConflict, wantMsg: "data regions"},
		{name: "participant country in another region", meeting: "m-1", req: wire.KeyRequest{Token: edit(func(c *wire.Claims) {
			c.Context.ParticipantCountry = "CN"
		})}, wantStatus: 403, wantCode: wire.CodeResidencyConflict, wantMsg: "region cn"},
		{name: "unknown region", meeting: "m-1", req: wire.KeyRequest{Token: edit(func(c *wire.Claims) {
			c.Context.ParticipantCountry, c.Context.ParticipantRegion = "", "mars"
		})}, wantStatus: 403, wantCode: wire.CodeResidencyConflict, wantMsg: "policy differs"},
		{name: "epoch zero", meeting: "m-1", req: wire.KeyRequest{Token: good, Epoch: epochPtr(0)}, wantStatus: 400, wantCode: wire.CodeBadRequest},
		{name: "future epoch", meeting: "m-1", req: wire.KeyRequest{Token: good, Epoch: epochPtr(2)}, wantStatus: 404, wantCode: wire.CodeUnknownEpoch},
		{name: "no token", meeting: "m-1", req: wire.KeyRequest{}, wantStatus: 400, wantCode: wire.CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			te := tt.env
			if te == nil {
				te = e
			}
			if tt.before != nil {
				tt.before()
			}
			meetings := te.srv.Meetings()
			a := te.key(tt.meeting, tt.req)
			if a.status != tt.wantStatus {
				t.Fatalf("got %d %s (%s), want %d %s", a.status, a.err.Error, a.err.Message, tt.wantStatus, tt.wantCode)
			}
			if tt.wantStatus == http.StatusOK {
				open(t, alice, a.key)
				return
			}
			if a.err.Error != tt.wantCode {
				t.Errorf("got error %q (%s), want %q", a.err.Error, a.err.Message, tt.wantCode)
			}
			if a.err.Message == "" {
				t.Errorf("got no message")
			}
			if !strings.Contains(a.err.Message, tt.wantMsg) {
				t.Errorf("got message %q, want it to contain %q", a.err.Message, tt.wantMsg)
			}
			if tt.wantStatus == http.StatusForbidden {
				want := []string{}
				if tt.wantRule != "" {
					want = []string{tt.wantRule}
				}
				if !bytes.Contains(a.body, []byte(`"rules":[`)) || !slices.Equal(a.err.Rules, want) {
					t.Errorf("got rules %q in %s, want %q", a.err.Rules, a.body, want)
				}
			}
			if bytes.Contains(a.body, []byte(`"wrapped":`)) {
				t.Errorf("refusal carries a wrapped key: %s", a.body)
			}
			if got := te.srv.Meetings(); got != meetings {
				t.Errorf("a refused request changed the meetings with a key from %d to %d", meetings, got)
			}
			labels := map[string]string{"datacenter": te.srv.DC(), "reason": tt.wantCode, "rule": tt.wantRule}
			if got := value(t, te.reg, "geofence_kms_refusals_total", labels); got < 1 {
				t.Errorf("refusal not counted in geofence_kms_refusals_total%v (got %v)", labels, got)
			}
		})
	}
}

// TestTamperedWrappedKey checks that a wrapped key altered anywhere does not open.
func TestTamperedWrappedKey(t *testing.T) {
	for _, suite := range suites {
		t.Run(suite.String(), func(t *testing.T) {
			e := newEnv(t, "us-sjc", nil)
			alice := newParty(t, "alice", suite)
			a := e.key("m-1", wire.KeyRequest{Token: e.sign(naClaims("m-1", alice))})
			if a.status != http.StatusOK {
				t.Fatalf("got %d %s", a.status, a.err.Error)
			}
			w, err := keywrap.ParseWrapped(a.key.Wrapped)
			if err != nil {
				t.Fatal(err)
			}
			prefix, _, _ := strings.Cut(a.key.Wrapped, ":")
			raw := w.Bytes()
			b := keywrap.Binding{Meeting: "m-1", Epoch: 1, Participant: "alice"}
			for _, pos := range []struct {
				name string
				i    int
			}{
				{"encapsulated key", 0},
				{"encapsulated key end", len(raw) - KeySize - 17},
				{"ciphertext", len(raw) - KeySize - 16},
				{"ciphertext end", len(raw) - 17},
				{"tag", len(raw) - 16},
				{"tag end", len(raw) - 1},
			} {
				t.Run(pos.name, func(t *testing.T) {
					bad := bytes.Clone(raw)
					bad[pos.i] ^= 0x01
					tw, err := keywrap.ParseWrapped(prefix + ":" + base64.RawURLEncoding.EncodeToString(bad))
					if err != nil {
						return // rejected before unwrapping: fine
					}
					if got, err := keywrap.Unwrap(alice.priv, tw, b); err == nil {
						t.Errorf("tampered wrapped key opened to %d bytes", len(got))
					}
				})
			}
		})
	}
}

// TestRotationOnLeave is a time-stepped scenario: two participants get epoch 1, one leaves,
// the meeting moves to epoch 2 with a new key; epoch 1 stays retrievable for Retain and is then
// gone; the ticket used to leave gets nothing more.
func TestRotationOnLeave(t *testing.T) {
	const retain = 3 * time.Minute
	e := newEnv(t, "us-sjc", func(c *Config) { c.Retain = retain })
	alice := newParty(t, "alice", keywrap.X25519)
	bob := newParty(t, "bob", keywrap.MLKEM768X25519)
	aliceTok := e.sign(naClaims("m-1", alice))
	bobTok := e.sign(naClaims("m-1", bob))

	var k1, k2 []byte
	steps := []struct {
		name       string
		advance    time.Duration
		who        party
		token      string
		leave      bool
		epoch      uint64 // requested; 0 for the current one
		wantStatus int
		wantCode   string
		wantEpoch  uint64
		check      func(t *testing.T, key []byte)
	}{
		{name: "alice gets epoch 1", who: alice, token: aliceTok, wantStatus: 200, wantEpoch: 1,
			check: func(t *testing.T, key []byte) { k1 = key }},
		{name: "bob gets epoch 1", who: bob, token: bobTok, wantStatus: 200, wantEpoch: 1,
			check: func(t *testing.T, key []byte) {
				if !bytes.Equal(key, k1) {
					t.Errorf("bob's epoch 1 key differs from alice's")
				}
			}},
		{name: "bob leaves", advance: time.Minute, who: bob, token: bobTok, leave: true, wantStatus: 200, wantEpoch: 2},
		{name: "alice gets epoch 2", who: alice, token: aliceTok, wantStatus: 200, wantEpoch: 2,
			check: func(t *testing.T, key []byte) {
				k2 = key
				if bytes.Equal(k2, k1) {
					t.Errorf("epoch 2 has epoch 1's key")
				}
			}},
		{name: "bob's ticket gets no epoch 2", who: bob, token: bobTok, wantStatus: 403, wantCode: wire.CodeLeft},
		{name: "bob's ticket gets no epoch 1 either", who: bob, token: bobTok, epoch: 1, wantStatus: 403, wantCode: wire.CodeLeft},
		{name: "leave retried: no second rotation", who: bob, token: bobTok, leave: true, wantStatus: 200, wantEpoch: 2},
		{name: "alice asks for epoch 1 during retention", advance: retain - time.Second, who: alice, token: aliceTok, epoch: 1,
			wantStatus: 200, wantEpoch: 1, check: func(t *testing.T, key []byte) {
				if !bytes.Equal(key, k1) {
					t.Errorf("retained epoch 1 key changed")
				}
			}},
		{name: "epoch 1 gone once retention passes", advance: time.Second, who: alice, token: aliceTok, epoch: 1,
			wantStatus: 410, wantCode: wire.CodeEpochExpired},
		{name: "epoch 2 still current", who: alice, token: aliceTok, wantStatus: 200, wantEpoch: 2,
			check: func(t *testing.T, key []byte) {
				if !bytes.Equal(key, k2) {
					t.Errorf("epoch 2 key changed")
				}
			}},
		{name: "epoch 2 asked by number", who: alice, token: aliceTok, epoch: 2, wantStatus: 200, wantEpoch: 2},
		{name: "epoch 3 does not exist", who: alice, token: aliceTok, epoch: 3, wantStatus: 404, wantCode: wire.CodeUnknownEpoch},
		{name: "alice leaves: epoch 3", who: alice, token: aliceTok, leave: true, wantStatus: 200, wantEpoch: 3},
		{name: "bob rejoins with a new ticket and gets epoch 3", who: bob, token: e.sign(naClaims("m-1", bob)), wantStatus: 200, wantEpoch: 3,
			check: func(t *testing.T, key []byte) {
				if bytes.Equal(key, k1) || bytes.Equal(key, k2) {
					t.Errorf("epoch 3 reuses an earlier key")
				}
			}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			e.clk.Advance(st.advance)
			if st.leave {
				a := e.leave("m-1", st.token)
				if a.status != st.wantStatus {
					t.Fatalf("got %d %s (%s), want %d", a.status, a.err.Error, a.err.Message, st.wantStatus)
				}
				if a.left.Epoch != st.wantEpoch || a.left.Meeting != "m-1" {
					t.Errorf("got %+v, want meeting m-1 epoch %d", a.left, st.wantEpoch)
				}
				return
			}
			req := wire.KeyRequest{Token: st.token}
			if st.epoch != 0 {
				req.Epoch = epochPtr(st.epoch)
			}
			a := e.key("m-1", req)
			if a.status != st.wantStatus {
				t.Fatalf("got %d %s (%s), want %d %s", a.status, a.err.Error, a.err.Message, st.wantStatus, st.wantCode)
			}
			if st.wantStatus != http.StatusOK {
				if a.err.Error != st.wantCode {
					t.Errorf("got error %q, want %q", a.err.Error, st.wantCode)
				}
				return
			}
			if a.key.Epoch != st.wantEpoch {
				t.Errorf("got epoch %d, want %d", a.key.Epoch, st.wantEpoch)
			}
			key := open(t, st.who, a.key)
			if st.check != nil {
				st.check(t, key)
			}
		})
	}
	if got := value(t, e.reg, "geofence_kms_rotations_total", map[string]string{"datacenter": "us-sjc"}); got != 2 {
		t.Errorf("got %v rotations counted, want 2", got)
	}
}

// TestLeaveRacesKeyRequest sends a participant's leave and key requests with the same ticket
// at once: a key request either runs before the leave (and gets the old epoch) or after it
// (and is refused), never gets the epoch the leave created.
func TestLeaveRacesKeyRequest(t *testing.T) {
	e := newEnv(t, "us-sjc", nil)
	bob := newParty(t, "bob", keywrap.X25519)
	for i := range 20 {
		meeting := fmt.Sprintf("m-%d", i)
		tok := e.sign(naClaims(meeting, bob))
		if a := e.key(meeting, wire.KeyRequest{Token: tok}); a.status != http.StatusOK || a.key.Epoch != 1 {
			t.Fatalf("%s: got %d epoch %d, want 200 epoch 1", meeting, a.status, a.key.Epoch)
		}
		// e.post only, in the goroutines: decoding may call t.Fatal, which must not run there.
		type raw struct {
			status int
			body   []byte
		}
		var wg sync.WaitGroup
		keys := make([]raw, 8)
		for j := range keys {
			wg.Go(func() { keys[j].status, keys[j].body = e.post(keyPath(meeting), wire.KeyRequest{Token: tok}) })
		}
		var left raw
		wg.Go(func() { left.status, left.body = e.post(leavePath(meeting), wire.LeaveRequest{Token: tok}) })
		wg.Wait()
		var lr wire.LeaveResponse
		if left.status != http.StatusOK {
			t.Fatalf("%s: leave got %d %s, want 200", meeting, left.status, left.body)
		}
		if mustDecode(t, left.body, &lr); lr.Epoch != 2 {
			t.Fatalf("%s: leave got epoch %d, want 2", meeting, lr.Epoch)
		}
		for _, k := range keys {
			a := answer{status: k.status}
			if k.status == http.StatusOK {
				mustDecode(t, k.body, &a.key)
			} else {
				mustDecode(t, k.body, &a.err)
			}
			switch {
			case a.status == http.StatusOK && a.key.Epoch != 1:
				t.Errorf("%s: the ticket used to leave got epoch %d", meeting, a.key.Epoch)
			case a.status != http.StatusOK && a.err.Error != wire.CodeLeft:
				t.Errorf("%s: got %d %s, want 200 or 403 %s", meeting, a.status, a.err.Error, wire.CodeLeft)
			}
		}
	}
}

// TestLeaveWithoutKey checks that leaving a meeting this key server holds no key for creates
// none, and still retires the ticket.
func TestLeaveWithoutKey(t *testing.T) {
	e := newEnv(t, "us-sjc", nil)
	alice := newParty(t, "alice", keywrap.X25519)
	tok := e.sign(naClaims("m-1", alice))
	a := e.leave("m-1", tok)
	if a.status != http.StatusOK || a.left.Epoch != 0 {
		t.Fatalf("got %d %+v, want 200 epoch 0", a.status, a.left)
	}
	if got := e.srv.Meetings(); got != 0 {
		t.Errorf("got %d meetings with a key, want 0", got)
	}
	if b := e.key("m-1", wire.KeyRequest{Token: tok}); b.status != http.StatusForbidden || b.err.Error != wire.CodeLeft {
		t.Errorf("key with the ticket used to leave: got %d %s, want 403 %s", b.status, b.err.Error, wire.CodeLeft)
	}
	// A leave goes through the same checks as a key request.
	c := naClaims("m-1", alice)
	c.Context.ParticipantCountry = "CN"
	if b := e.leave("m-1", e.sign(c)); b.status != http.StatusForbidden || b.err.Error != wire.CodeResidencyConflict {
		t.Errorf("leave with a ticket this key server refuses: got %d %s, want 403 %s", b.status, b.err.Error, wire.CodeResidencyConflict)
	}
	if b := e.leave("m-2", tok); b.status != http.StatusForbidden || b.err.Error != wire.CodeMeetingMismatch {
		t.Errorf("leave of another meeting: got %d %s, want 403 %s", b.status, b.err.Error, wire.CodeMeetingMismatch)
	}
}

// TestKeysUnavailable checks that a key server that cannot fetch the ticket keys fails closed
// with 503 and Retry-After, not 401.
func TestKeysUnavailable(t *testing.T) {
	down := verifierFunc(func(context.Context, string) (wire.Claims, error) {
		return wire.Claims{}, errors.New("fetch ticket keys: connection refused")
	})
	e := newEnv(t, "us-sjc", func(c *Config) { c.Keys = down })
	st, body := e.post(keyPath("m-1"), wire.KeyRequest{Token: "x.y.z"})
	if st != http.StatusServiceUnavailable {
		t.Fatalf("got %d %s, want 503", st, body)
	}
	if strings.Contains(string(body), "connection refused") {
		t.Errorf("the answer leaks the operator's detail: %s", body)
	}
}

type verifierFunc func(ctx context.Context, token string) (wire.Claims, error)

func (f verifierFunc) Verify(ctx context.Context, token string) (wire.Claims, error) {
	return f(ctx, token)
}

func TestNew(t *testing.T) {
	m := loadApril(t)
	keys := verifierFunc(func(context.Context, string) (wire.Claims, error) { return wire.Claims{}, nil })
	good := Config{DC: "us-sjc", Model: m, Keys: keys, KEK: testKEK(1)}
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string
	}{
		{"valid", func(*Config) {}, ""},
		{"no model", func(c *Config) { c.Model = nil }, "no policy model"},
		{"no verifier", func(c *Config) { c.Keys = nil }, "no ticket verifier"},
		{"unknown datacenter", func(c *Config) { c.DC = "us-lax" }, `datacenter "us-lax" is not in the config`},
		{"media-only datacenter", func(c *Config) { c.DC = "us-den" }, "does not run the kms service"},
		{"no KEK", func(c *Config) { c.KEK = nil }, "key-encryption key is 0 bytes, want 32"},
		{"short KEK", func(c *Config) { c.KEK = make([]byte, 16) }, "key-encryption key is 16 bytes, want 32"},
		{"zero KEK", func(c *Config) { c.KEK = make([]byte, 32) }, "all zero"},
		{"negative retain", func(c *Config) { c.Retain = -time.Second }, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.edit(&cfg)
			_, err := New(cfg)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("got %v, want no error", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("got no error, want one containing %q", tt.wantErr)
			case err != nil && !strings.Contains(err.Error(), tt.wantErr):
				t.Errorf("got %q, want it to contain %q", err, tt.wantErr)
			case err != nil && !strings.HasPrefix(err.Error(), "new kms"):
				t.Errorf("got %q, want it to start with the operation, new kms", err)
			}
		})
	}
	t.Run("KEK not kept", func(t *testing.T) {
		kek := testKEK(7)
		s, err := New(Config{DC: "us-sjc", Model: m, Keys: keys, KEK: kek})
		if err != nil {
			t.Fatal(err)
		}
		if s.cfg.KEK != nil {
			t.Errorf("the server keeps Config.KEK")
		}
		clear(kek) // the caller may clear its copy; the server still works
		alice := newParty(t, "alice", keywrap.X25519)
		if _, sealed, _, err := s.store.current("m-1", "ticket-1", t0); err != nil {
			t.Fatal(err)
		} else if _, err := s.wrap(alice.pub, sealed, "m-1", "alice", 1); err != nil {
			t.Errorf("wrap after the caller cleared its KEK: %v", err)
		}
	})
}

func TestMetrics(t *testing.T) {
	e := newEnv(t, "us-sjc", func(c *Config) { c.Unverified = true })
	// A second key server on the same registry: `geofence dev` runs one per datacenter.
	if _, err := New(Config{DC: "ca-yyz", Model: e.model, Keys: e.srv.cfg.Keys, KEK: testKEK(3), Registry: e.reg}); err != nil {
		t.Fatalf("a second key server on the registry: %v", err)
	}
	if _, err := New(Config{DC: "us-sjc", Model: e.model, Keys: e.srv.cfg.Keys, KEK: testKEK(3), Registry: e.reg}); err == nil {
		t.Errorf("a second us-sjc key server on the same registry: got no error, want one")
	}
	alice := newParty(t, "alice", keywrap.X25519)
	e.key("m-1", wire.KeyRequest{Token: e.sign(naClaims("m-1", alice))})
	sjc := func(kv ...string) map[string]string {
		l := map[string]string{"datacenter": "us-sjc"}
		for i := 0; i < len(kv); i += 2 {
			l[kv[i]] = kv[i+1]
		}
		return l
	}
	tests := []struct {
		name   string
		metric string
		labels map[string]string
		want   float64
	}{
		{"x25519 issuance", "geofence_kms_issuances_total", sjc("suite", "x25519"), 1},
		{"hybrid issuances at zero", "geofence_kms_issuances_total", sjc("suite", "mlkem768x25519"), 0},
		{"residency refusals at zero", "geofence_kms_refusals_total", sjc("reason", wire.CodeResidencyConflict, "rule", ""), 0},
		{"rotations at zero", "geofence_kms_rotations_total", sjc(), 0},
		{"unverified", "geofence_kms_config_unverified", sjc(), 1},
		{"other key server verified", "geofence_kms_config_unverified", map[string]string{"datacenter": "ca-yyz"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := value(t, e.reg, tt.metric, tt.labels); got != tt.want {
				t.Errorf("got %s%v = %v, want %v", tt.metric, tt.labels, got, tt.want)
			}
		})
	}
	t.Run("lint", func(t *testing.T) {
		fams, err := e.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		problems, err := promlint.NewWithMetricFamilies(fams).Lint()
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			t.Errorf("metric %s: %s", p.Metric, p.Text)
		}
		for _, f := range fams {
			if !strings.HasPrefix(f.GetName(), "geofence_kms_") {
				t.Errorf("metric %s is not named geofence_kms_*", f.GetName())
			}
		}
	})
}

// TestServe runs the key server on a loopback port: it answers, serves its metrics, drains on
// cancel and cannot be served twice.
func TestServe(t *testing.T) {
	leaktest.Check(t)
	reg := prometheus.NewRegistry()
	e := newEnv(t, "us-sjc", func(c *Config) {
		c.Registry = reg
		c.Metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.srv.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()
	hc := &http.Client{Timeout: 30 * time.Second}
	defer hc.CloseIdleConnections()

	alice := newParty(t, "alice", keywrap.X25519)
	body, _ := json.Marshal(wire.KeyRequest{Token: e.sign(naClaims("m-1", alice))})
	resp, err := hc.Post(base+keyPath("m-1"), "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("key: got %d %s", resp.StatusCode, raw)
	}
	var k wire.KeyResponse
	mustDecode(t, raw, &k)
	open(t, alice, k)

	for _, path := range []string{HealthPath, MetricsPath} {
		resp, err := hc.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: got %d", path, resp.StatusCode)
		}
		if path == MetricsPath && !strings.Contains(string(raw), `geofence_kms_issuances_total{datacenter="us-sjc",suite="x25519"} 1`) {
			t.Errorf("GET %s: no issuance counted in\n%s", path, raw)
		}
		// The HTTP server is package httpserve's, bounded and counted.
		if path == MetricsPath && !strings.Contains(string(raw), `geofence_http_connections_open{server="kms/us-sjc"} 1`) {
			t.Errorf("GET %s: the open connection is not counted in\n%s", path, raw)
		}
	}
	resp, err = hc.Get(base + keyPath("m-1"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET %s: got %d, want 405", keyPath("m-1"), resp.StatusCode)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: got %v, want nil after cancel", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln2.Close()
	if err := e.srv.Serve(context.Background(), ln2); err == nil {
		t.Errorf("second Serve: got nil, want an error")
	}
}
