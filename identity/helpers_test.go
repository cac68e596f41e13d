package identity

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/geofence/geofence/wire"
)

// t0 is the fake clock's instant; any fixed one will do.
var t0 = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

func clock() time.Time { return t0 }

// key is a deterministic Ed25519 key, so that tokens (and the fuzz corpus) are reproducible.
func key(seed byte) ed25519.PrivateKey {
	s := make([]byte, ed25519.SeedSize)
	for i := range s {
		s[i] = seed
	}
	return ed25519.NewKeyFromSeed(s)
}

// Two accounts, each with its own backend key: acme's and globex's.
var (
	acmeKey   = key(1)
	acmeKey2  = key(2)
	globexKey = key(3)
)

// keyring is a Keys over a fixed map: account -> kid -> key.
type keyring map[string]map[string]ed25519.PublicKey

func (k keyring) AccountKey(account, kid string) (ed25519.PublicKey, error) {
	keys, ok := k[account]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownAccount, account)
	}
	pub, ok := keys[kid]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownKey, kid)
	}
	return pub, nil
}

var _ Keys = keyring(nil)

func testKeys() keyring {
	return keyring{
		"acme": {
			"acme-2026": acmeKey.Public().(ed25519.PublicKey),
			"acme-2027": acmeKey2.Public().(ed25519.PublicKey),
		},
		"globex": {"globex-1": globexKey.Public().(ed25519.PublicKey)},
	}
}

func testVerifier() *Verifier {
	return &Verifier{Keys: testKeys(), Now: clock}
}

// claims is a one-hour token of alice at acme, for meeting m-42, as host.
func claims() wire.JoinClaims {
	return wire.JoinClaims{
		Account: "acme", Participant: "alice", Audience: []string{wire.JoinAudience},
		IssuedAt: t0.Add(-time.Minute), Expiry: t0.Add(59 * time.Minute),
		Meeting: "m-42", Host: true,
	}
}

func mint(t testing.TB, k ed25519.PrivateKey, kid string, c wire.JoinClaims) string {
	t.Helper()
	tok, err := Mint(k, kid, c)
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	return tok
}

var raw = base64.RawURLEncoding

// forge signs any header and payload, given as JSON text or as values to encode, for the
// tokens Mint refuses to make.
func forge(t testing.TB, k ed25519.PrivateKey, header, payload any) string {
	t.Helper()
	enc := func(v any) string {
		if s, ok := v.(string); ok {
			return raw.EncodeToString([]byte(s))
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return raw.EncodeToString(b)
	}
	input := enc(header) + "." + enc(payload)
	return input + "." + raw.EncodeToString(ed25519.Sign(k, []byte(input)))
}

// header is a well formed header for acme's first key.
func header() map[string]any {
	return map[string]any{"alg": "EdDSA", "kid": "acme-2026", "typ": "JWT"}
}

// payload is claims() as a map, to edit.
func payload(t testing.TB) map[string]any {
	t.Helper()
	b, err := json.Marshal(claims())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
