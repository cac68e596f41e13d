package loadtest

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/geofence/geofence/crypto/sframe"
)

func newKey(t testing.TB) []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

func TestSFrameProfile(t *testing.T) {
	p := &SFrameProfile{Key: newKey(t), Epoch: 3}
	op, err := p.NewOpener()
	if err != nil {
		t.Fatal(err)
	}
	for sender := range uint64(3) {
		s, err := p.NewSealer(sender)
		if err != nil {
			t.Fatal(err)
		}
		for _, fr := range []Frame{
			{Kind: Video, Key: true, Seq: 1, Size: 500, Sent: time.Unix(1, 0)},
			{Kind: Video, Seq: 2, Size: 100, Sent: time.Unix(1, 0)},
			{Kind: Audio, Seq: 3, Size: 80, Sent: time.Unix(1, 0)},
		} {
			plain := AppendFrame(nil, fr, 1280, 720)
			sealed, err := s.Seal(nil, fr.Kind, plain)
			if err != nil {
				t.Fatal(err)
			}
			h := HeaderLen(fr.Kind, plain)
			// The codec header is in clear (the SFU and a browser's depacketizer read it),
			// the rest is not.
			if !bytes.Equal(sealed[:h], plain[:h]) {
				t.Errorf("sender %d %s: header % x not in clear", sender, fr.Kind, sealed[:h])
			}
			if bytes.Contains(sealed, Magic[:]) {
				t.Errorf("sender %d %s: the trailer is in clear", sender, fr.Kind)
			}
			// The header is authenticated: a flipped key-frame bit fails.
			bad := bytes.Clone(sealed)
			bad[0] ^= 0x10
			if _, err := op.Open(nil, fr.Kind, bad); !errors.Is(err, sframe.ErrAuth) {
				t.Errorf("sender %d %s: altered header: got %v, want ErrAuth", sender, fr.Kind, err)
			}
			got, err := op.Open(nil, fr.Kind, sealed)
			if err != nil {
				t.Fatalf("sender %d %s: %v", sender, fr.Kind, err)
			}
			if !bytes.Equal(got, plain) {
				t.Errorf("sender %d %s: opened frame differs", sender, fr.Kind)
			}
			// A replayed frame fails.
			if _, err := op.Open(nil, fr.Kind, sealed); !errors.Is(err, sframe.ErrReplay) {
				t.Errorf("sender %d %s: replay: got %v, want ErrReplay", sender, fr.Kind, err)
			}
		}
	}
	// Another key, or another epoch, does not open.
	s, _ := (&SFrameProfile{Key: newKey(t), Epoch: 3}).NewSealer(0)
	sealed, _ := s.Seal(nil, Audio, AppendFrame(nil, Frame{Kind: Audio, Size: 40}, 0, 0))
	fresh, _ := p.NewOpener()
	if _, err := fresh.Open(nil, Audio, sealed); !errors.Is(err, sframe.ErrAuth) {
		t.Errorf("other key: got %v, want ErrAuth", err)
	}
	s, _ = (&SFrameProfile{Key: p.Key, Epoch: 4}).NewSealer(0)
	sealed, _ = s.Seal(nil, Audio, AppendFrame(nil, Frame{Kind: Audio, Size: 40}, 0, 0))
	if _, err := op.Open(nil, Audio, sealed); !errors.Is(err, sframe.ErrUnknownKID) {
		t.Errorf("other epoch: got %v, want ErrUnknownKID", err)
	}
	for _, b := range [][]byte{nil, {0xfc}, {0xfc, 0xff}} {
		if _, err := op.Open(nil, Audio, b); err == nil {
			t.Errorf("open % x: got no error", b)
		}
	}
	if _, err := p.NewSealer(1 << 16); err == nil {
		t.Error("sender 65536: got no error")
	}
}

func FuzzOpen(f *testing.F) {
	key := make([]byte, 32)
	p := &SFrameProfile{Key: key}
	s, _ := p.NewSealer(1)
	for _, fr := range []Frame{{Kind: Video, Key: true, Size: 40}, {Kind: Video, Size: 30}, {Kind: Audio, Size: 30}} {
		sealed, _ := s.Seal(nil, fr.Kind, AppendFrame(nil, fr, 1, 1))
		f.Add(fr.Kind == Video, sealed)
	}
	f.Fuzz(func(t *testing.T, video bool, b []byte) {
		k := Audio
		if video {
			k = Video
		}
		op, _ := p.NewOpener()
		out, err := op.Open(nil, k, b)
		if err == nil && !bytes.Equal(out[:HeaderLen(k, b)], b[:HeaderLen(k, b)]) {
			t.Fatal("opened frame lost its header")
		}
	})
}
