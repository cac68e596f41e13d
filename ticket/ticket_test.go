package ticket

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"github.com/geofence/geofence/wire"
	"reflect"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

func TestSignVerifyRoundTrip(t *testing.T) {
	clk := newClock(t0.Add(700 * time.Millisecond)) // sub-second: iat must truncate
	s := newTestSigner(t, clk)
	v := newTestVerifier(t, s.JWKS(), clk)

	tests := []struct {
		name   string
		claims func(*wire.Claims)
	}{
		{"managed", func(*wire.Claims) {}},
		{"e2ee without kms", func(c *wire.Claims) { c.Mode = wire.ModeE2EE; c.KMS = nil }},
		{"no secondary, no narrowing", func(c *wire.Claims) { c.Secondary = nil; c.Context.HostDataRegions = nil }},
		{"unknown participant country", func(c *wire.Claims) { c.Context.ParticipantCountry = "" }},
		{"audience", func(c *wire.Claims) { c.Audience = []string{"yyz1", "iad1"} }},
		{"sign overwrites registered claims", func(c *wire.Claims) {
			c.Issuer, c.ID, c.Expiry = "someone else", "chosen", t0.Add(100*time.Hour)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := validClaims()
			tt.claims(&in)
			tok, err := s.Sign(in, 5*time.Minute)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			got, err := v.Verify(tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := in
			want.Issuer = testIssuer
			want.IssuedAt = t0
			want.NotBefore = t0
			want.Expiry = t0.Add(5 * time.Minute)
			want.ID = got.ID
			if len(got.ID) != 22 { // 128 bits, base64url
				t.Errorf("jti %q is %d characters, want 22", got.ID, len(got.ID))
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got claims\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestSignTicketIDsDiffer(t *testing.T) {
	clk := newClock(t0)
	s := newTestSigner(t, clk)
	v := newTestVerifier(t, s.JWKS(), clk)
	seen := map[string]bool{}
	for range 100 {
		c, err := v.Verify(mustSign(t, s, validClaims(), time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if seen[c.ID] {
			t.Fatalf("jti %q issued twice", c.ID)
		}
		seen[c.ID] = true
	}
}

func TestSignRefuses(t *testing.T) {
	s := newTestSigner(t, newClock(t0))
	tests := []struct {
		name    string
		claims  func(*wire.Claims)
		ttl     time.Duration
		wantErr string
	}{
		{"zero ttl", func(*wire.Claims) {}, 0, "sign ticket: ticket ttl 0s is not positive"},
		{"sub-second ttl", func(*wire.Claims) {}, 500 * time.Millisecond, "ticket ttl 500ms is under 1s"},
		{"ttl over max", func(*wire.Claims) {}, MaxTTL + time.Second, "sign ticket: ticket ttl 24h0m1s is over the maximum 24h0m0s"},
		{"missing meeting", func(c *wire.Claims) { c.Meeting = "" }, time.Minute, "missing meeting"},
		{"every missing field at once", func(c *wire.Claims) { c.Participant, c.Home, c.Context.HostPlan = "", "", "" },
			time.Minute, "missing sub, home, context.host_plan"},
		{"no media DC", func(c *wire.Claims) { c.Primary, c.Secondary = nil, nil }, time.Minute, "missing primary or secondary"},
		{"managed without kms", func(c *wire.Claims) { c.KMS = nil }, time.Minute, "missing kms"},
		{"dc without country", func(c *wire.Claims) { c.Secondary[0].Country = "" }, time.Minute, "missing secondary[0].country"},
		{"unknown mode", func(c *wire.Claims) { c.Mode = "cleartext" }, time.Minute, `mode "cleartext" is neither`},
		{"too large", func(c *wire.Claims) { c.PublicKey = strings.Repeat("k", MaxTokenSize) }, time.Minute, "token would be 44943 bytes, more than the 32768 verifiers accept"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validClaims()
			tt.claims(&c)
			tok, err := s.Sign(c, tt.ttl)
			if err == nil {
				t.Fatalf("Sign = %.20s..., want error containing %q", tok, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got error %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestVerifyTime(t *testing.T) {
	const ttl = 5 * time.Minute
	tests := []struct {
		name    string
		at      time.Duration // verification time, from signing
		wantErr error         // nil, ErrExpired, or ErrInvalid
	}{
		{"at signing", 0, nil},
		{"just before exp", ttl - time.Second, nil},
		{"after exp within leeway", ttl + Leeway - time.Second, nil},
		{"exp plus leeway", ttl + Leeway, ErrExpired},
		{"long expired", 24 * time.Hour, ErrExpired},
		{"before nbf within leeway", -Leeway, nil},
		{"before nbf past leeway", -Leeway - time.Second, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock(t0)
			s := newTestSigner(t, clk)
			v := newTestVerifier(t, s.JWKS(), clk)
			tok := mustSign(t, s, validClaims(), ttl)
			clk.Advance(tt.at)
			_, err := v.Verify(tok)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("got error %v, want none", err)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			case tt.wantErr == ErrInvalid && errors.Is(err, ErrExpired):
				t.Fatalf("got error %v, want not-yet-valid, not expired", err)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not match ErrInvalid", err)
			}
		})
	}
}

func TestVerifyWrongIssuer(t *testing.T) {
	clk := newClock(t0)
	// Same random stream, so the same keys, under another issuer name.
	other, err := NewSigner("https://evil.test", detRand(1), clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	s := newTestSigner(t, clk)
	if got, want := other.KeyID(), s.KeyID(); got != want {
		t.Fatalf("setup: kid %q, want %q", got, want)
	}
	v := newTestVerifier(t, s.JWKS(), clk)
	_, err = v.Verify(mustSign(t, other, validClaims(), time.Minute))
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `iss "https://evil.test"`) {
		t.Errorf("got error %v, want ErrInvalid naming the issuer", err)
	}
}

// TestVerifyTampered changes signed tokens in every part.
func TestVerifyTampered(t *testing.T) {
	clk := newClock(t0)
	s := newTestSigner(t, clk)
	v := newTestVerifier(t, s.JWKS(), clk)
	tok := mustSign(t, s, validClaims(), time.Minute)
	parts := strings.Split(tok, ".")
	header, _ := b64.DecodeString(parts[0])
	body, _ := b64.DecodeString(parts[1])
	sig, _ := b64.DecodeString(parts[2])

	join := func(h, p, s []byte) string {
		return b64.EncodeToString(h) + "." + b64.EncodeToString(p) + "." + b64.EncodeToString(s)
	}
	flip := func(b []byte, i int) []byte {
		b = append([]byte(nil), b...)
		b[i] ^= 1
		return b
	}
	replace := func(b []byte, old, new string) []byte {
		return []byte(strings.Replace(string(b), old, new, 1))
	}

	tests := []struct {
		name  string
		token string
	}{
		{"payload meeting changed", join(header, replace(body, `"m-42"`, `"m-43"`), sig)},
		{"payload dc added", join(header, replace(body, `"primary":[`, `"primary":[{"id":"pek1","country":"CN"},`), sig)},
		{"payload exp extended", join(header, flip(body, len(body)-3), sig)},
		{"header typ changed", join(replace(header, TokenType, "JWT"), body, sig)},
		{"header field added", join(replace(header, `{`, `{"x":1,`), body, sig)},
		{"signature bit flipped", join(header, body, flip(sig, 10))},
		{"signature truncated", join(header, body, sig[:63])},
		{"signature extended", join(header, body, append(sig, 0))},
		{"signature missing", parts[0] + "." + parts[1] + "."},
		{"unsigned", parts[0] + "." + parts[1]},
		{"signature of another token", join(header, body, sig[32:])},
		{"extra segment", tok + ".AAAA"},
		{"newline in signature", parts[0] + "." + parts[1] + "." + parts[2][:20] + "\n" + parts[2][20:]},
		{"non-canonical last character", parts[0] + "." + parts[1] + "." + parts[2][:85] + nonCanonical(parts[2][85])},
		{"padding", tok + "=="},
		{"whitespace", " " + tok},
		{"json serialization", `{"protected":"` + parts[0] + `","payload":"` + parts[1] + `","signature":"` + parts[2] + `"}`},
		{"empty", ""},
		{"oversize", tok + "." + strings.Repeat("A", MaxTokenSize)},
	}
	if _, err := v.Verify(tok); err != nil {
		t.Fatalf("untampered token: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := v.Verify(tt.token)
			if err == nil {
				t.Fatalf("Verify accepted it: %+v", c)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("got error %v, want ErrInvalid", err)
			}
		})
	}
}

// nonCanonical returns another base64url character that decodes to the same bits as c when
// it ends an 86-character (64-byte) segment: the low 4 bits are unused.
func nonCanonical(c byte) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	return string(alphabet[strings.IndexByte(alphabet, c)|1])
}

// TestVerifyForgedAlg hand-crafts tokens with the classic algorithm attacks (RFC 8725
// section 2.1): "none", and HS256 keyed with the public key the verifier trusts.
func TestVerifyForgedAlg(t *testing.T) {
	clk := newClock(t0)
	s := newTestSigner(t, clk)
	set := s.JWKS()
	v := newTestVerifier(t, set, clk)
	kid := s.KeyID()
	body := mustJSON(t, payload(t, validClaims(), t0, time.Minute))
	pubJWK, err := set.Key(kid)[0].MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	rawPub := []byte(set.Key(kid)[0].Key.(ed25519.PublicKey))

	hs256 := func(alg string, key []byte) string {
		h := b64.EncodeToString(mustJSON(t, map[string]any{"alg": alg, "typ": TokenType, "kid": kid}))
		input := h + "." + b64.EncodeToString(body)
		m := hmac.New(sha256.New, key)
		m.Write([]byte(input))
		return input + "." + b64.EncodeToString(m.Sum(nil))
	}
	none := func(alg, sig string) string {
		h := b64.EncodeToString(mustJSON(t, map[string]any{"alg": alg, "typ": TokenType, "kid": kid}))
		return h + "." + b64.EncodeToString(body) + "." + sig
	}

	tests := []struct {
		name    string
		token   string
		wantAlg bool // the error must come from the alg check
	}{
		{"none, empty signature", none("none", ""), false},
		{"none, some signature", none("none", "AAAA"), true},
		{"None", none("None", "AAAA"), true},
		{"NONE", none("NONE", "AAAA"), true},
		{"HS256 keyed with raw public key", hs256("HS256", rawPub), true},
		{"HS256 keyed with public jwk", hs256("HS256", pubJWK), true},
		{"HS512", hs256("HS512", rawPub), true},
		{"ES256", none("ES256", b64.EncodeToString(make([]byte, 64))), true},
		{"RS256", none("RS256", b64.EncodeToString(make([]byte, 256))), true},
		{"eddsa lower case", none("eddsa", b64.EncodeToString(make([]byte, 64))), true},
		{"Ed25519 fully specified", none("Ed25519", b64.EncodeToString(make([]byte, 64))), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := v.Verify(tt.token)
			if err == nil {
				t.Fatalf("Verify accepted a forged token: %+v", c)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("got error %v, want ErrInvalid", err)
			}
			var algErr *jose.ErrUnexpectedSignatureAlgorithm
			if tt.wantAlg && !errors.As(err, &algErr) {
				t.Errorf("got error %v, want the alg rejected", err)
			}
		})
	}
}
