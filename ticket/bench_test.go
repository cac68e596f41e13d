package ticket

import (
	"testing"
	"time"
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
