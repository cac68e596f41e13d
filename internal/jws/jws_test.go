package jws

import (
	"crypto/ed25519"
	"strings"
	"testing"
)

// RFC 8037 appendix A: the Ed25519 key of A.1 and the JWS of A.4, whose header is
// {"alg":"EdDSA"}.
const (
	rfc8037D   = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
	rfc8037JWS = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc." +
		"hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
)

func rfcKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	seed, err := b64.DecodeString(rfc8037D)
	if err != nil {
		t.Fatal(err)
	}
	return ed25519.NewKeyFromSeed(seed)
}

func TestRFC8037Vector(t *testing.T) {
	key := rfcKey(t)
	h, err := EncodeHeader(Header{Alg: Alg})
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte("Example of Ed25519 signing")
	got := Sign(key, h, payload)
	if got != rfc8037JWS {
		t.Errorf("A.4: got\n%s\nwant\n%s", got, rfc8037JWS)
	}
	if n := SignedLen(h, len(payload)); n != len(got) {
		t.Errorf("SignedLen: got %d, want %d", n, len(got))
	}
	tok, err := Parse(rfc8037JWS, 1<<10)
	if err != nil {
		t.Fatalf("A.5: %v", err)
	}
	if !tok.Verify(key.Public().(ed25519.PublicKey)) {
		t.Error("A.5: the signature does not verify")
	}
	if string(tok.Payload) != string(payload) || tok.Header != (Header{Alg: Alg}) {
		t.Errorf("A.5: got header %+v payload %q", tok.Header, tok.Payload)
	}
}

func TestVerifyWrongKey(t *testing.T) {
	tok, err := Parse(rfc8037JWS, 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	other := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public().(ed25519.PublicKey)
	tests := []struct {
		name string
		pub  ed25519.PublicKey
	}{
		{"another key", other},
		{"nil", nil},
		{"short", other[:31]},
		{"long", append(other, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tok.Verify(tt.pub) {
				t.Error("got true, want false")
			}
		})
	}
}

// token makes a token of a raw header, signed with the RFC key.
func token(t testing.TB, header string) string {
	return Sign(rfcKey(t), b64.EncodeToString([]byte(header)), []byte(`{"sub":"p"}`))
}

func TestParse(t *testing.T) {
	good := token(t, `{"alg":"EdDSA","kid":"k1","typ":"JWT"}`)
	tests := []struct {
		name    string
		token   string
		max     int
		wantErr string // empty: parses
		want    Header
	}{
		{"control", good, 1 << 10, "", Header{Alg: "EdDSA", Kid: "k1", Typ: "JWT"}},
		{"unknown member ignored", token(t, `{"alg":"EdDSA","cty":"x","zzz":1}`), 1 << 10, "", Header{Alg: "EdDSA"}},
		{"too long", good, len(good) - 1, "more than", Header{}},
		{"two segments", "eyJhbGciOiJFZERTQSJ9.e30", 1 << 10, "2 segments, want 3", Header{}},
		{"four segments", good + ".AA", 1 << 10, "more than three segments", Header{}},
		{"empty signature", good[:strings.LastIndexByte(good, '.')+1], 1 << 10, "segment 3: empty", Header{}},
		{"padding", good + "==", 1 << 10, "not base64url", Header{}},
		{"standard alphabet", strings.Replace(good, "e", "+", 1), 1 << 10, "not base64url", Header{}},
		{"whitespace", " " + good, 1 << 10, "not base64url", Header{}},
		{"short signature", good[:strings.LastIndexByte(good, '.')+1] + "AAAA", 1 << 10, "signature is 3 bytes", Header{}},
		{"header not json", token(t, `alg`), 1 << 10, "not a JSON object", Header{}},
		{"header array", token(t, `["alg"]`), 1 << 10, "not a JSON object", Header{}},
		{"header trailing data", token(t, `{"alg":"EdDSA"}x`), 1 << 10, "header", Header{}},
		{"no alg", token(t, `{"kid":"k1"}`), 1 << 10, "no alg", Header{}},
		{"alg none", token(t, `{"alg":"none"}`), 1 << 10, `alg "none"`, Header{}},
		{"alg HS256", token(t, `{"alg":"HS256"}`), 1 << 10, `alg "HS256"`, Header{}},
		{"alg Ed25519", token(t, `{"alg":"Ed25519"}`), 1 << 10, `alg "Ed25519"`, Header{}},
		{"alg not a string", token(t, `{"alg":1}`), 1 << 10, "header", Header{}},
		{"alg in other case", token(t, `{"ALG":"EdDSA"}`), 1 << 10, "no alg", Header{}},
		{"duplicate alg", token(t, `{"alg":"none","alg":"EdDSA"}`), 1 << 10, "duplicate", Header{}},
		{"duplicate escaped", token(t, `{"alg":"EdDSA","\u0061lg":"EdDSA"}`), 1 << 10, "duplicate", Header{}},
		{"crit", token(t, `{"alg":"EdDSA","crit":["exp"],"exp":1}`), 1 << 10, `"crit"`, Header{}},
		{"crit null", token(t, `{"alg":"EdDSA","crit":null}`), 1 << 10, `"crit"`, Header{}},
		{"jwk", token(t, `{"alg":"EdDSA","jwk":{"kty":"OKP"}}`), 1 << 10, `"jwk"`, Header{}},
		{"jku", token(t, `{"alg":"EdDSA","jku":"https://evil.test/"}`), 1 << 10, `"jku"`, Header{}},
		{"x5c", token(t, `{"alg":"EdDSA","x5c":[]}`), 1 << 10, `"x5c"`, Header{}},
		{"x5t#S256", token(t, `{"alg":"EdDSA","x5t#S256":"AA"}`), 1 << 10, `"x5t#S256"`, Header{}},
		{"b64", token(t, `{"alg":"EdDSA","b64":false}`), 1 << 10, `"b64"`, Header{}},
		{"zip", token(t, `{"alg":"EdDSA","zip":"DEF"}`), 1 << 10, `"zip"`, Header{}},
		{"empty kid", token(t, `{"alg":"EdDSA","kid":""}`), 1 << 10, "kid is empty", Header{}},
		{"long kid", token(t, `{"alg":"EdDSA","kid":"`+strings.Repeat("k", 129)+`"}`), 1 << 10, "longer than 128", Header{}},
		{"empty typ", token(t, `{"alg":"EdDSA","typ":""}`), 1 << 10, "typ is empty", Header{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := Parse(tt.token, tt.max)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				if tok.Header != tt.want {
					t.Errorf("got header %+v, want %+v", tok.Header, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestCheckCompactCanonical(t *testing.T) {
	tests := []struct {
		name    string
		segment string
		wantErr string
	}{
		{"canonical, 2 spare chars", "AQ", ""},
		{"non-canonical, 2 spare chars", "AR", "non-canonical base64"},
		{"canonical, 3 chars", "AQE", ""},
		{"non-canonical, 3 chars", "AQF", "non-canonical base64"},
		{"impossible length", "AQEBA", "impossible base64 length"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckCompact("e30."+tt.segment+".AAAA", 100)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

// FuzzParse: Parse must never panic, and whatever it accepts must be a token it could have
// made: re-encoding its parts gives back the very same string.
func FuzzParse(f *testing.F) {
	f.Add(rfc8037JWS)
	f.Add(token(f, `{"alg":"EdDSA","kid":"k1","typ":"JWT"}`))
	f.Add(token(f, `{"alg":"EdDSA","alg":"EdDSA"}`))
	f.Add("e30.e30.AA")
	f.Add("..")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := Parse(s, 8<<10)
		if err != nil {
			return
		}
		if tok.Header.Alg != Alg {
			t.Fatalf("accepted alg %q", tok.Header.Alg)
		}
		parts := strings.Split(s, ".")
		if b64.EncodeToString(tok.Payload) != parts[1] || b64.EncodeToString(tok.sig) != parts[2] ||
			tok.input != parts[0]+"."+parts[1] {
			t.Fatalf("%q has another spelling than its parts", s)
		}
	})
}

func BenchmarkSign(b *testing.B) {
	key := rfcKey(b)
	h, err := EncodeHeader(Header{Alg: Alg, Kid: "k1", Typ: "JWT"})
	if err != nil {
		b.Fatal(err)
	}
	payload := []byte(strings.Repeat(`{"sub":"p"}`, 100))
	b.ReportAllocs()
	for b.Loop() {
		Sign(key, h, payload)
	}
}

func BenchmarkParseVerify(b *testing.B) {
	key := rfcKey(b)
	pub := key.Public().(ed25519.PublicKey)
	tok := token(b, `{"alg":"EdDSA","kid":"k1","typ":"JWT"}`)
	b.ReportAllocs()
	for b.Loop() {
		p, err := Parse(tok, 8<<10)
		if err != nil || !p.Verify(pub) {
			b.Fatal("does not verify", err)
		}
	}
}
