package loadtest

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/geofence/geofence/crypto/e2ee"
	"github.com/geofence/geofence/crypto/mediaprofile"
)

func newKey(t testing.TB, epoch uint64) e2ee.EpochKey {
	k, err := e2ee.NewEpochKey(epoch, e2ee.NewMeetingKey())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestMediaProfile: synthetic frames through package mediaprofile keep their codec header in
// clear and their trailer secret, and come back whole.
func TestMediaProfile(t *testing.T) {
	p := MediaProfile{}
	key := newKey(t, 3)
	op := p.NewOpener()
	if err := op.AddEpoch(key); err != nil {
		t.Fatal(err)
	}
	for sender := range 3 {
		s, err := p.NewSealer(key)
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
			if !bytes.Equal(sealed[:h], plain[:h]) {
				t.Errorf("sender %d %s: header % x not in clear", sender, fr.Kind, sealed[:h])
			}
			if bytes.Contains(sealed, Magic[:]) {
				t.Errorf("sender %d %s: the trailer is in clear", sender, fr.Kind)
			}
			// The header is authenticated: a flipped show_frame bit fails.
			bad := bytes.Clone(sealed)
			bad[0] ^= 0x10
			if _, err := op.Open(nil, fr.Kind, bad); !errors.Is(err, mediaprofile.ErrAuth) {
				t.Errorf("sender %d %s: altered header: got %v, want ErrAuth", sender, fr.Kind, err)
			}
			got, err := op.Open(nil, fr.Kind, sealed)
			if err != nil {
				t.Fatalf("sender %d %s: %v", sender, fr.Kind, err)
			}
			if !bytes.Equal(got, plain) {
				t.Errorf("sender %d %s: opened frame differs", sender, fr.Kind)
			}
			if _, err := op.Open(nil, fr.Kind, sealed); !errors.Is(err, mediaprofile.ErrReplay) {
				t.Errorf("sender %d %s: replay: got %v, want ErrReplay", sender, fr.Kind, err)
			}
		}
	}
	// Another key of the same epoch does not open; another epoch is unknown.
	for _, tt := range []struct {
		name string
		key  e2ee.EpochKey
		want error
	}{{"other key", newKey(t, 3), mediaprofile.ErrAuth}, {"other epoch", newKey(t, 4), mediaprofile.ErrUnknownEpoch}} {
		s, _ := p.NewSealer(tt.key)
		sealed, _ := s.Seal(nil, Audio, AppendFrame(nil, Frame{Kind: Audio, Size: 40}, 0, 0))
		if _, err := op.Open(nil, Audio, sealed); !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}
	for _, b := range [][]byte{nil, {0xfc}, {0xfc, 0xff}} {
		if _, err := op.Open(nil, Audio, b); err == nil {
			t.Errorf("open % x: got no error", b)
		}
	}
}

func FuzzOpen(f *testing.F) {
	key, _ := e2ee.NewEpochKey(1, make([]byte, e2ee.KeySize))
	p := MediaProfile{}
	s, _ := p.NewSealer(key)
	for _, fr := range []Frame{{Kind: Video, Key: true, Size: 40}, {Kind: Video, Size: 30}, {Kind: Audio, Size: 30}} {
		sealed, _ := s.Seal(nil, fr.Kind, AppendFrame(nil, fr, 1, 1))
		f.Add(fr.Kind == Video, sealed)
	}
	f.Fuzz(func(t *testing.T, video bool, b []byte) {
		k := Audio
		if video {
			k = Video
		}
		op := p.NewOpener()
		op.AddEpoch(key)
		out, err := op.Open(nil, k, b)
		if err == nil && !bytes.Equal(out[:HeaderLen(k, b)], b[:HeaderLen(k, b)]) {
			t.Fatal("opened frame lost its header")
		}
	})
}
