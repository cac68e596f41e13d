package sframe

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
)

// TestCTRMatchesStdlib checks the hand-written AES-CTR against cipher.NewCTR, including
// lengths around the keystream buffer and a counter that carries from the low to the high half.
func TestCTRMatchesStdlib(t *testing.T) {
	key := testKey("ctr")
	a, err := newCTRHMAC(append(key[:16:16], key...), 16, 10)
	if err != nil {
		t.Fatal(err)
	}
	block, err := aes.NewCipher(key[:16])
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		nonce []byte
	}{
		{"zero nonce", make([]byte, 12)},
		{"low word about to carry", []byte{1, 2, 3, 4, 5, 6, 7, 8, 0xff, 0xff, 0xff, 0xff}},
		{"all ones", bytes.Repeat([]byte{0xff}, 12)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, n := range []int{0, 1, 15, 16, 17, 511, 512, 513, 1200, 4096 + 7} {
				src := testPlaintext(n)
				want := make([]byte, n)
				cipher.NewCTR(block, append(bytes.Clone(tt.nonce), 0, 0, 0, 0)).XORKeyStream(want, src)
				got := make([]byte, n)
				a.xorKeyStream(got, src, tt.nonce)
				if !bytes.Equal(got, want) {
					t.Errorf("%d bytes: got %x, want %x", n, got, want)
				}
				a.xorKeyStream(src, src, tt.nonce) // in place
				if !bytes.Equal(src, want) {
					t.Errorf("%d bytes in place: got %x, want %x", n, src, want)
				}
			}
		})
	}
	// The 128-bit carry: a counter block that starts 3 below 2^64 in its low half. No nonce
	// reaches it (the low 32 bits start at 0), but the arithmetic must still be AES-CTR's.
	iv := make([]byte, 16)
	binary.BigEndian.PutUint64(iv[0:], 42)
	binary.BigEndian.PutUint64(iv[8:], math.MaxUint64-2)
	src := testPlaintext(100)
	want := make([]byte, len(src))
	cipher.NewCTR(block, iv).XORKeyStream(want, src)
	got := make([]byte, len(src))
	a.xorKeyStreamFrom(got, src, 42, math.MaxUint64-2)
	if !bytes.Equal(got, want) {
		t.Errorf("carry: got %x, want %x", got, want)
	}
}

// TestReplayWindowModel compares the window with a set-based model on random traffic.
func TestReplayWindowModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for run := range 50 {
		var w replayWindow
		accepted := map[uint64]bool{}
		var top uint64
		ctr := rng.Uint64N(1000)
		for i := range 2000 {
			// Mostly forward, sometimes back into or beyond the window, sometimes far ahead.
			switch r := rng.IntN(10); {
			case r < 5:
				ctr += rng.Uint64N(3)
			case r < 8:
				ctr -= min(ctr, rng.Uint64N(140))
			case r < 9:
				ctr += rng.Uint64N(300)
			default:
				ctr = top - min(top, 127)
			}
			want := !accepted[ctr] && (len(accepted) == 0 || ctr > top || top-ctr < ReplayWindow)
			if got := w.check(ctr); got != want {
				t.Fatalf("run %d step %d: check(%d) with top %d: got %v, want %v", run, i, ctr, top, got, want)
			}
			if want && rng.IntN(4) != 0 { // some allowed frames fail authentication
				w.accept(ctr)
				accepted[ctr] = true
				top = max(top, ctr)
			}
		}
	}
}
