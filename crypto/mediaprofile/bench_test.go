package mediaprofile

import (
	"encoding/hex"
	"testing"
)

func mustHex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

var benchFrames = []struct {
	name  string
	codec Codec
	frame []byte
}{
	{"VP8delta1200", CodecVP8, vp8Delta(1200)},
	{"VP8key1200", CodecVP8, vp8Key(1200)},
	{"Opus100", CodecOpus, opusFrame(100)},
}

func BenchmarkSeal(b *testing.B) {
	for _, f := range benchFrames {
		b.Run(f.name, func(b *testing.B) {
			s, _ := newPair(b, Config{}, epochKey(b, 1))
			dst := make([]byte, 0, len(f.frame)+s.Overhead())
			b.SetBytes(int64(len(f.frame)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Seal(dst, f.codec, f.frame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	for _, f := range benchFrames {
		b.Run(f.name, func(b *testing.B) {
			k := epochKey(b, 1)
			s, r := newPair(b, Config{}, k)
			// Seal every frame ahead, so that the replay window sees each counter once.
			const n = 4096
			wires := make([][]byte, n)
			for i := range wires {
				w, err := s.Seal(nil, f.codec, f.frame)
				if err != nil {
					b.Fatal(err)
				}
				wires[i] = w
			}
			dst := make([]byte, 0, len(f.frame))
			b.SetBytes(int64(len(f.frame)))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if i == n {
					// A fresh receiver for the next pass: the counters start over.
					b.StopTimer()
					r = NewReceiver(Config{})
					if err := r.AddEpoch(k); err != nil {
						b.Fatal(err)
					}
					_, _ = r.Open(dst, f.codec, wires[0])
					i = 1
					b.StartTimer()
				}
				if _, err := r.Open(dst, f.codec, wires[i]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
