package loadtest

import (
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// maxPending bounds the frames an assembler holds incomplete.
const maxPending = 8

// Assembler turns a video track's RTP packets back into frames with pion/rtp's VP8
// depacketizer. A frame is complete when the packet starting its first partition (RFC 7741
// section 4.2: S=1, PID=0), the packet with the marker bit (its last, section 4.1) and every
// sequence number between them have arrived, in any order; it is returned at once, without
// waiting for the next frame's first packet as pion's samplebuilder does, so that what the
// load test measures is the network's latency and not a frame interval more. Frames older
// than a complete one, or pushed out by maxPending newer ones, are dropped: their loss shows
// in the frame sequence numbers. It is for one goroutine; packets are untrusted.
type Assembler struct {
	pending []*partial
	done    bool   // a frame was completed
	last    uint32 // the timestamp of the last frame completed
	// Dropped counts frames given up incomplete.
	Dropped uint64
}

type partial struct {
	ts         uint32
	pkts       map[uint16][]byte // payloads by sequence number, VP8 descriptor included
	head, tail int32             // sequence numbers of the first and last packets; -1 unknown
}

// Push adds a packet and returns a frame it completed (appended to dst), or nil.
func (a *Assembler) Push(dst []byte, p *rtp.Packet) []byte {
	var vp8 codecs.VP8Packet
	if len(p.Payload) == 0 {
		return nil // padding
	}
	if _, err := vp8.Unmarshal(p.Payload); err != nil {
		return nil
	}
	if a.done && int32(p.Timestamp-a.last) <= 0 {
		return nil // a frame completed or given up already
	}
	f := a.find(p.Timestamp)
	if f == nil {
		return nil
	}
	if _, dup := f.pkts[p.SequenceNumber]; dup {
		return nil
	}
	f.pkts[p.SequenceNumber] = p.Payload
	if vp8.S == 1 && vp8.PID == 0 {
		f.head = int32(p.SequenceNumber)
	}
	if p.Marker {
		f.tail = int32(p.SequenceNumber)
	}
	if f.head < 0 || f.tail < 0 {
		return nil
	}
	n := uint16(f.tail) - uint16(f.head) + 1
	if int(n) != len(f.pkts) {
		return nil // some are missing (or a packet outside the frame carries its timestamp)
	}
	for s := uint16(f.head); ; s++ {
		b, ok := f.pkts[s]
		if !ok {
			return nil
		}
		vp8.Unmarshal(b)
		dst = append(dst, vp8.Payload...)
		if s == uint16(f.tail) {
			break
		}
	}
	a.complete(f)
	return dst
}

// find returns the partial frame of timestamp ts, making one, or nil when ts is older than
// every frame held and no room is left.
func (a *Assembler) find(ts uint32) *partial {
	for _, f := range a.pending {
		if f.ts == ts {
			return f
		}
	}
	if len(a.pending) == maxPending {
		a.pending = a.pending[1:]
		a.Dropped++
	}
	f := &partial{ts: ts, pkts: map[uint16][]byte{}, head: -1, tail: -1}
	a.pending = append(a.pending, f)
	return f
}

// complete removes f and every frame started before it (RTP timestamps compared modulo 2^32,
// RFC 3550 section 5.1).
func (a *Assembler) complete(f *partial) {
	a.done, a.last = true, f.ts
	kept := a.pending[:0]
	for _, g := range a.pending {
		switch {
		case g == f:
		case int32(g.ts-f.ts) < 0:
			a.Dropped++
		default:
			kept = append(kept, g)
		}
	}
	for i := len(kept); i < len(a.pending); i++ {
		a.pending[i] = nil
	}
	a.pending = kept
}
