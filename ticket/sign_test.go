package ticket

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/geofence/geofence/wire"
)

func TestCheckTTL(t *testing.T) {
	tests := []struct {
		ttl     time.Duration
		wantErr string // empty: accepted
	}{
		{-time.Second, "ticket ttl -1s is not positive"},
		{0, "ticket ttl 0s is not positive"},
		{999 * time.Millisecond, "ticket ttl 999ms is under 1s: tickets carry whole seconds"},
		{time.Second, ""},
		{5 * time.Minute, ""},
		{MaxTTL, ""},
		{MaxTTL + time.Nanosecond, "ticket ttl 24h0m0.000000001s is over the maximum 24h0m0s"},
		{25 * time.Hour, "ticket ttl 25h0m0s is over the maximum 24h0m0s: a ticket is a bearer token, so it lives at most a day"},
	}
	s := newTestSigner(t, newClock(t0))
	for _, tt := range tests {
		t.Run(tt.ttl.String(), func(t *testing.T) {
			err := CheckTTL(tt.ttl)
			_, signErr := s.Sign(validClaims(), tt.ttl)
			if tt.wantErr == "" {
				if err != nil || signErr != nil {
					t.Fatalf("got errors %v and (Sign) %v, want none", err, signErr)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want it to contain %q", err, tt.wantErr)
			}
			// Sign says the same, so that a start-up check and a failing join read alike.
			if signErr == nil || signErr.Error() != "sign ticket: "+err.Error() {
				t.Errorf("Sign: got error %v, want %q", signErr, "sign ticket: "+err.Error())
			}
		})
	}
}

// TestHandBuiltTokenIsGoJoses checks the hand-built JWS against go-jose, the library Sign
// used before: go-jose parses and verifies it, and, Ed25519 being deterministic, go-jose's
// signer makes the very same token of the same payload.
func TestHandBuiltTokenIsGoJoses(t *testing.T) {
	s := newTestSigner(t, newClock(t0))
	signed, err := s.SignJSON(validClaims(), 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jose.ParseSignedCompact(signed.Token, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatalf("go-jose does not parse the token: %v", err)
	}
	s.mu.RLock()
	k := s.active
	s.mu.RUnlock()
	payload, err := parsed.Verify(k.pub)
	if err != nil {
		t.Fatalf("go-jose does not verify the token: %v", err)
	}
	if !bytes.Equal(payload, signed.Payload.JSON) {
		t.Errorf("go-jose's payload:\n%s\nwant\n%s", payload, signed.Payload.JSON)
	}
	h := parsed.Signatures[0].Header
	if h.Algorithm != "EdDSA" || h.KeyID != k.kid || h.ExtraHeaders[jose.HeaderType] != TokenType {
		t.Errorf("go-jose reads the header as alg %q kid %q typ %v, want EdDSA, %q, %q",
			h.Algorithm, h.KeyID, h.ExtraHeaders[jose.HeaderType], k.kid, TokenType)
	}

	old, err := goJoseSigner(k.priv, k.kid)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := old.Sign(signed.Payload.JSON)
	if err != nil {
		t.Fatal(err)
	}
	want, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	if signed.Token != want {
		t.Errorf("hand-built token:\n%s\ngo-jose's:\n%s", signed.Token, want)
	}
}

func goJoseSigner(priv ed25519.PrivateKey, kid string) (jose.Signer, error) {
	return jose.NewSigner(
		jose.SigningKey{Algorithm: jose.EdDSA, Key: jose.JSONWebKey{Key: priv, KeyID: kid}},
		(&jose.SignerOptions{}).WithType(TokenType),
	)
}

func TestSignJSON(t *testing.T) {
	clk := newClock(t0)
	s := newTestSigner(t, clk)
	v := newTestVerifier(t, s.JWKS(), clk)
	in := validClaims()
	in.KMS = nil
	in.Mode = wire.ModeE2EE
	signed, err := s.SignJSON(in, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Verify(signed.Token)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !reflect.DeepEqual(got, signed.Claims) {
		t.Errorf("Signed.Claims:\n%+v\nVerify returns\n%+v", signed.Claims, got)
	}
	if want := t0.Add(5 * time.Minute); !signed.Claims.Expiry.Equal(want) {
		t.Errorf("got expiry %v, want %v", signed.Claims.Expiry, want)
	}
	seg := strings.Split(signed.Token, ".")[1]
	if want := b64.EncodeToString(signed.Payload.JSON); seg != want {
		t.Errorf("the token's payload is not Signed.Payload.JSON")
	}
	for _, l := range []struct {
		name string
		dcs  []wire.DC
	}{{wire.ListPrimary, in.Primary}, {wire.ListSecondary, in.Secondary}, {wire.ListKMS, []wire.DC{}}} {
		want := mustJSON(t, l.dcs)
		if got := signed.Payload.List(l.name); !bytes.Equal(got, want) {
			t.Errorf("List(%s): got %s, want %s", l.name, got, want)
		}
	}

	// Sign reuses its buffers; what SignJSON returned stays the caller's.
	before := bytes.Clone(signed.Payload.JSON)
	for range 3 {
		mustSign(t, s, validClaims(), time.Minute)
		if _, err := s.SignJSON(validClaims(), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(before, signed.Payload.JSON) {
		t.Error("a later Sign wrote into an earlier SignJSON's payload")
	}
	var back wire.Claims
	if err := json.Unmarshal(signed.Payload.JSON, &back); err != nil || !reflect.DeepEqual(back, signed.Claims) {
		t.Errorf("the payload decodes to %+v (%v), want the signed claims", back, err)
	}
}

// TestSignAllocs pins the fast path: the token string, the signature and the ticket id's
// encoding, with the payload buffer pooled.
func TestSignAllocs(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("allocation counts differ under coverage and the race detector")
	}
	s := newTestSigner(t, newClock(t0))
	c := validClaims()
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := s.Sign(c, 5*time.Minute); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 4 {
		t.Errorf("got %v allocations per Sign, want at most 4", allocs)
	}
}
