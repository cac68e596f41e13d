package ticket

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"flag"
	"github.com/geofence/geofence/wire"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestClaimsWireFormat pins the JSON a ticket carries: clients in other languages, the key
// servers and the audit log read these names.
func TestClaimsWireFormat(t *testing.T) {
	c := validClaims()
	c.Issuer = testIssuer
	c.Audience = []string{"yyz1"}
	c.IssuedAt, c.NotBefore, c.Expiry = t0, t0, t0.Add(5*time.Minute)
	c.ID = "AAECAwQFBgcICQoLDA0ODw"
	got, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	golden := filepath.Join("testdata", "claims.golden.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./ticket -run TestClaimsWireFormat -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("got\n%s\nwant (%s)\n%s", got, golden, want)
	}

	var back wire.Claims
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, c) {
		t.Errorf("round trip: got\n%+v\nwant\n%+v", back, c)
	}
}

func TestClaimsZeroTimesOmitted(t *testing.T) {
	b, err := json.Marshal(wire.Claims{})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"iat", "nbf", "exp"} {
		if v, ok := m[k]; ok {
			t.Errorf("zero wire.Claims encodes %s as %v, want it omitted", k, v)
		}
	}
}

func TestClaimsLists(t *testing.T) {
	c := validClaims() // yyz1: primary and kms; ord1: primary; iad1: secondary and kms
	tests := []struct {
		id   string
		want []string
	}{
		{"yyz1", []string{wire.ListPrimary, wire.ListKMS}},
		{"ord1", []string{wire.ListPrimary}},
		{"iad1", []string{wire.ListSecondary, wire.ListKMS}},
		{"pek1", nil},
		{"", nil},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			if got := c.Lists(tt.id); !slices.Equal(got, tt.want) {
				t.Errorf("Lists(%q) = %q, want %q", tt.id, got, tt.want)
			}
		})
	}
}

// RFC 8037 appendix A: the Ed25519 key of A.1, its thumbprint (A.3) and a JWS made with it
// (A.4). The thumbprint is how kids are made; the JWS checks the EdDSA path of go-jose that
// Verify relies on.
const (
	rfc8037D          = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
	rfc8037X          = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
	rfc8037Thumbprint = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
	rfc8037JWS        = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc." +
		"hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
)

func TestRFC8037Vectors(t *testing.T) {
	seed, err := b64.DecodeString(rfc8037D)
	if err != nil {
		t.Fatal(err)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	if got := b64.EncodeToString(pub); got != rfc8037X {
		t.Fatalf("public key of A.1's d: got x %q, want %q", got, rfc8037X)
	}

	t.Run("A.3 thumbprint", func(t *testing.T) {
		got, err := keyID(pub)
		if err != nil {
			t.Fatal(err)
		}
		if got != rfc8037Thumbprint {
			t.Errorf("got kid %q, want %q", got, rfc8037Thumbprint)
		}
	})

	t.Run("A.4 sign", func(t *testing.T) {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: priv}, nil)
		if err != nil {
			t.Fatal(err)
		}
		jws, err := signer.Sign([]byte("Example of Ed25519 signing"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := jws.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		if got != rfc8037JWS {
			t.Errorf("got\n%s\nwant\n%s", got, rfc8037JWS)
		}
	})

	t.Run("A.5 verify", func(t *testing.T) {
		if err := checkCompact(rfc8037JWS); err != nil {
			t.Fatalf("checkCompact: %v", err)
		}
		jws, err := jose.ParseSignedCompact(rfc8037JWS, allowedAlgs)
		if err != nil {
			t.Fatal(err)
		}
		got, err := jws.Verify(pub)
		if err != nil {
			t.Fatal(err)
		}
		if want := "Example of Ed25519 signing"; string(got) != want {
			t.Errorf("got payload %q, want %q", got, want)
		}
	})
}
