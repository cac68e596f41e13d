package sframe

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzParseHeader feeds arbitrary bytes to the header parser: it must never panic, and a
// header it accepts must re-encode to exactly the bytes it consumed (one encoding per header).
func FuzzParseHeader(f *testing.F) {
	for _, v := range loadVectors(f).Header {
		f.Add([]byte(v.Encoded))
	}
	f.Add([]byte{})
	f.Add([]byte{0x80, 0x07})             // non-minimal KID
	f.Add([]byte{0xff, 1, 2, 3, 4, 5, 6}) // truncated
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := ParseHeader(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("ParseHeader(%x): got error %v, want an ErrMalformed", b, err)
			}
			return
		}
		if n < 1 || n > MaxHeaderLen || n > len(b) || n != h.Len() {
			t.Fatalf("ParseHeader(%x): consumed %d bytes for %v (Len %d)", b, n, h, h.Len())
		}
		if enc := h.Append(nil); !bytes.Equal(enc, b[:n]) {
			t.Fatalf("ParseHeader(%x) = %v, which encodes as %x, want %x", b, h, enc, b[:n])
		}
	})
}

// fuzzKey is the base key of the RFC 9605 vectors, so that the vectors' ciphertexts are among
// the genuine frames.
var fuzzKey = []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}

const (
	fuzzKID        = 291    // the vectors' KID
	fuzzRatchetKID = 5 << 4 // a sender with R=4 at generation 5, step 0
	fuzzBits       = 4
)

type frameKey struct{ metadata, ciphertext string }

// genuineFrames encrypts, for suite, the frames a fuzzed Receiver may accept: the RFC vector,
// a few more under KID 291, and frames of three ratchet steps of a second sender.
func genuineFrames(tb testing.TB, suite Suite) map[frameKey][]byte {
	tb.Helper()
	frames := map[frameKey][]byte{}
	add := func(s *Sender, md, pt []byte) {
		ct, err := s.Encrypt(nil, md, pt)
		if err != nil {
			tb.Fatal(err)
		}
		frames[frameKey{string(md), string(ct)}] = pt
	}
	s, err := NewSender(suite, fuzzKID, fuzzKey)
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.AdvanceCounter(17767); err != nil {
		tb.Fatal(err)
	}
	add(s, []byte("IETF SFrame WG"), []byte("draft-ietf-sframe-enc"))
	add(s, nil, nil)
	add(s, []byte("m"), testPlaintext(100))
	rs, err := NewRatchetSender(suite, fuzzRatchetKID, fuzzBits, testKey("fuzz ratchet"))
	if err != nil {
		tb.Fatal(err)
	}
	for step := range 3 {
		add(rs, nil, []byte{byte(step)})
		if err := rs.Ratchet(); err != nil {
			tb.Fatal(err)
		}
	}
	return frames
}

func fuzzReceiver(tb testing.TB, suite Suite) *Receiver {
	r := &Receiver{}
	if err := r.AddKey(suite, fuzzKID, fuzzKey); err != nil {
		tb.Fatal(err)
	}
	if err := r.AddRatchetKey(suite, fuzzRatchetKID, fuzzBits, testKey("fuzz ratchet")); err != nil {
		tb.Fatal(err)
	}
	return r
}

// FuzzDecrypt feeds arbitrary ciphertexts and metadata to a Receiver holding a static key and
// a ratchet: it must never panic, must fail only with the package's sentinels, and must accept
// nothing but a genuine frame, and that only once.
func FuzzDecrypt(f *testing.F) {
	genuine := map[Suite]map[frameKey][]byte{}
	for i, suite := range allSuites {
		genuine[suite] = genuineFrames(f, suite)
		for k := range genuine[suite] {
			f.Add(uint8(i), []byte(k.metadata), []byte(k.ciphertext))
		}
	}
	for _, v := range loadVectors(f).SFrame {
		f.Add(uint8(v.CipherSuite-1), []byte(v.Metadata), []byte(v.CT))
	}
	f.Fuzz(func(t *testing.T, suiteIndex uint8, metadata, ciphertext []byte) {
		suite := allSuites[int(suiteIndex)%len(allSuites)]
		r := fuzzReceiver(t, suite)
		in := bytes.Clone(ciphertext)
		got, err := r.Decrypt(nil, metadata, ciphertext)
		if !bytes.Equal(in, ciphertext) {
			t.Fatalf("Decrypt modified its input")
		}
		if err != nil {
			if got != nil {
				t.Fatalf("Decrypt: got %x with error %v, want nil", got, err)
			}
			if !errors.Is(err, ErrMalformed) && err != ErrUnknownKID && err != ErrAuth && err != ErrReplay {
				t.Fatalf("Decrypt: got error %v, want a package sentinel", err)
			}
			return
		}
		want, ok := genuine[suite][frameKey{string(metadata), string(ciphertext)}]
		if !ok {
			t.Fatalf("Decrypt accepted %x with metadata %x, which no sender produced", ciphertext, metadata)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("Decrypt: got %x, want %x", got, want)
		}
		if _, err := r.Decrypt(nil, metadata, ciphertext); err != ErrReplay {
			t.Fatalf("Decrypt of the same frame again: got error %v, want ErrReplay", err)
		}
	})
}
