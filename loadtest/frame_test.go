package loadtest

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestFrameRoundTrip(t *testing.T) {
	sent := time.Unix(1_800_000_000, 123456789)
	for _, tt := range []struct {
		name    string
		f       Frame
		wantLen int
		wantHdr int
	}{
		{"key", Frame{Kind: Video, Key: true, Seq: 0, Sent: sent, Size: 16000}, 16000, VP8KeyHeaderLen},
		{"delta", Frame{Kind: Video, Seq: 7, Sent: sent, Size: 3000}, 3000, VP8DeltaHeaderLen},
		{"tiny key raised to the minimum", Frame{Kind: Video, Key: true, Seq: 1, Sent: sent, Size: 1}, MinKeyFrame, VP8KeyHeaderLen},
		{"audio", Frame{Kind: Audio, Seq: 1 << 40, Sent: sent, Size: 80}, 80, OpusHeaderLen},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := AppendFrame([]byte("xx"), tt.f, 640, 360)[2:]
			if len(b) != tt.wantLen {
				t.Fatalf("got %d bytes, want %d", len(b), tt.wantLen)
			}
			if got := HeaderLen(tt.f.Kind, b); got != tt.wantHdr {
				t.Errorf("got header length %d, want %d", got, tt.wantHdr)
			}
			got, err := ParseFrame(tt.f.Kind, b)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.f
			want.Size = tt.wantLen
			if got.Kind != want.Kind || got.Key != want.Key || got.Seq != want.Seq || !got.Sent.Equal(want.Sent) || got.Size != want.Size {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}
}

// TestVP8Header checks the frame tag and key-frame header against RFC 6386 section 9.1 by
// hand: what a VP8 depacketizer or a browser reads from byte 0.
func TestVP8Header(t *testing.T) {
	key := AppendFrame(nil, Frame{Kind: Video, Key: true, Size: 1000}, 1280, 720)
	if key[0]&1 != 0 {
		t.Errorf("key frame: frame type bit is 1, want 0")
	}
	if key[0]>>4&1 != 1 {
		t.Errorf("key frame: show_frame is 0, want 1")
	}
	if size := uint32(key[0])>>5 | uint32(key[1])<<3 | uint32(key[2])<<11; size != 997 {
		t.Errorf("first partition size %d, want 997", size)
	}
	if !bytes.Equal(key[3:10], []byte{0x9d, 0x01, 0x2a, 0x00, 0x05, 0xd0, 0x02}) {
		t.Errorf("key frame start code and dimensions % x", key[3:10])
	}
	delta := AppendFrame(nil, Frame{Kind: Video, Size: 100}, 1280, 720)
	if delta[0]&1 != 1 {
		t.Errorf("inter frame: frame type bit is 0, want 1")
	}
	audio := AppendFrame(nil, Frame{Kind: Audio, Size: 80}, 0, 0)
	if audio[0]>>3 != 31 || audio[0]&0x4 == 0 || audio[0]&3 != 0 {
		t.Errorf("Opus TOC %08b, want config 31, stereo, one frame", audio[0])
	}
}

func TestParseFrameErrors(t *testing.T) {
	good := AppendFrame(nil, Frame{Kind: Video, Key: true, Size: 100}, 1, 1)
	noStart := bytes.Clone(good)
	noStart[3] = 0
	badMagic := bytes.Clone(good)
	badMagic[VP8KeyHeaderLen] = 'X'
	for _, tt := range []struct {
		name string
		kind Kind
		b    []byte
		want error
	}{
		{"empty", Video, nil, ErrShortFrame},
		{"short key", Video, good[:MinKeyFrame-1], ErrShortFrame},
		{"no start code", Video, noStart, ErrBadHeader},
		{"wrong magic", Video, badMagic, ErrNotSynthetic},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseFrame(tt.kind, tt.b); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := ParseFrame("data", good); err == nil {
		t.Error("unknown kind: got no error")
	}
}

func TestVideoSource(t *testing.T) {
	s := &VideoSource{VideoConfig: VideoConfig{Bitrate: 1_200_000, FPS: 30, KeyInterval: time.Second}}
	keySize, deltaSize, perKey := s.Sizes()
	if perKey != 30 || keySize != 4*5000 || deltaSize != (30*5000-20000)/29 {
		t.Fatalf("got sizes key %d delta %d per key %d, want 20000, %d, 30", keySize, deltaSize, perKey, (30*5000-20000)/29)
	}
	total, keys := 0, 0
	now := time.Unix(0, 0)
	for i := range 90 {
		f, key := s.Next(nil, now)
		total += len(f)
		if key {
			keys++
			if i%30 != 0 && i != 41 {
				t.Errorf("frame %d is a key frame", i)
			}
		}
		if i == 40 {
			s.RequestKeyFrame()
		}
		got, err := ParseFrame(Video, f)
		if err != nil || got.Seq != uint64(i) || got.Key != key {
			t.Fatalf("frame %d: got %+v, %v", i, got, err)
		}
	}
	if keys != 4 {
		t.Errorf("got %d key frames, want 4 (3 periodic, 1 requested)", keys)
	}
	// Three seconds at 1.2 Mbit/s, one extra key frame.
	want := 3*1_200_000/8 + keySize - deltaSize
	if total < want-100 || total > want+100 {
		t.Errorf("got %d bytes in 3 s, want about %d", total, want)
	}
	a := &AudioSource{}
	if a.Size() != 80 {
		t.Errorf("audio frame of %d bytes, want 80 (32 kbit/s, 20 ms)", a.Size())
	}
}

func FuzzParseFrame(f *testing.F) {
	f.Add(true, AppendFrame(nil, Frame{Kind: Video, Key: true, Size: 40}, 1, 1))
	f.Add(true, AppendFrame(nil, Frame{Kind: Video, Size: 30}, 1, 1))
	f.Add(false, AppendFrame(nil, Frame{Kind: Audio, Size: 30}, 1, 1))
	f.Fuzz(func(t *testing.T, video bool, b []byte) {
		k := Audio
		if video {
			k = Video
		}
		fr, err := ParseFrame(k, b)
		if err != nil {
			return
		}
		// What parses is what AppendFrame makes of it, in the bytes the layout defines.
		again := AppendFrame(nil, fr, 1, 1)
		h := HeaderLen(k, b)
		if !bytes.Equal(again[h:h+TrailerLen], b[h:h+TrailerLen]) || video && again[0]&1 != b[0]&1 {
			t.Fatalf("parsed %+v from % x, which does not round-trip", fr, b)
		}
	})
}
