package ticket

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestVerifyForgedClaims signs, with a key the verifier trusts, tokens that Signer would never
// produce, to check that Verify does not rely on the signer's good behaviour for anything it
// can check itself.
func TestVerifyForgedClaims(t *testing.T) {
	clk := newClock(t0)
	f := newForger(t, 9)
	v := newTestVerifier(t, f.set(), clk)
	v.Audience = "yyz1"

	good := func() map[string]any {
		p := payload(t, validClaims(), t0, time.Minute)
		p["aud"] = []string{"yyz1"}
		return p
	}
	without := func(keys ...string) []byte {
		p := good()
		for _, k := range keys {
			delete(p, k)
		}
		return mustJSON(t, p)
	}
	with := func(k string, val any) []byte {
		p := good()
		p[k] = val
		return mustJSON(t, p)
	}
	hdr := func(edit func(map[string]any)) []byte {
		h := f.header()
		edit(h)
		return mustJSON(t, h)
	}
	goodHeader := mustJSON(t, f.header())
	goodBody := mustJSON(t, good())
	// Member names are case-sensitive: "Meeting" is not "meeting".
	otherCase := []byte(strings.Replace(string(goodBody), `"meeting":`, `"Meeting":`, 1))

	tests := []struct {
		name    string
		token   string
		wantErr error  // besides ErrInvalid
		wantMsg string // part of the error
	}{
		{"control: well formed", f.sign(goodHeader, goodBody), nil, ""},
		{"typ missing", f.sign(hdr(func(h map[string]any) { delete(h, "typ") }), goodBody), nil, `typ ""`},
		{"typ JWT", f.sign(hdr(func(h map[string]any) { h["typ"] = "JWT" }), goodBody), nil, `typ "JWT"`},
		{"kid missing", f.sign(hdr(func(h map[string]any) { delete(h, "kid") }), goodBody), nil, "kid is missing"},
		{"kid unknown", f.sign(hdr(func(h map[string]any) { h["kid"] = "someone-else" }), goodBody), ErrUnknownKey, `kid "someone-else"`},
		{"kid too long", f.sign(hdr(func(h map[string]any) { h["kid"] = strings.Repeat("k", 129) }), goodBody), nil, "longer than 128"},
		{"embedded jwk", f.sign(hdr(func(h map[string]any) {
			h["jwk"] = map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64.EncodeToString(f.priv.Public().(ed25519.PublicKey))}
		}), goodBody), nil, "embeds a jwk"},
		{"unsupported crit", f.sign(hdr(func(h map[string]any) { h["crit"] = []string{"exp"}; h["exp"] = 1 }), goodBody), nil, "critical"},
		{"payload not json", f.sign(goodHeader, []byte("hello")), nil, "claims"},
		{"payload array", f.sign(goodHeader, []byte("[]")), nil, "claims"},
		{"payload null", f.sign(goodHeader, []byte("null")), nil, `iss ""`},
		{"duplicate member", f.sign(goodHeader, []byte(strings.Replace(string(goodBody), `"meeting":"m-42"`, `"meeting":"m-42","meeting":"m-666"`, 1))), nil, "duplicate"},
		{"member name in other case", f.sign(goodHeader, otherCase), nil, "missing meeting"},
		{"wrong issuer", f.sign(goodHeader, with("iss", "https://evil.test")), nil, "iss"},
		{"audience without us", f.sign(goodHeader, with("aud", []string{"ord1"})), nil, "aud"},
		{"audience as string", f.sign(goodHeader, with("aud", "yyz1")), nil, "claims"},
		{"missing exp", f.sign(goodHeader, without("exp")), nil, "missing exp"},
		{"missing registered claims", f.sign(goodHeader, without("iat", "nbf", "jti")), nil, "missing jti, iat, nbf"},
		{"exp not an integer", f.sign(goodHeader, with("exp", float64(t0.Unix())+60.5)), nil, "claims"},
		{"exp before nbf", f.sign(goodHeader, with("nbf", t0.Unix()+120)), nil, "not valid before"},
		{"exp equal to nbf", f.sign(goodHeader, with("exp", t0.Unix())), nil, "exp is not after nbf"},
		{"issued in the future", f.sign(goodHeader, with("iat", t0.Add(time.Hour).Unix())), nil, "not valid before"},
		{"missing sub", f.sign(goodHeader, without("sub")), nil, "missing sub"},
		{"missing context", f.sign(goodHeader, without("context")), nil, "missing context.participant_region"},
		{"no media DC", f.sign(goodHeader, without("primary", "secondary")), nil, "missing primary or secondary"},
		{"mode unknown", f.sign(goodHeader, with("mode", "MANAGED")), nil, `mode "MANAGED"`},
		{"unknown member is ignored", f.sign(goodHeader, with("x_future_claim", true)), nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := v.Verify(tt.token)
			if tt.wantMsg == "" && tt.wantErr == nil {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Verify accepted it: %+v", c)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("got error %v, want ErrInvalid", err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("got error %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("got error %q, want it to contain %q", err, tt.wantMsg)
			}
		})
	}
}

// TestVerifyKeySubstitution signs with a key the verifier does not trust but under the kid of
// one it does.
func TestVerifyKeySubstitution(t *testing.T) {
	clk := newClock(t0)
	s := newTestSigner(t, clk)
	v := newTestVerifier(t, s.JWKS(), clk)
	f := newForger(t, 9)
	f.kid = s.KeyID()
	_, err := v.Verify(f.sign(mustJSON(t, f.header()), mustJSON(t, payload(t, validClaims(), t0, time.Minute))))
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "signature") {
		t.Errorf("got error %v, want an invalid signature", err)
	}
}
