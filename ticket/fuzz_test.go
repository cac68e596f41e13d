package ticket

import (
	"errors"
	"github.com/geofence/geofence/wire"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// fuzzTickets signs the tickets FuzzVerify seeds with. Keys, ticket ids and times are all
// deterministic, so the same tokens come out in every fuzz worker and in
// testdata/fuzz/FuzzVerify.
func fuzzTickets(t testing.TB) (*Verifier, []string) {
	clk := newClock(t0)
	s := newTestSigner(t, clk)
	e2ee := validClaims()
	e2ee.Mode, e2ee.KMS, e2ee.PublicKey = wire.ModeE2EE, nil, ""
	tokens := []string{
		mustSign(t, s, validClaims(), 5*time.Minute),
		mustSign(t, s, e2ee, MaxTTL),
	}
	rotate(t, s)
	tokens = append(tokens, mustSign(t, s, validClaims(), time.Hour))
	return newTestVerifier(t, s.JWKS(), clk), tokens
}

// FuzzVerify feeds Verify arbitrary strings. It must never panic, must classify every
// rejection as ErrInvalid, and must accept nothing but the exact tokens the signer produced.
func FuzzVerify(f *testing.F) {
	v, tokens := fuzzTickets(f)
	signed := make(map[string]bool, len(tokens))
	for _, tok := range tokens {
		signed[tok] = true
		f.Add(tok)
		parts := strings.Split(tok, ".")
		f.Add(parts[0] + "." + parts[1] + ".")
		f.Add(parts[0] + ".." + parts[2])
		f.Add(tok[:len(tok)-1])
	}
	f.Add("")
	f.Add("..")
	f.Add("e30.e30.AA")

	f.Fuzz(func(t *testing.T, token string) {
		c, err := v.Verify(token)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not match ErrInvalid", err)
			}
			return
		}
		if !signed[token] {
			t.Fatalf("Verify accepted a token the signer never produced: %q", token)
		}
		if err := c.Check(); err != nil {
			t.Fatalf("Verify accepted claims with %v", err)
		}
	})
}

// TestFuzzCorpus keeps the checked-in corpus meaningful: its signed ticket verifies under
// FuzzVerify's setup, and the other entries are rejected for the reason they were made for.
func TestFuzzCorpus(t *testing.T) {
	v, _ := fuzzTickets(t)
	tests := []struct {
		file    string
		wantErr string // empty: verifies
	}{
		{"signed-ticket", ""},
		{"alg-none", "segment 3: empty"},
		{"alg-hs256-public-key", `unexpected signature algorithm "HS256"`},
		{"non-canonical-signature", "non-canonical base64"},
	}
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

	// Why checkCompact exists: go-jose alone accepts the non-canonical spelling of a
	// signed ticket.
	tok := readCorpusString(t, filepath.Join("testdata", "fuzz", "FuzzVerify", "non-canonical-signature"))
	jws, err := jose.ParseSignedCompact(tok, allowedAlgs)
	if err != nil {
		t.Fatal(err)
	}
	p, err := parse(readCorpusString(t, filepath.Join("testdata", "fuzz", "FuzzVerify", "signed-ticket")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jws.Verify(v.keys[p.kid]); err != nil {
		t.Logf("go-jose now rejects non-canonical base64 too (%v); checkCompact stays as defence in depth", err)
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
