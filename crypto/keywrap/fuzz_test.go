package keywrap_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/geofence/geofence/crypto/keywrap"
)

// The seed corpora are in testdata/fuzz/<FuzzName>; the f.Add calls below add the malformed
// cases worth keeping beside them.

func addMalformedSeeds(f *testing.F) {
	for _, s := range []string{
		"", ":", "x25519", "x25519:", "x25519:=", "x448:AAAA", "X25519:AAAA",
		"x25519-private:", "x25519-wrapped:", "mlkem768x25519:",
		"x25519:hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo",
		"x25519:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"x25519:hSDwCYkwp1R0i33ctD73Wg2\nOg0mOBr066SpjqqbTmo",
	} {
		f.Add(s)
	}
}

func FuzzParsePublicKey(f *testing.F) {
	addMalformedSeeds(f)
	f.Fuzz(func(t *testing.T, s string) {
		k, err := keywrap.ParsePublicKey(s)
		if err != nil {
			if !k.IsZero() {
				t.Fatalf("ParsePublicKey(%q) returned a key with error %v", s, err)
			}
			return
		}
		// Only the canonical form parses, so the encoding round-trips exactly.
		if got := k.String(); got != s {
			t.Fatalf("ParsePublicKey(%q).String() = %q", s, got)
		}
		if _, err := keywrap.Wrap(k, make([]byte, keywrap.KeySize), binding); err != nil {
			t.Fatalf("Wrap to parsed key %q: %v", s, err)
		}
	})
}

func FuzzParsePrivateKey(f *testing.F) {
	addMalformedSeeds(f)
	f.Fuzz(func(t *testing.T, s string) {
		k, err := keywrap.ParsePrivateKey(s)
		if err != nil {
			if !k.IsZero() {
				t.Fatalf("ParsePrivateKey(%q) returned a key with error %v", s, err)
			}
			return
		}
		enc, err := k.Encode()
		if err != nil {
			t.Fatalf("Encode: %v", err)
		}
		// Encode may clamp an X25519 scalar (RFC 9180 section 7.1.2), but it must give the
		// same key, and its output must be a fixed point.
		back, err := keywrap.ParsePrivateKey(enc)
		if err != nil {
			t.Fatalf("ParsePrivateKey(Encode()) of %q: %v", s, err)
		}
		if !back.PublicKey().Equal(k.PublicKey()) {
			t.Fatalf("ParsePrivateKey(%q): Encode gives another key, %q", s, enc)
		}
		if enc2, _ := back.Encode(); enc2 != enc {
			t.Fatalf("Encode not idempotent: %q then %q", enc, enc2)
		}
		if k.Suite() == keywrap.MLKEM768X25519 && enc != s {
			t.Fatalf("ParsePrivateKey(%q).Encode() = %q, want the input (seeds are not clamped)", s, enc)
		}
		if strings.Contains(k.String(), s[strings.IndexByte(s, ':')+1:]) {
			t.Fatalf("String() shows the key")
		}
	})
}

func FuzzParseWrapped(f *testing.F) {
	addMalformedSeeds(f)
	privs := map[keywrap.Suite]keywrap.PrivateKey{}
	for _, s := range allSuites {
		privs[s] = generate(f, s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, err := keywrap.ParseWrapped(s)
		if err != nil {
			if !w.IsZero() {
				t.Fatalf("ParseWrapped(%q) returned a value with error %v", s, err)
			}
			return
		}
		if got := w.String(); got != s {
			t.Fatalf("ParseWrapped(%q).String() = %q", s, got)
		}
		// Whatever parses must be safe to hand to Unwrap: an error, never a panic, and never
		// a key of the wrong size.
		for _, priv := range privs {
			key, err := keywrap.Unwrap(priv, w, binding)
			if err == nil && len(key) != keywrap.KeySize {
				t.Fatalf("Unwrap returned %d bytes", len(key))
			}
		}
	})
}

// FuzzWrapUnwrap checks the round trip for arbitrary bindings and keys, and that any other
// binding fails.
func FuzzWrapUnwrap(f *testing.F) {
	f.Add("m", uint64(1), "p", bytes.Repeat([]byte{7}, 32), "m", uint64(1), "q")
	f.Add("ab", uint64(0), "c", bytes.Repeat([]byte{1}, 32), "a", uint64(0), "bc")
	priv := generate(f, keywrap.X25519)
	f.Fuzz(func(t *testing.T, meeting string, epoch uint64, participant string, key []byte,
		meeting2 string, epoch2 uint64, participant2 string) {
		b := keywrap.Binding{Meeting: meeting, Epoch: epoch, Participant: participant}
		w, err := keywrap.Wrap(priv.PublicKey(), key, b)
		if err != nil {
			return
		}
		got, err := keywrap.Unwrap(priv, w, b)
		if err != nil || !bytes.Equal(got, key) {
			t.Fatalf("Unwrap = %x, %v; want %x, nil", got, err, key)
		}
		b2 := keywrap.Binding{Meeting: meeting2, Epoch: epoch2, Participant: participant2}
		if b2 == b {
			return
		}
		if got, err := keywrap.Unwrap(priv, w, b2); err == nil {
			t.Fatalf("Unwrap under %+v of a key wrapped under %+v = %x, want an error", b2, b, got)
		}
	})
}
