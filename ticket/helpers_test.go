package ticket

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"github.com/geofence/geofence/wire"
	"io"
	mrand "math/rand/v2"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

const testIssuer = "https://directory.geofence.test"

// t0 is the fake clock's start; any fixed instant will do.
var t0 = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

// clock is a fake clock that moves only when told to.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// detRand is a deterministic stream for keys and ticket ids, so that tokens are reproducible
// (the fuzz corpus holds one).
func detRand(seed byte) io.Reader {
	return mrand.NewChaCha8([32]byte{seed})
}

func newTestSigner(t testing.TB, clk *clock) *Signer {
	t.Helper()
	s, err := NewSigner(testIssuer, detRand(1), clk.Now)
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	return s
}

func newTestVerifier(t testing.TB, set jose.JSONWebKeySet, clk *clock) *Verifier {
	t.Helper()
	v, err := NewVerifier(set, testIssuer, clk.Now)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

// validClaims is a managed-mode ticket for a participant in Canada joining a meeting whose
// data region is north-america.
func validClaims() wire.Claims {
	return wire.Claims{
		Meeting:     "m-42",
		Participant: "p-7",
		Account:     "acme",
		Mode:        wire.ModeManaged,
		Region:      "north-america",
		Home:        "yyz1",
		Primary: []wire.DC{
			{ID: "yyz1", Country: "CA", Endpoint: "wss://yyz1.media.geofence.test"},
			{ID: "ord1", Country: "US", Endpoint: "wss://ord1.media.geofence.test"},
		},
		Secondary: []wire.DC{{ID: "iad1", Country: "US", Endpoint: "wss://iad1.media.geofence.test"}},
		KMS:       []wire.DC{{ID: "yyz1", Country: "CA"}, {ID: "iad1", Country: "US"}},
		Context: wire.Context{
			ParticipantCountry: "CA",
			ParticipantRegion:  "north-america",
			ParticipantPlan:    "enterprise",
			MeetingRegion:      "north-america",
			HostAccount:        "acme",
			HostPlan:           "enterprise",
			HostDataRegions:    []string{"north-america"},
		},
		PublicKey: "hpke-x25519:8rnQKqXwLh1Zb5VfCwbYhlE2M3hRpfGrCKUNq9g7tBk",
	}
}

func mustSign(t testing.TB, s *Signer, c wire.Claims, ttl time.Duration) string {
	t.Helper()
	tok, err := s.Sign(c, ttl)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return tok
}

var b64 = base64.RawURLEncoding

// forger makes tokens by hand, with its own Ed25519 key, for the cases Signer refuses to make.
type forger struct {
	kid  string
	priv ed25519.PrivateKey
}

func newForger(t testing.TB, seed byte) *forger {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(detRand(seed))
	if err != nil {
		t.Fatal(err)
	}
	kid, err := keyID(priv.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	return &forger{kid: kid, priv: priv}
}

func (f *forger) set() jose.JSONWebKeySet {
	return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: f.priv.Public(), KeyID: f.kid, Algorithm: "EdDSA", Use: "sig"}}}
}

func (f *forger) header() map[string]any {
	return map[string]any{"alg": "EdDSA", "typ": TokenType, "kid": f.kid}
}

// payload is the JSON of c as Sign would fill it at now.
func payload(t testing.TB, c wire.Claims, now time.Time, ttl time.Duration) map[string]any {
	t.Helper()
	c.Issuer = testIssuer
	c.IssuedAt, c.NotBefore, c.Expiry = now, now, now.Add(ttl)
	c.ID = "jti-1"
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sign makes a compact EdDSA JWS of the raw header and payload bytes.
func (f *forger) sign(header, payload []byte) string {
	input := b64.EncodeToString(header) + "." + b64.EncodeToString(payload)
	return input + "." + b64.EncodeToString(ed25519.Sign(f.priv, []byte(input)))
}
