package mediaprofile

import (
	"bytes"
	"errors"
	"testing"

	"github.com/geofence/geofence/crypto/e2ee"
	"github.com/geofence/geofence/crypto/sframe"
)

func epochKey(t testing.TB, epoch uint64) e2ee.EpochKey {
	t.Helper()
	k, err := e2ee.NewEpochKey(epoch, e2ee.NewMeetingKey())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newPair(t testing.TB, cfg Config, k e2ee.EpochKey) (*Sender, *Receiver) {
	t.Helper()
	s, err := NewSender(k, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := NewReceiver(cfg)
	if err := r.AddEpoch(k); err != nil {
		t.Fatal(err)
	}
	return s, r
}

func TestPrefixLen(t *testing.T) {
	tests := []struct {
		name  string
		codec Codec
		frame []byte
		want  int
		err   error
	}{
		{"vp8 key frame", CodecVP8, vp8Key(100), 10, nil},
		{"vp8 delta frame", CodecVP8, vp8Delta(100), 3, nil},
		{"vp8 key frame of 10 bytes", CodecVP8, vp8Key(10), 10, nil},
		{"vp8 key frame of 9 bytes", CodecVP8, vp8Key(10)[:9], 0, ErrShortFrame},
		{"vp8 delta frame of 2 bytes", CodecVP8, vp8Delta(2), 0, ErrShortFrame},
		{"vp8 empty", CodecVP8, nil, 0, ErrShortFrame},
		{"opus", CodecOpus, opusFrame(100), 1, nil},
		{"opus TOC only", CodecOpus, opusFrame(1), 1, nil},
		{"opus empty", CodecOpus, nil, 0, ErrShortFrame},
		{"none", CodecNone, pattern(5, 0), 0, nil},
		{"none empty", CodecNone, nil, 0, nil},
		{"unknown codec", Codec(9), pattern(5, 0), 0, errUnknownCodec},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.codec.PrefixLen(tt.frame)
			if err != tt.err || got != tt.want {
				t.Fatalf("PrefixLen: got %d, %v, want %d, %v", got, err, tt.want, tt.err)
			}
		})
	}
}

func TestSealOpen(t *testing.T) {
	suites := []sframe.Suite{0, sframe.AES_128_GCM_SHA256_128, sframe.AES_128_CTR_HMAC_SHA256_80, sframe.AES_128_CTR_HMAC_SHA256_32}
	frames := []struct {
		name  string
		codec Codec
		frame []byte
	}{
		{"vp8 key", CodecVP8, vp8Key(1200)},
		{"vp8 delta", CodecVP8, vp8Delta(1200)},
		{"opus", CodecOpus, opusFrame(100)},
		{"none", CodecNone, pattern(77, 1)},
		{"none empty", CodecNone, []byte{}},
	}
	for _, suite := range suites {
		s, r := newPair(t, Config{Suite: suite}, epochKey(t, 4))
		for _, f := range frames {
			t.Run(suite.String()+"/"+f.name, func(t *testing.T) {
				wire, err := s.Seal(nil, f.codec, f.frame)
				if err != nil {
					t.Fatal(err)
				}
				n, _ := f.codec.PrefixLen(f.frame)
				if !bytes.Equal(wire[:n], f.frame[:n]) {
					t.Fatalf("wire prefix %x, want the frame's %x", wire[:n], f.frame[:n])
				}
				if len(wire) > len(f.frame)+s.Overhead() {
					t.Fatalf("wire frame of %d bytes for a %d-byte frame, overhead at most %d", len(wire), len(f.frame), s.Overhead())
				}
				if IsKeyFrame(f.codec, wire) != IsKeyFrame(f.codec, f.frame) {
					t.Fatal("the wire frame does not show the key frame flag of the frame")
				}
				got, err := r.Open(nil, f.codec, wire)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, f.frame) {
					t.Fatalf("open: got %x, want %x", got, f.frame)
				}
				if _, err := r.Open(nil, f.codec, wire); err != ErrReplay {
					t.Fatalf("second open: got %v, want ErrReplay", err)
				}
			})
		}
	}
}

func TestSealShortFrame(t *testing.T) {
	s, _ := newPair(t, Config{}, epochKey(t, 1))
	for _, f := range [][]byte{nil, vp8Key(9), vp8Delta(2)} {
		if _, err := s.Seal(nil, CodecVP8, f); err != ErrShortFrame {
			t.Fatalf("seal %x: got %v, want ErrShortFrame", f, err)
		}
	}
	if _, err := s.Seal(nil, CodecOpus, nil); err != ErrShortFrame {
		t.Fatalf("seal empty opus: got %v, want ErrShortFrame", err)
	}
}

// TestInPlace seals and opens within one buffer.
func TestInPlace(t *testing.T) {
	s, r := newPair(t, Config{}, epochKey(t, 1))
	frame := vp8Key(500)
	buf := make([]byte, len(frame), len(frame)+s.Overhead())
	copy(buf, frame)
	wire, err := s.Seal(buf[:0], CodecVP8, buf)
	if err != nil {
		t.Fatal(err)
	}
	if &wire[0] != &buf[0] {
		t.Fatal("seal did not work in place")
	}
	got, err := r.Open(wire[:0], CodecVP8, wire)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, frame) {
		t.Fatal("in-place open differs from the frame")
	}
}

// TestOpenErrors checks that each way a frame fails has its own error.
func TestOpenErrors(t *testing.T) {
	k1 := epochKey(t, 1)
	s, r := newPair(t, Config{}, k1)
	wire, err := s.Seal(nil, CodecVP8, vp8Delta(200))
	if err != nil {
		t.Fatal(err)
	}
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(wire)) }
	other := NewReceiver(Config{})
	if err := other.AddEpoch(epochKey(t, 1)); err != nil { // epoch 1, another key
		t.Fatal(err)
	}
	noEpoch := NewReceiver(Config{})
	if err := noEpoch.AddEpoch(epochKey(t, 2)); err != nil {
		t.Fatal(err)
	}
	otherSuite := NewReceiver(Config{Suite: sframe.AES_128_GCM_SHA256_128})
	if err := otherSuite.AddEpoch(k1); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		r    *Receiver
		wire []byte
		want error
	}{
		{"empty", r, nil, ErrMalformed},
		{"prefix only", r, wire[:3], ErrMalformed},
		{"truncated header", r, wire[:5], ErrMalformed},
		{"shorter than the tag", r, wire[:3+9+5], ErrMalformed},
		{"wrong key", other, wire, ErrAuth},
		{"other suite", otherSuite, wire, ErrAuth},
		{"epoch not held", noEpoch, wire, ErrUnknownEpoch},
		{"prefix altered", r, mutate(func(b []byte) []byte { b[1] ^= 1; return b }), ErrAuth},
		{"key frame flag flipped", r, mutate(func(b []byte) []byte { b[0] ^= 1; return b }), nil},
		{"body altered", r, mutate(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), ErrAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.r.Open(nil, CodecVP8, tt.wire)
			if tt.want == nil {
				// The flipped flag makes the receiver split at another place: any failure but
				// success will do.
				if err == nil {
					t.Fatal("open of an altered frame succeeded")
				}
				return
			}
			if err != tt.want {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	// None of the failures used up the frame.
	if _, err := r.Open(nil, CodecVP8, wire); err != nil {
		t.Fatalf("open of the genuine frame after the failures: %v", err)
	}
}

// TestRejoinDistinctKeys checks that two sending sessions of one participant in one epoch,
// as after a rejoin, have distinct KIDs, and that one receiver opens both.
func TestRejoinDistinctKeys(t *testing.T) {
	k := epochKey(t, 3)
	a, r := newPair(t, Config{}, k)
	b, err := NewSender(k, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if a.KID() == b.KID() {
		t.Fatalf("two sessions share KID %v", a.KID())
	}
	for _, s := range []*Sender{a, b} {
		if s.KID().EpochBits() != 3 {
			t.Fatalf("KID %v does not show epoch 3", s.KID())
		}
		w, err := s.Seal(nil, CodecOpus, opusFrame(50))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Open(nil, CodecOpus, w); err != nil {
			t.Fatalf("open a frame of session %v: %v", s.KID(), err)
		}
	}
}

// TestRekeyOverlap moves a sender to a new epoch while the receiver holds both, then drops the
// old one.
func TestRekeyOverlap(t *testing.T) {
	k1, k2 := epochKey(t, 1), epochKey(t, 2)
	s, r := newPair(t, Config{}, k1)
	late, err := s.Seal(nil, CodecVP8, vp8Delta(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.AddEpoch(k2); err != nil {
		t.Fatal(err)
	}
	if err := s.Rekey(k2); err != nil {
		t.Fatal(err)
	}
	if s.KID().EpochBits() != 2 || s.Epoch() != 2 {
		t.Fatalf("after rekey: KID %v, epoch %d", s.KID(), s.Epoch())
	}
	fresh, err := s.Seal(nil, CodecVP8, vp8Key(100))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range [][]byte{fresh, late} {
		if _, err := r.Open(nil, CodecVP8, w); err != nil {
			t.Fatalf("open during the overlap: %v", err)
		}
	}
	r.RemoveEpoch(1)
	late2, _ := NewSender(k1, Config{})
	w, _ := late2.Seal(nil, CodecVP8, vp8Delta(10))
	if _, err := r.Open(nil, CodecVP8, w); err != ErrUnknownEpoch {
		t.Fatalf("open in a removed epoch: got %v, want ErrUnknownEpoch", err)
	}
	if got := r.Epochs(); len(got) != 1 || got[0] != 2 {
		t.Fatalf("epochs %v, want [2]", got)
	}
}

func TestAddEpochBounds(t *testing.T) {
	r := NewReceiver(Config{MaxEpochs: 2})
	for e := uint64(1); e <= 3; e++ {
		if err := r.AddEpoch(epochKey(t, e)); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.Epochs(); len(got) != 2 || got[0] != 2 || got[1] != 3 {
		t.Fatalf("epochs %v, want [2 3]", got)
	}
	// Epoch 259 has the KID epoch bits of epoch 3.
	if err := r.AddEpoch(epochKey(t, 259)); err != nil {
		t.Fatal(err)
	}
	if got := r.Epochs(); len(got) != 2 || got[0] != 2 || got[1] != 259 {
		t.Fatalf("epochs %v, want [2 259]", got)
	}
	k := epochKey(t, 2)
	if err := r.AddEpoch(k); err == nil {
		t.Fatal("adding a held epoch with another key succeeded")
	}
	if err := r.AddEpoch(e2ee.EpochKey{}); err == nil {
		t.Fatal("adding the zero epoch key succeeded")
	}
}

// TestRatchet follows a sender through its ratchet steps, as a receiver that was there and
// as one that joins late, and into a new session after step 255.
func TestRatchet(t *testing.T) {
	k := epochKey(t, 9)
	s, r := newPair(t, Config{}, k)
	first := s.KID()
	for step := 1; step <= 300; step++ {
		if err := s.Ratchet(); err != nil {
			t.Fatal(err)
		}
		w, err := s.Seal(nil, CodecOpus, opusFrame(20))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Open(nil, CodecOpus, w); err != nil {
			t.Fatalf("step %d (KID %v): %v", step, s.KID(), err)
		}
		if step == 200 {
			late := NewReceiver(Config{})
			if err := late.AddEpoch(k); err != nil {
				t.Fatal(err)
			}
			if _, err := late.Open(nil, CodecOpus, w); err != nil {
				t.Fatalf("late receiver at step 200: %v", err)
			}
		}
	}
	if s.KID().Session() == first.Session() {
		t.Fatal("the sender kept its session past step 255")
	}
}

func TestTooManySenders(t *testing.T) {
	k := epochKey(t, 1)
	r := NewReceiver(Config{MaxSenders: 1})
	if err := r.AddEpoch(k); err != nil {
		t.Fatal(err)
	}
	for i, want := range []error{nil, ErrTooManySenders} {
		s, err := NewSender(k, Config{})
		if err != nil {
			t.Fatal(err)
		}
		w, _ := s.Seal(nil, CodecNone, []byte("x"))
		if _, err := r.Open(nil, CodecNone, w); !errors.Is(err, want) && err != want {
			t.Fatalf("sender %d: got %v, want %v", i, err, want)
		}
	}
}

// TestForgedSessionsHoldNothing checks that frames of unknown sessions that fail leave no key.
func TestForgedSessionsHoldNothing(t *testing.T) {
	k := epochKey(t, 1)
	r := NewReceiver(Config{MaxSenders: 1})
	if err := r.AddEpoch(k); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		s, _ := NewSender(epochKey(t, 1), Config{}) // another key of epoch 1
		w, _ := s.Seal(nil, CodecNone, []byte("forged"))
		if _, err := r.Open(nil, CodecNone, w); err != ErrAuth {
			t.Fatalf("forged frame: got %v, want ErrAuth", err)
		}
	}
	s, _ := NewSender(k, Config{})
	w, _ := s.Seal(nil, CodecNone, []byte("genuine"))
	if _, err := r.Open(nil, CodecNone, w); err != nil {
		t.Fatalf("genuine frame after forged ones: %v", err)
	}
}

func TestAllocs(t *testing.T) {
	s, r := newPair(t, Config{}, epochKey(t, 1))
	frame := vp8Delta(1200)
	wire := make([]byte, 0, len(frame)+s.Overhead())
	out := make([]byte, 0, len(frame))
	// The first frame derives the sender's key.
	w, _ := s.Seal(wire, CodecVP8, frame)
	if _, err := r.Open(out, CodecVP8, w); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		w, err := s.Seal(wire, CodecVP8, frame)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Open(out, CodecVP8, w); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("Seal and Open allocate %v times per frame, want 0", n)
	}
}

func TestCodecNames(t *testing.T) {
	for _, c := range []Codec{CodecNone, CodecVP8, CodecOpus} {
		got, err := ParseCodec(c.String())
		if err != nil || got != c {
			t.Fatalf("ParseCodec(%q) = %v, %v", c.String(), got, err)
		}
	}
	if _, err := ParseCodec("h264"); err == nil {
		t.Fatal("ParseCodec(h264) succeeded")
	}
}

func TestKIDLayout(t *testing.T) {
	k := MakeKID(0x1ff, 0xabcdef123456, 7)
	if k.EpochBits() != 0xff || k.Session() != 0xabcdef123456 || k.Step() != 7 || k.Generation().Step() != 0 {
		t.Fatalf("KID %v: epoch bits %x, session %x, step %d", k, k.EpochBits(), k.Session(), k.Step())
	}
	if uint64(k) != 0xffabcdef12345607 {
		t.Fatalf("KID %x, want ffabcdef12345607", uint64(k))
	}
}
