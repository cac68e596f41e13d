package loadtest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/geofence/geofence/crypto/mediaprofile"
)

// Kind is a track's kind: wire.KindVideo or wire.KindAudio.
type Kind string

// Track kinds, the same strings as wire.KindVideo and wire.KindAudio.
const (
	Video Kind = "video"
	Audio Kind = "audio"
)

// Lengths of the codec headers the media profile keeps in clear (DESIGN.md section 8): a VP8
// key frame's frame tag, start code and dimensions, a VP8 inter frame's frame tag (RFC 6386
// section 9.1), and the Opus TOC byte (RFC 6716 section 3.1).
const (
	VP8KeyHeaderLen   = 10
	VP8DeltaHeaderLen = 3
	OpusHeaderLen     = 1
)

// TrailerLen is the length of what follows the codec header in a synthetic frame: the magic,
// the sequence number and the send time.
const TrailerLen = 4 + 8 + 8

// Magic starts a synthetic frame's trailer. scripts/bench-sfu/livekit writes the same bytes.
var Magic = [4]byte{'G', 'F', 'L', 'T'}

// Smallest frames: a codec header and the trailer.
const (
	MinKeyFrame   = VP8KeyHeaderLen + TrailerLen
	MinDeltaFrame = VP8DeltaHeaderLen + TrailerLen
	MinAudioFrame = OpusHeaderLen + TrailerLen
)

// Errors of ParseFrame.
var (
	ErrShortFrame   = errors.New("frame too short for its codec header and trailer")
	ErrNotSynthetic = errors.New("frame has no synthetic trailer (wrong magic)")
	ErrBadHeader    = errors.New("frame has a malformed codec header")
)

// Frame is a synthetic frame's content.
type Frame struct {
	Kind Kind
	// Key is true for a VP8 key frame (always false for audio).
	Key bool
	// Seq numbers the frames of one track from 0.
	Seq uint64
	// Sent is when the frame was made, on the sender's clock (nanosecond precision).
	Sent time.Time
	// Size is the whole frame's length, codec header included.
	Size int
}

// HeaderLen is the length of the codec header the media profile keeps in clear in a frame
// of kind k that starts with b: for VP8 the key-frame bit of the frame tag decides
// (mediaprofile.IsKeyFrame, RFC 6386 section 9.1). It is 0 when b is empty.
func HeaderLen(k Kind, b []byte) int {
	switch {
	case len(b) == 0:
		return 0
	case k == Audio:
		return OpusHeaderLen
	case mediaprofile.IsKeyFrame(mediaprofile.CodecVP8, b):
		return VP8KeyHeaderLen
	}
	return VP8DeltaHeaderLen
}

// AppendFrame appends to dst a synthetic frame of f.Kind, f.Key, f.Seq and f.Sent, f.Size bytes
// long (raised to the smallest frame of its kind). Video frames are VP8 of width x height.
func AppendFrame(dst []byte, f Frame, width, height int) []byte {
	min := MinAudioFrame
	switch {
	case f.Kind == Video && f.Key:
		min = MinKeyFrame
	case f.Kind == Video:
		min = MinDeltaFrame
	}
	size := max(f.Size, min)
	off := len(dst)
	dst = append(dst, make([]byte, size)...)
	b := dst[off:]
	hdr := OpusHeaderLen
	if f.Kind == Video {
		// Frame tag (RFC 6386 section 9.1): bit 0 frame type (0 key), bits 1-3 version,
		// bit 4 show_frame, bits 5-23 the first partition's size, little-endian.
		tag := uint32(size-VP8DeltaHeaderLen)&0x7ffff<<5 | 1<<4
		hdr = VP8DeltaHeaderLen
		if !f.Key {
			tag |= 1
		}
		b[0], b[1], b[2] = byte(tag), byte(tag>>8), byte(tag>>16)
		if f.Key {
			hdr = VP8KeyHeaderLen
			b[3], b[4], b[5] = 0x9d, 0x01, 0x2a // start code
			binary.LittleEndian.PutUint16(b[6:], uint16(width)&0x3fff)
			binary.LittleEndian.PutUint16(b[8:], uint16(height)&0x3fff)
		}
	} else {
		b[0] = 0xfc // config 31 (CELT fullband, 20 ms), stereo, one frame per packet
	}
	t := b[hdr:]
	copy(t, Magic[:])
	binary.BigEndian.PutUint64(t[4:], f.Seq)
	binary.BigEndian.PutUint64(t[12:], uint64(f.Sent.UnixNano()))
	return dst
}

// ParseFrame reads a synthetic frame of kind k (after the media profile opened it). It
// checks the codec header as far as the frame's layout goes (a VP8 key frame's start code)
// and the trailer's magic; the rest is padding and is not read.
func ParseFrame(k Kind, b []byte) (Frame, error) {
	if k != Video && k != Audio {
		return Frame{}, fmt.Errorf("parse frame: unknown kind %q", k)
	}
	hdr := HeaderLen(k, b)
	if hdr == 0 || len(b) < hdr+TrailerLen {
		return Frame{}, fmt.Errorf("parse %s frame of %d bytes: %w", k, len(b), ErrShortFrame)
	}
	f := Frame{Kind: k, Size: len(b)}
	if k == Video {
		f.Key = b[0]&1 == 0
		if f.Key && (b[3] != 0x9d || b[4] != 0x01 || b[5] != 0x2a) {
			return Frame{}, fmt.Errorf("parse video key frame: %w: no start code", ErrBadHeader)
		}
	}
	t := b[hdr:]
	if [4]byte(t[:4]) != Magic {
		return Frame{}, fmt.Errorf("parse %s frame: %w", k, ErrNotSynthetic)
	}
	f.Seq = binary.BigEndian.Uint64(t[4:])
	f.Sent = time.Unix(0, int64(binary.BigEndian.Uint64(t[12:])))
	return f, nil
}
