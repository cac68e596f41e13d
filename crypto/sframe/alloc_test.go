package sframe

import (
	"testing"
)

// TestZeroAllocs checks the steady state of the hot path: once a Sender or Receiver has seen
// its largest metadata, Encrypt and Decrypt into a buffer with room do not allocate, for every
// suite, out of place and in place.
func TestZeroAllocs(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation changes allocations")
	}
	const runs = 100
	md := []byte("metadata")
	pt := testPlaintext(1200)
	for _, suite := range allSuites {
		t.Run(suite.String(), func(t *testing.T) {
			s, r := pair(t, suite, 291)
			dst := make([]byte, 0, len(pt)+MaxHeaderLen+suite.Overhead())

			if got := testing.AllocsPerRun(runs, func() {
				if _, err := s.Encrypt(dst[:0], md, pt); err != nil {
					t.Fatal(err)
				}
			}); got != 0 {
				t.Errorf("Encrypt: got %v allocs per run, want 0", got)
			}

			// AllocsPerRun calls the function runs+1 times, and a frame decrypts only once.
			frames := make([][]byte, runs+1)
			for i := range frames {
				frames[i] = mustEncrypt(t, s, md, pt)
			}
			i := 0
			if got := testing.AllocsPerRun(runs, func() {
				if _, err := r.Decrypt(dst[:0], md, frames[i]); err != nil {
					t.Fatal(err)
				}
				i++
			}); got != 0 {
				t.Errorf("Decrypt: got %v allocs per run, want 0", got)
			}

			for i := range frames {
				frames[i] = mustEncrypt(t, s, md, pt)
			}
			i = 0
			if got := testing.AllocsPerRun(runs, func() {
				if _, err := r.Decrypt(frames[i][:0], md, frames[i]); err != nil {
					t.Fatal(err)
				}
				i++
			}); got != 0 {
				t.Errorf("Decrypt in place: got %v allocs per run, want 0", got)
			}

			buf := make([]byte, len(pt), cap(dst))
			if got := testing.AllocsPerRun(runs, func() {
				copy(buf, pt)
				if _, err := s.Encrypt(buf[:0], md, buf); err != nil {
					t.Fatal(err)
				}
			}); got != 0 {
				t.Errorf("Encrypt in place: got %v allocs per run, want 0", got)
			}

			// Rejections must not allocate either: they are what an attacker controls.
			bad := mustEncrypt(t, s, md, pt)
			bad[len(bad)-1] ^= 1
			if got := testing.AllocsPerRun(runs, func() {
				if _, err := r.Decrypt(dst[:0], md, bad); err != ErrAuth {
					t.Fatalf("forged frame: got error %v, want ErrAuth", err)
				}
			}); got != 0 {
				t.Errorf("Decrypt of a forged frame: got %v allocs per run, want 0", got)
			}
			unknown := append(Header{KID: 1 << 50}.Append(nil), pt...)
			if got := testing.AllocsPerRun(runs, func() {
				if _, err := r.Decrypt(dst[:0], md, unknown); err != ErrUnknownKID {
					t.Fatalf("unknown KID: got error %v, want ErrUnknownKID", err)
				}
			}); got != 0 {
				t.Errorf("Decrypt with an unknown KID: got %v allocs per run, want 0", got)
			}
		})
	}
}
