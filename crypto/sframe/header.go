package sframe

import (
	"encoding/binary"
	"fmt"
	"math/bits"
)

// MaxHeaderLen is the longest SFrame header: a config byte and 8-byte KID and CTR fields.
const MaxHeaderLen = 1 + 8 + 8

// Header is an SFrame header (RFC 9605 section 4.3): the key ID and the counter of one frame.
type Header struct {
	KID uint64 // key ID: selects the base key (section 4.4.1)
	CTR uint64 // counter: unique per key, XORed into the salt to form the nonce (section 4.4.3)
}

// Config byte layout (RFC 9605 section 4.3, figure 3): |X|  K  |Y|  C  |.
const (
	flagX = 0x80 // K holds the KID length minus one, not the KID
	flagY = 0x08 // C holds the CTR length minus one, not the CTR
)

// fieldLen is how many bytes follow the config byte for v: none when v fits in the 3 bits of
// K or C, else the minimum number of big-endian bytes, as section 4.3 requires.
func fieldLen(v uint64) int {
	if v < 8 {
		return 0
	}
	return (bits.Len64(v) + 7) / 8
}

// Len returns the length of h's encoding, 1 to MaxHeaderLen bytes.
func (h Header) Len() int { return 1 + fieldLen(h.KID) + fieldLen(h.CTR) }

// Append appends h's minimal encoding (RFC 9605 section 4.3) to b and returns the result.
func (h Header) Append(b []byte) []byte {
	var buf [MaxHeaderLen]byte
	return append(b, buf[:h.put(&buf)]...)
}

// put writes h's encoding at the start of buf and returns its length.
func (h Header) put(buf *[MaxHeaderLen]byte) int {
	kl, cl := fieldLen(h.KID), fieldLen(h.CTR)
	var cfg byte
	if kl == 0 {
		cfg = byte(h.KID) << 4
	} else {
		cfg = flagX | byte(kl-1)<<4
	}
	if cl == 0 {
		cfg |= byte(h.CTR)
	} else {
		cfg |= flagY | byte(cl-1)
	}
	buf[0] = cfg
	// Each value is shifted up so that its kl (cl) significant bytes come first; a shift by
	// 64 yields 0. The CTR write overwrites the unused tail of the KID write.
	binary.BigEndian.PutUint64(buf[1:], h.KID<<(64-8*kl))
	binary.BigEndian.PutUint64(buf[1+kl:], h.CTR<<(64-8*cl))
	return 1 + kl + cl
}

// String formats h for logs and test failures.
func (h Header) String() string { return fmt.Sprintf("KID=%d CTR=%d", h.KID, h.CTR) }

// ParseHeader parses the SFrame header at the start of b and returns it with its length in
// bytes. b is untrusted: a truncated or non-minimal header is an error matching ErrMalformed,
// never a panic. The rest of b (the ciphertext) is not examined.
func ParseHeader(b []byte) (Header, int, error) {
	if len(b) == 0 {
		return Header{}, 0, errEmptyHeader
	}
	cfg := b[0]
	if cfg&(flagX|flagY) == 0 { // KID and CTR both below 8: the common one-byte header
		return Header{KID: uint64(cfg >> 4), CTR: uint64(cfg & 7)}, 1, nil
	}
	n := 1
	kid, n, ok := parseField(b, n, cfg>>4)
	if !ok {
		if n < 0 {
			return Header{}, 0, errNonMinimalKID
		}
		return Header{}, 0, errTruncatedKID
	}
	ctr, n, ok := parseField(b, n, cfg&0x0f)
	if !ok {
		if n < 0 {
			return Header{}, 0, errNonMinimalCTR
		}
		return Header{}, 0, errTruncatedCTR
	}
	return Header{KID: kid, CTR: ctr}, n, nil
}

// parseField decodes the value described by nibble (the X|K or Y|C half of the config byte)
// from b[off:]. On failure ok is false and next is negative for a non-minimal encoding.
func parseField(b []byte, off int, nibble byte) (v uint64, next int, ok bool) {
	if nibble&flagY == 0 { // the flag is bit 3 of either nibble
		return uint64(nibble & 7), off, true
	}
	n := int(nibble&7) + 1
	if len(b)-off < n {
		return 0, off, false
	}
	for _, c := range b[off : off+n] {
		v = v<<8 | uint64(c)
	}
	// Section 4.3: values below 8 go in the config byte, others in the fewest bytes.
	if fieldLen(v) != n {
		return 0, -1, false
	}
	return v, off + n, true
}
