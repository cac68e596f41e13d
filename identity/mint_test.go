package identity

import (
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"github.com/geofence/geofence/wire"
)

// TestMintWireFormat pins what Mint writes: other people's backends write the same.
func TestMintWireFormat(t *testing.T) {
	tok := mint(t, acmeKey, "acme-2026", claims())
	seg := strings.Split(tok, ".")
	tests := []struct {
		name string
		seg  string
		want string
	}{
		{"header", seg[0], `{"alg":"EdDSA","kid":"acme-2026","typ":"geofence-join+jwt"}`},
		{"payload", seg[1], `{"iss":"acme","sub":"alice","aud":"geofence","iat":1773480353,"exp":1773483953,"meeting":"m-42","host":true}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := raw.DecodeString(tt.seg)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}

	c := claims()
	c.Meeting, c.Host, c.NotBefore, c.Audience = "", false, t0, []string{"geofence", "acme-internal"}
	seg = strings.Split(mint(t, acmeKey, "acme-2026", c), ".")
	got, _ := raw.DecodeString(seg[1])
	if want := `{"iss":"acme","sub":"alice","aud":["geofence","acme-internal"],"iat":1773480353,"nbf":1773480413,"exp":1773483953}`; string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestMintRefuses(t *testing.T) {
	tests := []struct {
		name    string
		key     ed25519.PrivateKey
		kid     string
		edit    func(*wire.JoinClaims)
		wantErr string
	}{
		{"no key", nil, "k", func(*wire.JoinClaims) {}, "mint join token: the key is 0 bytes, not an Ed25519 private key"},
		{"a public key", ed25519.PrivateKey(acmeKey.Public().(ed25519.PublicKey)), "k", func(*wire.JoinClaims) {}, "the key is 32 bytes"},
		{"no kid", acmeKey, "", func(*wire.JoinClaims) {}, `kid "" is not an id`},
		{"kid with a space", acmeKey, "acme 1", func(*wire.JoinClaims) {}, `kid "acme 1" is not an id`},
		{"no account", acmeKey, "k", func(c *wire.JoinClaims) { c.Account = "" }, "iss (the account id) is missing"},
		{"bad participant", acmeKey, "k", func(c *wire.JoinClaims) { c.Participant = "a@b" }, `sub "a@b" is not an id`},
		{"bad meeting", acmeKey, "k", func(c *wire.JoinClaims) { c.Meeting = "m/1" }, `meeting "m/1" is not an id`},
		{"other audience", acmeKey, "k", func(c *wire.JoinClaims) { c.Audience = []string{"zoom"} }, `aud is not "geofence"`},
		{"no iat", acmeKey, "k", func(c *wire.JoinClaims) { c.IssuedAt = time.Time{} }, "iat is missing"},
		{"no exp", acmeKey, "k", func(c *wire.JoinClaims) { c.Expiry = time.Time{} }, "exp is missing"},
		{"too long", acmeKey, "k", func(c *wire.JoinClaims) { c.Expiry = c.IssuedAt.Add(25 * time.Hour) }, "lifetime over 24h: exp is 25h0m0s after iat"},
		{"too large", acmeKey, "k", func(c *wire.JoinClaims) {
			for range 400 {
				c.Audience = append(c.Audience, "some-audience")
			}
		}, "more than the 8192 verifiers read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := claims()
			tt.edit(&c)
			tok, err := Mint(tt.key, tt.kid, c)
			if err == nil {
				t.Fatalf("got token %.20s..., want error containing %q", tok, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "mint join token: ") {
				t.Errorf("got error %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

// TestMintVerifyRoundTrip: whatever Mint makes of valid claims, Verify returns.
func TestMintVerifyRoundTrip(t *testing.T) {
	v := testVerifier()
	c := wire.JoinClaims{Account: "globex", Participant: strings.Repeat("p", MaxIDLen), IssuedAt: t0, Expiry: t0.Add(time.Second)}
	id, err := v.Verify(mint(t, globexKey, "globex-1", c))
	if err != nil {
		t.Fatal(err)
	}
	if id.Participant != c.Participant || id.Account != "globex" || id.Meeting != "" || id.Host {
		t.Errorf("got %+v", id)
	}
}
