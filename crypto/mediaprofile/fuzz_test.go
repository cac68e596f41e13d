package mediaprofile

import (
	"bytes"
	"testing"
)

// FuzzOpen feeds arbitrary wire frames, under each codec, to a Receiver holding the vectors'
// epoch keys: Open must never panic, must fail only with the profile's errors, and may succeed
// only on a frame that was genuinely sealed, returning that frame's plaintext.
func FuzzOpen(f *testing.F) {
	genuine := map[string][]byte{} // codec byte || wire -> plaintext
	for _, c := range vectorCases {
		if c.suite != 0 && c.suite != 5 {
			continue // the fuzzed Receiver uses the default suite
		}
		v := sealVector(f, c)
		wire := mustHex(f, v.Wire)
		genuine[string(append([]byte{byte(c.codec)}, wire...))] = c.frame
		f.Add(byte(c.codec), wire)
	}
	f.Add(byte(CodecVP8), []byte{})
	f.Add(byte(CodecVP8), []byte{0x31, 0, 0, 0xff})
	f.Add(byte(CodecOpus), []byte{0xfc, 0x08, 0x01})
	f.Add(byte(7), []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, codec byte, wire []byte) {
		r := NewReceiver(Config{MaxEpochs: 4})
		for _, e := range []uint64{1, 2, 7, 300} {
			if err := r.AddEpoch(vectorEpochKey(t, e)); err != nil {
				t.Fatal(err)
			}
		}
		in := bytes.Clone(wire)
		pt, err := r.Open(nil, Codec(codec), in)
		if !bytes.Equal(in, wire) {
			t.Fatal("Open modified its input")
		}
		want, ok := genuine[string(append([]byte{codec}, wire...))]
		if err != nil {
			switch err {
			case ErrMalformed, ErrUnknownEpoch, ErrAuth, ErrReplay, ErrTooManySenders, errUnknownCodec:
			default:
				t.Fatalf("Open(%d, %x): unexpected error %v", codec, wire, err)
			}
			if ok {
				t.Fatalf("Open(%d, %x) of a genuine frame failed: %v", codec, wire, err)
			}
			return
		}
		if !ok {
			t.Fatalf("Open(%d, %x) accepted a frame that was never sealed", codec, wire)
		}
		if !bytes.Equal(pt, want) {
			t.Fatalf("Open(%d, %x) = %x, want %x", codec, wire, pt, want)
		}
	})
}
