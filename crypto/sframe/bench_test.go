package sframe

import (
	"crypto/aes"
	"crypto/cipher"
	"testing"
	"time"
)

// frameSize is a typical video frame slice: one RTP packet's worth of payload.
const frameSize = 1200

// BenchmarkAES256GCM compares SFrame with the default suite to plain AES-256-GCM from the
// standard library on the same 1,200 bytes. The four run one after the other in every -count
// round, so that the cost SFrame adds (header, nonce, AAD, counter, replay window, locking) can
// be read off one run on a shared machine.
func BenchmarkAES256GCM(b *testing.B) {
	b.Run("RawSeal", benchRawSeal)
	b.Run("Encrypt", func(b *testing.B) { benchEncrypt(b, AES_256_GCM_SHA512_128) })
	b.Run("RawOpen", benchRawOpen)
	b.Run("Decrypt", func(b *testing.B) { benchDecrypt(b, AES_256_GCM_SHA512_128) })
}

// BenchmarkAES256GCMRatio measures the same comparison as BenchmarkAES256GCM, robustly on a
// busy shared machine: each iteration times a block of 64 raw operations and a block of 64
// SFrame ones back to back (alternating which goes first), so that whatever else runs slows
// both alike. It reports each side's ns per 1,200-byte frame and SFrame's throughput as a
// fraction of raw AES-256-GCM's.
func BenchmarkAES256GCMRatio(b *testing.B) {
	const block = 64
	aead := rawGCM(b)
	nonce := make([]byte, aead.NonceSize())
	pt := testPlaintext(frameSize)
	rawCT := aead.Seal(nil, nonce, pt, nil)
	dst := make([]byte, 0, frameSize+MaxHeaderLen+aead.Overhead())

	report := func(b *testing.B, raw, sf time.Duration, n int) {
		b.ReportMetric(float64(raw.Nanoseconds())/float64(n), "raw-ns/frame")
		b.ReportMetric(float64(sf.Nanoseconds())/float64(n), "sframe-ns/frame")
		b.ReportMetric(float64(raw)/float64(sf), "sframe/raw")
	}
	timed := func(d *time.Duration, f func()) {
		start := time.Now()
		f()
		*d += time.Since(start)
	}

	b.Run("Encrypt", func(b *testing.B) {
		s, _ := pair(b, DefaultSuite, 291)
		var raw, sf time.Duration
		rawBlock := func() {
			for range block {
				dst = aead.Seal(dst[:0], nonce, pt, nil)
			}
		}
		sfBlock := func() {
			for range block {
				var err error
				if dst, err = s.Encrypt(dst[:0], nil, pt); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			if n%2 == 0 {
				timed(&raw, rawBlock)
				timed(&sf, sfBlock)
			} else {
				timed(&sf, sfBlock)
				timed(&raw, rawBlock)
			}
			n++
		}
		report(b, raw, sf, n*block)
	})

	b.Run("Decrypt", func(b *testing.B) {
		s, r := pair(b, DefaultSuite, 291)
		frames := make([][]byte, block)
		for i := range frames {
			frames[i] = make([]byte, 0, frameSize+MaxHeaderLen+DefaultSuite.Overhead())
		}
		var raw, sf time.Duration
		rawBlock := func() {
			for range block {
				var err error
				if dst, err = aead.Open(dst[:0], nonce, rawCT, nil); err != nil {
					b.Fatal(err)
				}
			}
		}
		sfBlock := func() {
			for i := range block {
				var err error
				if dst, err = r.Decrypt(dst[:0], nil, frames[i]); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			for i := range frames { // fresh frames, untimed: the replay window rejects old ones
				var err error
				if frames[i], err = s.Encrypt(frames[i][:0], nil, pt); err != nil {
					b.Fatal(err)
				}
			}
			if n%2 == 0 {
				timed(&raw, rawBlock)
				timed(&sf, sfBlock)
			} else {
				timed(&sf, sfBlock)
				timed(&raw, rawBlock)
			}
			n++
		}
		report(b, raw, sf, n*block)
	})
}

// BenchmarkSuites measures every suite; the CTR+HMAC suites pay for HMAC-SHA256 and for an
// AES-CTR that encrypts one block at a time (see ctrHMAC).
func BenchmarkSuites(b *testing.B) {
	for _, suite := range allSuites {
		b.Run(suite.String()+"/Encrypt", func(b *testing.B) { benchEncrypt(b, suite) })
		b.Run(suite.String()+"/Decrypt", func(b *testing.B) { benchDecrypt(b, suite) })
	}
}

func benchRawSeal(b *testing.B) {
	aead := rawGCM(b)
	nonce := make([]byte, aead.NonceSize())
	pt := testPlaintext(frameSize)
	dst := make([]byte, 0, frameSize+aead.Overhead())
	b.SetBytes(frameSize)
	b.ReportAllocs()
	for b.Loop() {
		dst = aead.Seal(dst[:0], nonce, pt, nil)
	}
}

func benchRawOpen(b *testing.B) {
	aead := rawGCM(b)
	nonce := make([]byte, aead.NonceSize())
	ct := aead.Seal(nil, nonce, testPlaintext(frameSize), nil)
	dst := make([]byte, 0, frameSize)
	b.SetBytes(frameSize)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if dst, err = aead.Open(dst[:0], nonce, ct, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func rawGCM(b *testing.B) cipher.AEAD {
	block, err := aes.NewCipher(testKey("raw"))
	if err != nil {
		b.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		b.Fatal(err)
	}
	return aead
}

func benchEncrypt(b *testing.B, suite Suite) {
	s, _ := pair(b, suite, 291)
	pt := testPlaintext(frameSize)
	dst := make([]byte, 0, frameSize+MaxHeaderLen+suite.Overhead())
	b.SetBytes(frameSize)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if dst, err = s.Encrypt(dst[:0], nil, pt); err != nil {
			b.Fatal(err)
		}
	}
}

// benchDecrypt decrypts fresh frames, since the replay window rejects a frame seen before.
// They are encrypted in batches with the timer stopped, a batch small enough to stay in
// cache as the raw benchmark's single ciphertext does.
func benchDecrypt(b *testing.B, suite Suite) {
	s, r := pair(b, suite, 291)
	pt := testPlaintext(frameSize)
	frames := make([][]byte, 256)
	for i := range frames {
		frames[i] = make([]byte, 0, frameSize+MaxHeaderLen+suite.Overhead())
	}
	refill := func() {
		for i := range frames {
			var err error
			if frames[i], err = s.Encrypt(frames[i][:0], nil, pt); err != nil {
				b.Fatal(err)
			}
		}
	}
	refill()
	next := 0
	dst := make([]byte, 0, frameSize)
	b.SetBytes(frameSize)
	b.ReportAllocs()
	for b.Loop() {
		if next == len(frames) {
			b.StopTimer()
			refill()
			next = 0
			b.StartTimer()
		}
		var err error
		if dst, err = r.Decrypt(dst[:0], nil, frames[next]); err != nil {
			b.Fatal(err)
		}
		next++
	}
}

var benchHeaders = []struct {
	name string
	h    Header
}{
	{"1-byte", Header{KID: 3, CTR: 5}},
	{"5-byte", Header{KID: 291, CTR: 17767}},
	{"17-byte", Header{KID: 1<<64 - 1, CTR: 1<<64 - 1}},
}

func BenchmarkHeaderAppend(b *testing.B) {
	for _, bh := range benchHeaders {
		b.Run(bh.name, func(b *testing.B) {
			buf := make([]byte, 0, MaxHeaderLen)
			b.ReportAllocs()
			for b.Loop() {
				buf = bh.h.Append(buf[:0])
			}
		})
	}
}

func BenchmarkParseHeader(b *testing.B) {
	for _, bh := range benchHeaders {
		b.Run(bh.name, func(b *testing.B) {
			enc := bh.h.Append(nil)
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := ParseHeader(enc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
