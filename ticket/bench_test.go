package ticket

import (
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/geofence/geofence/wire"
)

// The directory signs one ticket per join; every media server and key server verifies one per
// admission or key request.

func BenchmarkSign(b *testing.B) {
	clk := newClock(t0)
	s, err := NewSigner(testIssuer, nil, clk.Now) // crypto/rand, as in production
	if err != nil {
		b.Fatal(err)
	}
	c := validClaims()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sign(c, 5*time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	clk := newClock(t0)
	s, err := NewSigner(testIssuer, nil, clk.Now)
	if err != nil {
		b.Fatal(err)
	}
	v := newTestVerifier(b, s.JWKS(), clk)
	tok := mustSign(b, s, validClaims(), 5*time.Minute)
	b.SetBytes(int64(len(tok)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyReject is the cost of turning away a token with a bad signature: what an
// attacker can make a verifier spend.
func BenchmarkVerifyReject(b *testing.B) {
	clk := newClock(t0)
	s, err := NewSigner(testIssuer, nil, clk.Now)
	if err != nil {
		b.Fatal(err)
	}
	v := newTestVerifier(b, s.JWKS(), clk)
	tok := mustSign(b, s, validClaims(), 5*time.Minute)
	bad := tok[:len(tok)-2] + "AA"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(bad); err == nil {
			b.Fatal("verified a bad signature")
		}
	}
}

func BenchmarkSignJSON(b *testing.B) {
	clk := newClock(t0)
	s, err := NewSigner(testIssuer, nil, clk.Now)
	if err != nil {
		b.Fatal(err)
	}
	c := validClaims()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.SignJSON(c, 5*time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignGoJose is Sign as it was before the hand-built JWS, kept to measure the fast
// path against in the same run: claims through encoding/json by reflection, the
// MarshalJSON output re-compacted, then go-jose's signer and serializer.
func BenchmarkSignGoJose(b *testing.B) {
	clk := newClock(t0)
	s, err := NewSigner(testIssuer, nil, clk.Now)
	if err != nil {
		b.Fatal(err)
	}
	signer, err := goJoseSigner(s.active.priv, s.active.kid)
	if err != nil {
		b.Fatal(err)
	}
	c := validClaims()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Check(); err != nil {
			b.Fatal(err)
		}
		var jti [16]byte
		if err := s.readRand(jti[:]); err != nil {
			b.Fatal(err)
		}
		now := clk.Now().Truncate(time.Second)
		c.Issuer, c.IssuedAt, c.NotBefore, c.Expiry = testIssuer, now, now, now.Add(5*time.Minute)
		c.ID = b64.EncodeToString(jti[:])
		payload, err := json.Marshal(oldClaims(c))
		if err != nil {
			b.Fatal(err)
		}
		jws, err := signer.Sign(payload)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := jws.CompactSerialize(); err != nil {
			b.Fatal(err)
		}
	}
}

// oldClaims is wire.Claims with the JSON methods it had before AppendJSON.
type oldClaims wire.Claims

type oldFields wire.Claims

type oldJSON struct {
	oldFields
	IssuedAt  int64 `json:"iat,omitempty"`
	NotBefore int64 `json:"nbf,omitempty"`
	Expiry    int64 `json:"exp,omitempty"`
}

func (c oldClaims) MarshalJSON() ([]byte, error) {
	return json.Marshal(oldJSON{oldFields: oldFields(c),
		IssuedAt: c.IssuedAt.Unix(), NotBefore: c.NotBefore.Unix(), Expiry: c.Expiry.Unix()})
}

// BenchmarkEd25519 is the floor: the signature alone, over a signing input of a ticket's size.
func BenchmarkEd25519(b *testing.B) {
	clk := newClock(t0)
	s, err := NewSigner(testIssuer, nil, clk.Now)
	if err != nil {
		b.Fatal(err)
	}
	tok := mustSign(b, s, validClaims(), 5*time.Minute)
	input := []byte(tok[:strings.LastIndexByte(tok, '.')])
	b.SetBytes(int64(len(input)))
	b.ReportAllocs()
	for b.Loop() {
		ed25519.Sign(s.active.priv, input)
	}
}
