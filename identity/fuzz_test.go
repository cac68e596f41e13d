package identity

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// fuzzTokens are the tokens FuzzVerify starts from, all deterministic (fixed keys, fixed
// clock), so that the same ones are in testdata/fuzz/FuzzVerify.
func fuzzTokens(t testing.TB) []string {
	anyMeeting := claims()
	anyMeeting.Meeting, anyMeeting.Host = "", false
	return []string{
		mint(t, acmeKey, "acme-2026", claims()),
		mint(t, acmeKey2, "acme-2027", anyMeeting),
		forge(t, globexKey, `{"alg":"EdDSA","kid":"globex-1","typ":"JWT"}`,
			`{"iss":"globex","sub":"bob","aud":["geofence"],"iat":1773480353,"nbf":1773480353,"exp":1773483953}`),
	}
}

// FuzzVerify feeds Verify arbitrary strings. It must never panic, must refuse with an error
// matching ErrInvalid, and must accept nothing but the tokens the account keys signed, each
// for the identity its claims say.
func FuzzVerify(f *testing.F) {
	tokens := fuzzTokens(f)
	signed := map[string]bool{}
	for _, tok := range tokens {
		signed[tok] = true
		f.Add(tok)
		seg := strings.Split(tok, ".")
		f.Add(seg[0] + "." + seg[1] + ".")
		f.Add(seg[0] + ".." + seg[2])
		f.Add(tok[:len(tok)-1])
	}
	f.Add("")
	f.Add("..")
	f.Add("e30.e30.AA")
	v := testVerifier()
	f.Fuzz(func(t *testing.T, token string) {
		id, err := v.Verify(token)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not match ErrInvalid", err)
			}
			if !strings.HasPrefix(err.Error(), "verify join token: ") {
				t.Fatalf("error %q does not name the operation", err)
			}
			return
		}
		if !signed[token] {
			t.Fatalf("Verify accepted a token no key signed: %q", token)
		}
		if !validID(id.Account) || !validID(id.Participant) || id.KID == "" || id.Expiry.IsZero() {
			t.Fatalf("Verify accepted %+v", id)
		}
	})
}

// TestFuzzCorpus keeps the checked-in corpus meaningful: each entry is refused (or accepted)
// for the reason it was made for.
func TestFuzzCorpus(t *testing.T) {
	tests := []struct {
		file    string
		wantErr string // empty: verifies
	}{
		{"minted", ""},
		{"jwt-library", ""},
		{"alg-none", `alg "none"`},
		{"hs256-with-public-key", `alg "HS256"`},
		{"duplicate-sub", "duplicate key 'sub'"},
		{"foreign-key", "signature does not verify"},
		{"ticket-typ", `typ "geofence-ticket+jwt"`},
	}
	v := testVerifier()
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			tok := readCorpusString(t, filepath.Join("testdata", "fuzz", "FuzzVerify", tt.file))
			_, err := v.Verify(tok)
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

var update = flag.Bool("update", false, "rewrite testdata/fuzz/FuzzVerify from the test keys")

// TestWriteFuzzCorpus rewrites the corpus from the test keys, with -update.
func TestWriteFuzzCorpus(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite testdata/fuzz/FuzzVerify")
	}
	toks := fuzzTokens(t)
	p := payload(t)
	body := string(mustMarshal(t, claims()))
	entries := map[string]string{
		"minted":                toks[0],
		"jwt-library":           toks[2],
		"alg-none":              raw.EncodeToString([]byte(`{"alg":"none","kid":"acme-2026"}`)) + "." + strings.Split(toks[0], ".")[1] + ".AAAA",
		"hs256-with-public-key": forge(t, acmeKey, `{"alg":"HS256","kid":"acme-2026"}`, p),
		"duplicate-sub":         forge(t, acmeKey, header(), strings.Replace(body, `"sub":"alice"`, `"sub":"mallory","sub":"alice"`, 1)),
		"foreign-key":           forge(t, globexKey, header(), p),
		"ticket-typ":            forge(t, acmeKey, `{"alg":"EdDSA","kid":"acme-2026","typ":"geofence-ticket+jwt"}`, p),
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzVerify")
	for name, tok := range entries {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("go test fuzz v1\nstring("+strconv.Quote(tok)+")\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// readCorpusString reads a one-string corpus file in the go test fuzz v1 encoding.
func readCorpusString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || lines[0] != "go test fuzz v1" ||
		!strings.HasPrefix(lines[1], "string(") || !strings.HasSuffix(lines[1], ")") {
		t.Fatalf("%s is not a one-string corpus file", path)
	}
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "string("), ")"))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return s
}
