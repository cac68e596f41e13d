package mediaprofile

import (
	"fmt"
	"strings"
)

// Codec names the rule that decides a frame's clear prefix.
type Codec uint8

// The codecs of the profile. The zero value is CodecNone.
const (
	// CodecNone encrypts the whole frame: for data and codecs without a profile rule.
	CodecNone Codec = iota
	// CodecVP8 keeps the VP8 payload header in clear: the 10 bytes of a key frame (frame
	// tag, start code, dimensions) or the 3-byte frame tag of a delta frame (RFC 6386 section
	// 9.1).
	CodecVP8
	// CodecOpus keeps the TOC byte in clear (RFC 6716 section 3.1).
	CodecOpus
)

// Prefix lengths of RFC 6386 section 9.1 and RFC 6716 section 3.1.
const (
	vp8KeyPrefix   = 10
	vp8DeltaPrefix = 3
	opusPrefix     = 1
)

// String returns the codec's name in the profile: "none", "vp8" or "opus".
func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecVP8:
		return "vp8"
	case CodecOpus:
		return "opus"
	}
	return fmt.Sprintf("Codec(%d)", uint8(c))
}

// ParseCodec returns the codec named s ("none", "vp8", "opus", in any case).
func ParseCodec(s string) (Codec, error) {
	switch strings.ToLower(s) {
	case "none":
		return CodecNone, nil
	case "vp8":
		return CodecVP8, nil
	case "opus":
		return CodecOpus, nil
	}
	return 0, fmt.Errorf("mediaprofile: unknown codec %q: want none, vp8 or opus", s)
}

// PrefixLen returns how many leading bytes of frame stay in clear under codec c, reading only
// what the rule needs (byte 0 of a VP8 frame). The same function splits a plaintext frame and a
// wire frame, since the prefix is the same bytes in both. It fails with ErrShortFrame when frame
// is shorter than its prefix, and for a codec it does not know.
func (c Codec) PrefixLen(frame []byte) (int, error) {
	var n int
	switch c {
	case CodecNone:
		return 0, nil
	case CodecVP8:
		if len(frame) == 0 {
			return 0, ErrShortFrame
		}
		// RFC 6386 section 9.1: bit 0 of the frame tag is 0 for a key frame.
		n = vp8DeltaPrefix
		if frame[0]&1 == 0 {
			n = vp8KeyPrefix
		}
	case CodecOpus:
		n = opusPrefix
	default:
		return 0, errUnknownCodec
	}
	if len(frame) < n {
		return 0, ErrShortFrame
	}
	return n, nil
}

// IsKeyFrame reports whether a VP8 frame, plaintext or on the wire, is a key frame: what the
// media server can see. It is false for other codecs and for an empty frame.
func IsKeyFrame(c Codec, frame []byte) bool {
	return c == CodecVP8 && len(frame) > 0 && frame[0]&1 == 0
}
