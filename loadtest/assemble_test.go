package loadtest

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// packetize cuts frames into RTP packets the way a Pion VP8 track does.
func packetize(t *testing.T, frames [][]byte) [][]*rtp.Packet {
	p := rtp.NewPacketizer(1200, 96, 1234, &codecs.VP8Payloader{EnablePictureID: true}, rtp.NewRandomSequencer(), 90000)
	var out [][]*rtp.Packet
	for _, f := range frames {
		out = append(out, p.Packetize(f, 3000))
	}
	return out
}

func TestAssembler(t *testing.T) {
	var frames [][]byte
	for i := range 6 {
		frames = append(frames, AppendFrame(nil, Frame{Kind: Video, Key: i == 0, Seq: uint64(i), Size: 500 + 1500*i}, 640, 480))
	}
	pkts := packetize(t, frames)
	if len(pkts[5]) < 3 {
		t.Fatalf("frame 5 is %d packets, want several", len(pkts[5]))
	}
	for _, tt := range []struct {
		name     string
		order    func() []*rtp.Packet
		want     []int // frames out, in order
		minDrops uint64
	}{
		{"in order", func() []*rtp.Packet { return flat(pkts) }, []int{0, 1, 2, 3, 4, 5}, 0},
		{"reordered within frames", func() []*rtp.Packet {
			var out []*rtp.Packet
			r := rand.New(rand.NewPCG(1, 2))
			for _, f := range pkts {
				f = append([]*rtp.Packet(nil), f...)
				r.Shuffle(len(f), func(i, j int) { f[i], f[j] = f[j], f[i] })
				out = append(out, f...)
			}
			return out
		}, []int{0, 1, 2, 3, 4, 5}, 0},
		{"a lost packet loses its frame only", func() []*rtp.Packet {
			var out []*rtp.Packet
			for i, f := range pkts {
				if i == 3 {
					f = f[1:]
				}
				out = append(out, f...)
			}
			return out
		}, []int{0, 1, 2, 4, 5}, 1},
		{"duplicates", func() []*rtp.Packet {
			var out []*rtp.Packet
			for _, f := range pkts {
				out = append(out, f...)
				out = append(out, f[0])
			}
			return out
		}, []int{0, 1, 2, 3, 4, 5}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var a Assembler
			var got []int
			for _, p := range tt.order() {
				if f := a.Push(nil, p); f != nil {
					fr, err := ParseFrame(Video, f)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(f, frames[fr.Seq]) {
						t.Errorf("frame %d differs from what was sent", fr.Seq)
					}
					got = append(got, int(fr.Seq))
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got frames %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("got frames %v, want %v", got, tt.want)
				}
			}
			if a.Dropped < tt.minDrops {
				t.Errorf("dropped %d, want at least %d", a.Dropped, tt.minDrops)
			}
		})
	}
}

func flat(pkts [][]*rtp.Packet) []*rtp.Packet {
	var out []*rtp.Packet
	for _, f := range pkts {
		out = append(out, f...)
	}
	return out
}

func FuzzAssembler(f *testing.F) {
	f.Add([]byte{0x90, 0x80, 0x01, 0x00, 0x01}, true, uint16(1), uint32(9))
	f.Fuzz(func(t *testing.T, payload []byte, marker bool, seq uint16, ts uint32) {
		var a Assembler
		for i := range 3 {
			a.Push(nil, &rtp.Packet{Header: rtp.Header{Marker: marker, SequenceNumber: seq + uint16(i), Timestamp: ts + uint32(i%2)}, Payload: payload})
		}
	})
}
