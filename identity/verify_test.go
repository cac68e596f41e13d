package identity

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/geofence/geofence/wire"
)

func TestVerifyIdentity(t *testing.T) {
	v := testVerifier()
	tests := []struct {
		name  string
		kid   string
		key   ed25519.PrivateKey
		edit  func(*wire.JoinClaims)
		wantI Identity
	}{
		{"host for one meeting", "acme-2026", acmeKey, func(*wire.JoinClaims) {},
			Identity{Account: "acme", Participant: "alice", Meeting: "m-42", Host: true, KID: "acme-2026", Expiry: t0.Add(59 * time.Minute)}},
		{"any meeting, not host, second key", "acme-2027", acmeKey2, func(c *wire.JoinClaims) { c.Meeting, c.Host = "", false },
			Identity{Account: "acme", Participant: "alice", KID: "acme-2027", Expiry: t0.Add(59 * time.Minute)}},
		{"other account", "globex-1", globexKey, func(c *wire.JoinClaims) { c.Account, c.Participant = "globex", "bob.smith_2" },
			Identity{Account: "globex", Participant: "bob.smith_2", Meeting: "m-42", Host: true, KID: "globex-1", Expiry: t0.Add(59 * time.Minute)}},
		{"longest lifetime", "acme-2026", acmeKey, func(c *wire.JoinClaims) { c.Expiry = c.IssuedAt.Add(MaxLifetime) },
			Identity{Account: "acme", Participant: "alice", Meeting: "m-42", Host: true, KID: "acme-2026", Expiry: t0.Add(-time.Minute + MaxLifetime)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := claims()
			tt.edit(&c)
			got, err := v.Verify(mint(t, tt.key, tt.kid, c))
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if got != tt.wantI {
				t.Errorf("got %+v, want %+v", got, tt.wantI)
			}
		})
	}
}

// TestVerifyRefuses has one case for every reason Verify refuses a token.
func TestVerifyRefuses(t *testing.T) {
	good := mint(t, acmeKey, "acme-2026", claims())
	seg := strings.Split(good, ".")
	hdr := func(edit func(map[string]any)) map[string]any {
		h := header()
		edit(h)
		return h
	}
	with := func(k string, v any) map[string]any {
		p := payload(t)
		p[k] = v
		return p
	}
	without := func(keys ...string) map[string]any {
		p := payload(t)
		for _, k := range keys {
			delete(p, k)
		}
		return p
	}
	edit := func(f func(*wire.JoinClaims)) string {
		c := claims()
		f(&c)
		b, err := c.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		return forge(t, acmeKey, header(), string(b))
	}
	goodBody := string(mustMarshal(t, claims()))
	tests := []struct {
		name    string
		token   string
		now     time.Time // zero: t0
		wantErr error     // besides ErrInvalid
		wantMsg string
	}{
		// The control cases verify.
		{"control: minted", good, time.Time{}, nil, ""},
		{"control: typ JWT, as JWT libraries write it", forge(t, acmeKey, header(), payload(t)), time.Time{}, nil, ""},
		{"control: no typ", forge(t, acmeKey, hdr(func(h map[string]any) { delete(h, "typ") }), payload(t)), time.Time{}, nil, ""},
		{"control: aud array holding geofence", forge(t, acmeKey, header(), with("aud", []string{"other", "geofence"})), time.Time{}, nil, ""},
		{"control: unknown claims ignored", forge(t, acmeKey, header(), with("name", "Alice")), time.Time{}, nil, ""},
		{"control: expired within leeway", good, t0.Add(59*time.Minute + 29*time.Second), nil, ""},
		{"control: issued within leeway ahead", edit(func(c *wire.JoinClaims) { c.IssuedAt = t0.Add(29 * time.Second) }), time.Time{}, nil, ""},

		// Serialization.
		{"empty", "", time.Time{}, nil, "malformed: segment 1: empty"},
		{"too large", good + strings.Repeat("A", MaxTokenSize), time.Time{}, nil, "malformed: token is"},
		{"JSON serialization", `{"payload":"` + seg[1] + `"}`, time.Time{}, nil, "malformed"},
		{"two segments", seg[0] + "." + seg[1], time.Time{}, nil, "malformed: 2 segments"},
		{"non-canonical signature", seg[0] + "." + seg[1] + "." + seg[2][:85] + nonCanonical(seg[2][85]), time.Time{}, nil, "non-canonical base64"},
		{"padded", good + "==", time.Time{}, nil, "not base64url"},

		// Header.
		{"alg none", seg[0][:0] + raw.EncodeToString([]byte(`{"alg":"none","kid":"acme-2026"}`)) + "." + seg[1] + ".AAAA", time.Time{}, nil, `alg "none"`},
		{"alg HS256", forge(t, acmeKey, hdr(func(h map[string]any) { h["alg"] = "HS256" }), payload(t)), time.Time{}, nil, `alg "HS256", want "EdDSA"`},
		{"alg Ed25519", forge(t, acmeKey, hdr(func(h map[string]any) { h["alg"] = "Ed25519" }), payload(t)), time.Time{}, nil, `alg "Ed25519"`},
		{"crit", forge(t, acmeKey, hdr(func(h map[string]any) { h["crit"] = []string{"exp"} }), payload(t)), time.Time{}, nil, `"crit"`},
		{"embedded jwk", forge(t, acmeKey, hdr(func(h map[string]any) {
			h["jwk"] = map[string]string{"kty": "OKP", "crv": "Ed25519", "x": EncodePublicKey(globexKey.Public().(ed25519.PublicKey))}
		}), payload(t)), time.Time{}, nil, `"jwk"`},
		{"duplicate header member", forge(t, acmeKey, `{"alg":"EdDSA","kid":"globex-1","kid":"acme-2026"}`, payload(t)), time.Time{}, nil, "duplicate"},
		{"typ of a ticket", forge(t, acmeKey, hdr(func(h map[string]any) { h["typ"] = "geofence-ticket+jwt" }), payload(t)), time.Time{}, nil, `typ "geofence-ticket+jwt"`},
		{"typ in lower case", forge(t, acmeKey, hdr(func(h map[string]any) { h["typ"] = "jwt" }), payload(t)), time.Time{}, nil, `typ "jwt"`},
		{"no kid", forge(t, acmeKey, hdr(func(h map[string]any) { delete(h, "kid") }), payload(t)), time.Time{}, nil, "no kid in the header"},
		{"kid not an id", forge(t, acmeKey, hdr(func(h map[string]any) { h["kid"] = "acme 2026" }), payload(t)), time.Time{}, nil, `kid "acme 2026" is not an id`},

		// Claims, as JSON.
		{"payload not JSON", forge(t, acmeKey, header(), "hello"), time.Time{}, nil, "malformed claims"},
		{"payload an array", forge(t, acmeKey, header(), "[]"), time.Time{}, nil, "malformed claims"},
		{"duplicate claim", forge(t, acmeKey, header(), strings.Replace(goodBody, `"sub":"alice"`, `"sub":"mallory","sub":"alice"`, 1)), time.Time{}, nil, "malformed claims: json: duplicate key 'sub'"},
		{"claim name in other case", forge(t, acmeKey, header(), strings.Replace(goodBody, `"sub":`, `"Sub":`, 1)), time.Time{}, nil, "sub (the participant id) is missing"},
		{"exp fractional", forge(t, acmeKey, header(), with("exp", float64(t0.Unix())+0.5)), time.Time{}, nil, "exp is 1773480413.5, not a NumericDate"},
		{"exp a string", forge(t, acmeKey, header(), with("exp", "1773480413")), time.Time{}, nil, "not a NumericDate"},
		{"exp negative", forge(t, acmeKey, header(), with("exp", -1)), time.Time{}, nil, "exp is -1, not a NumericDate"},
		{"exp beyond 2500", forge(t, acmeKey, header(), with("exp", 1e12)), time.Time{}, nil, "not a NumericDate"},
		{"aud a number", forge(t, acmeKey, header(), with("aud", 1)), time.Time{}, nil, "aud is neither a string nor an array"},
		{"aud array of numbers", forge(t, acmeKey, header(), with("aud", []int{1})), time.Time{}, nil, "aud:"},
		{"host a string", forge(t, acmeKey, header(), with("host", "true")), time.Time{}, nil, "malformed claims"},
		{"meeting empty", forge(t, acmeKey, header(), with("meeting", "")), time.Time{}, nil, "meeting is empty"},

		// Claims, their values.
		{"wrong audience", forge(t, acmeKey, header(), with("aud", "zoom")), time.Time{}, nil, `aud is not "geofence" (got ["zoom"])`},
		{"audience array without geofence", forge(t, acmeKey, header(), with("aud", []string{"a", "b"})), time.Time{}, nil, `aud is not "geofence"`},
		{"no audience", forge(t, acmeKey, header(), without("aud")), time.Time{}, nil, `aud is not "geofence" (got [])`},
		{"no iss", forge(t, acmeKey, header(), without("iss")), time.Time{}, nil, "iss (the account id) is missing"},
		{"iss not an id", forge(t, acmeKey, header(), with("iss", "acme/evil")), time.Time{}, nil, `iss "acme/evil" is not an id`},
		{"sub too long", forge(t, acmeKey, header(), with("sub", strings.Repeat("a", 129))), time.Time{}, nil, "is not an id: want 1 to 128"},
		{"sub with a non-ASCII letter", forge(t, acmeKey, header(), with("sub", "zoë")), time.Time{}, nil, "is not an id"},
		{"meeting not an id", forge(t, acmeKey, header(), with("meeting", "m 42")), time.Time{}, nil, `meeting "m 42" is not an id`},
		{"no exp", forge(t, acmeKey, header(), without("exp")), time.Time{}, nil, "exp is missing"},
		{"no iat", forge(t, acmeKey, header(), without("iat")), time.Time{}, nil, "iat is missing"},
		{"no times", forge(t, acmeKey, header(), without("iat", "exp")), time.Time{}, nil, "iat and exp are missing"},
		{"lifetime over 24h", edit(func(c *wire.JoinClaims) { c.Expiry = c.IssuedAt.Add(MaxLifetime + time.Second) }), time.Time{}, nil, "lifetime over 24h: exp is 24h0m1s after iat"},
		{"exp before iat", edit(func(c *wire.JoinClaims) { c.Expiry = c.IssuedAt.Add(-time.Second) }), time.Time{}, nil, "is not after iat"},
		{"nbf after exp", edit(func(c *wire.JoinClaims) { c.NotBefore = c.Expiry }), time.Time{}, nil, "nbf 2026-03-14T10:25:53Z is not before exp"},

		// Keys and signature.
		{"unknown account", forge(t, acmeKey, header(), with("iss", "initech")), time.Time{}, ErrUnknownAccount, `unknown account "initech"`},
		{"unknown key", forge(t, acmeKey, hdr(func(h map[string]any) { h["kid"] = "acme-2019" }), payload(t)), time.Time{}, ErrUnknownKey, `unknown key "acme-2019" of account "acme"`},
		// A foreign credential: globex's backend signs a token that says it is acme's.
		{"foreign key under its own kid", forge(t, globexKey, hdr(func(h map[string]any) { h["kid"] = "globex-1" }), payload(t)), time.Time{}, ErrUnknownKey, `unknown key "globex-1" of account "acme"`},
		{"foreign key under acme's kid", forge(t, globexKey, header(), payload(t)), time.Time{}, nil, `signature does not verify with key "acme-2026" of account "acme"`},
		{"acme's other key", forge(t, acmeKey2, header(), payload(t)), time.Time{}, nil, "signature does not verify"},
		{"tampered payload", seg[0] + "." + raw.EncodeToString([]byte(strings.Replace(goodBody, `"alice"`, `"mallory"`, 1))) + "." + seg[2], time.Time{}, nil, "signature does not verify"},
		{"tampered header", raw.EncodeToString([]byte(`{"alg":"EdDSA","kid":"acme-2026","typ":"JWT"}`)) + "." + seg[1] + "." + seg[2], time.Time{}, nil, "signature does not verify"},
		{"tampered signature", seg[0] + "." + seg[1] + "." + strings.Repeat("A", 86), time.Time{}, nil, "signature does not verify"},
		{"signature of another token", seg[0] + "." + seg[1] + "." + strings.Split(mint(t, acmeKey, "acme-2026", wire.JoinClaims{Account: "acme", Participant: "bob", IssuedAt: t0, Expiry: t0.Add(time.Hour)}), ".")[2], time.Time{}, nil, "signature does not verify"},

		// Time.
		{"expired", good, t0.Add(59*time.Minute + 30*time.Second), ErrExpired, "expired at 2026-03-14T10:25:53Z (now 2026-03-14T10:26:23Z)"},
		{"expired long ago", good, t0.Add(48 * time.Hour), ErrExpired, "expired at"},
		{"issued in the future", edit(func(c *wire.JoinClaims) { c.IssuedAt = t0.Add(31 * time.Second) }), time.Time{}, nil, "not yet valid: valid from 2026-03-14T09:27:24Z (now 2026-03-14T09:26:53Z; is a clock wrong?)"},
		{"not before in the future", edit(func(c *wire.JoinClaims) { c.NotBefore = t0.Add(10 * time.Minute) }), time.Time{}, nil, "not yet valid: valid from 2026-03-14T09:36:53Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := testVerifier()
			if !tt.now.IsZero() {
				v.Now = func() time.Time { return tt.now }
			}
			id, err := v.Verify(tt.token)
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("got %+v, want error containing %q", id, tt.wantMsg)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("got error %v, want it to match ErrInvalid", err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("got error %v, want it to match %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("got error %q, want it to contain %q", err, tt.wantMsg)
			}
			if !strings.HasPrefix(err.Error(), "verify join token: ") {
				t.Errorf("got error %q, want it to name the operation", err)
			}
			if id != (Identity{}) {
				t.Errorf("got identity %+v with the error, want none", id)
			}
		})
	}
}

// nonCanonical returns another base64url character with the same high bits as c, which ends
// an 86-character (64-byte) segment whose low 4 bits are unused.
func nonCanonical(c byte) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	return string(alphabet[strings.IndexByte(alphabet, c)|1])
}

func mustMarshal(t testing.TB, c wire.JoinClaims) []byte {
	t.Helper()
	b, err := c.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerifyLeeway(t *testing.T) {
	tok := mint(t, acmeKey, "acme-2026", claims()) // exp t0+59m
	exp := t0.Add(59 * time.Minute)
	tests := []struct {
		name   string
		leeway time.Duration
		now    time.Time
		wantOK bool
	}{
		{"default, inside", 0, exp.Add(29 * time.Second), true},
		{"default, at the edge", 0, exp.Add(30 * time.Second), false},
		{"longer, inside", 2 * time.Minute, exp.Add(time.Minute), true},
		{"negative means none, just before", -1, exp.Add(-time.Nanosecond), true},
		{"negative means none, at exp", -1, exp, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &Verifier{Keys: testKeys(), Now: func() time.Time { return tt.now }, Leeway: tt.leeway}
			_, err := v.Verify(tok)
			if gotOK := err == nil; gotOK != tt.wantOK {
				t.Errorf("got error %v, want ok %v", err, tt.wantOK)
			}
		})
	}
}

// TestVerifyKeysFailure: when the key store cannot answer, or answers nonsense, the error is
// the verifier's, not the token's, so that the directory does not tell a participant its
// valid token is wrong.
func TestVerifyKeysFailure(t *testing.T) {
	down := errors.New("store unavailable")
	tests := []struct {
		name    string
		keys    Keys
		wantErr error
		wantMsg string
	}{
		{"store down", KeysFunc(func(string, string) (ed25519.PublicKey, error) { return nil, down }), down,
			`verify join token: look up key "acme-2026" of account "acme": store unavailable`},
		{"short key", KeysFunc(func(string, string) (ed25519.PublicKey, error) { return make([]byte, 31), nil }), nil,
			"is 31 bytes, not an Ed25519 public key"},
		{"nil key", KeysFunc(func(string, string) (ed25519.PublicKey, error) { return nil, nil }), nil,
			"is 0 bytes"},
		{"no keys", nil, nil, "the verifier has no Keys"},
	}
	tok := mint(t, acmeKey, "acme-2026", claims())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &Verifier{Keys: tt.keys, Now: clock}
			_, err := v.Verify(tok)
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("got error %v, want it to contain %q", err, tt.wantMsg)
			}
			if errors.Is(err, ErrInvalid) {
				t.Errorf("got error %v matching ErrInvalid, want a verifier failure", err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("got error %v, want it to wrap %v", err, tt.wantErr)
			}
		})
	}
}

// TestGoJoseInterop checks join tokens against a real JWT library on both sides: a token
// made by go-jose's jwt package, as a customer's backend in Go would make one, verifies; and
// go-jose reads and verifies what Mint makes.
func TestGoJoseInterop(t *testing.T) {
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.EdDSA, Key: acmeKey},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), "acme-2026"),
	)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(signer).Claims(jwt.Claims{
		Issuer: "acme", Subject: "alice", Audience: jwt.Audience{"geofence"},
		IssuedAt: jwt.NewNumericDate(t0), Expiry: jwt.NewNumericDate(t0.Add(time.Hour)),
	}).Claims(map[string]any{"meeting": "m-42"}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	id, err := testVerifier().Verify(tok)
	if err != nil {
		t.Fatalf("a go-jose token: %v", err)
	}
	if want := (Identity{Account: "acme", Participant: "alice", Meeting: "m-42", KID: "acme-2026", Expiry: t0.Add(time.Hour)}); id != want {
		t.Errorf("got %+v, want %+v", id, want)
	}

	ours := mint(t, acmeKey, "acme-2026", claims())
	parsed, err := jwt.ParseSigned(ours, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatalf("go-jose does not parse a minted token: %v", err)
	}
	var got jwt.Claims
	var extra struct {
		Meeting string `json:"meeting"`
		Host    bool   `json:"host"`
	}
	if err := parsed.Claims(acmeKey.Public(), &got, &extra); err != nil {
		t.Fatalf("go-jose does not verify a minted token: %v", err)
	}
	if err := got.ValidateWithLeeway(jwt.Expected{Issuer: "acme", Subject: "alice", AnyAudience: jwt.Audience{"geofence"}, Time: t0}, 0); err != nil {
		t.Errorf("go-jose validation: %v", err)
	}
	if extra.Meeting != "m-42" || !extra.Host {
		t.Errorf("go-jose reads meeting %q host %v, want m-42 true", extra.Meeting, extra.Host)
	}
	if h := parsed.Headers[0]; h.KeyID != "acme-2026" || h.ExtraHeaders[jose.HeaderType] != wire.JoinTokenType {
		t.Errorf("go-jose reads kid %q typ %v", h.KeyID, h.ExtraHeaders[jose.HeaderType])
	}
}

func BenchmarkVerify(b *testing.B) {
	v := testVerifier()
	tok := mint(b, acmeKey, "acme-2026", claims())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyReject is what an attacker can make the directory spend on a token with a
// bad signature.
func BenchmarkVerifyReject(b *testing.B) {
	v := testVerifier()
	tok := forge(b, globexKey, header(), payload(b))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(tok); err == nil {
			b.Fatal("verified a foreign signature")
		}
	}
}

func BenchmarkMint(b *testing.B) {
	c := claims()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Mint(acmeKey, "acme-2026", c); err != nil {
			b.Fatal(err)
		}
	}
}
