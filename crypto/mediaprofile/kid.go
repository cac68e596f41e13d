package mediaprofile

import (
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"hash"

	"github.com/geofence/geofence/crypto/sframe"
)

// The KID layout (docs/media-profile.md, "KIDs"): from the most significant bit,
//
//	epoch (8 bits) | session (48 bits) | ratchet step (8 bits)
//
// The first 56 bits are the RFC 9605 section 5.1 key generation, the last 8 its ratchet step.
const (
	// RatchetBits is R of RFC 9605 section 5.1: the KID's low 8 bits are the ratchet step.
	RatchetBits = 8
	// SessionBits is the size of the random sending-session identifier in the KID.
	SessionBits = 48
	// EpochBits is how many low bits of the epoch the KID carries.
	EpochBits = 8

	sessionShift = RatchetBits
	epochShift   = RatchetBits + SessionBits
	sessionMask  = 1<<SessionBits - 1
	stepMask     = 1<<RatchetBits - 1
	// maxStep is the last ratchet step of a session: the step never wraps, so that a receiver
	// can always reach a step from step 0. A sender past it starts a new session.
	maxStep = stepMask
)

// KID is a media profile KID.
type KID uint64

// MakeKID returns the KID of session at ratchet step in epoch. session is truncated to its
// 48 bits and step to its 8.
func MakeKID(epoch, session uint64, step uint8) KID {
	return KID((epoch&(1<<EpochBits-1))<<epochShift | (session&sessionMask)<<sessionShift | uint64(step))
}

// EpochBits returns the low 8 bits of the epoch the KID belongs to.
func (k KID) EpochBits() uint8 { return uint8(k >> epochShift) }

// Session returns the KID's 48-bit sending session.
func (k KID) Session() uint64 { return uint64(k>>sessionShift) & sessionMask }

// Step returns the KID's ratchet step.
func (k KID) Step() uint8 { return uint8(k & stepMask) }

// Generation returns the KID with its ratchet step cleared: the same for every step of a
// sending session.
func (k KID) Generation() KID { return k &^ stepMask }

// String returns "epoch-bits/session/step" in hex, for logs.
func (k KID) String() string {
	return fmt.Sprintf("%02x/%012x/%d", k.EpochBits(), k.Session(), k.Step())
}

// HKDF labels of the profile (docs/media-profile.md, "Key derivation").
const (
	extractSalt = "Geofence media 1.0"
	senderLabel = "Geofence media 1.0 sender "
)

func suiteHash(s sframe.Suite) (func() hash.Hash, int, error) {
	switch s {
	case sframe.AES_256_GCM_SHA512_128:
		return sha512.New, sha512.Size, nil
	case sframe.AES_128_GCM_SHA256_128, sframe.AES_128_CTR_HMAC_SHA256_80,
		sframe.AES_128_CTR_HMAC_SHA256_64, sframe.AES_128_CTR_HMAC_SHA256_32:
		return sha256.New, sha256.Size, nil
	}
	return nil, 0, fmt.Errorf("mediaprofile: suite %d: %w", uint16(s), sframe.ErrUnsupportedSuite)
}

// SenderBaseKey returns the SFrame base key of step 0 of the sending session that kid names,
// in epoch, under suite:
//
//	prk  = HKDF-Extract(salt = "Geofence media 1.0", IKM = epoch key)
//	info = "Geofence media 1.0 sender " || suite (2 bytes) || epoch (8 bytes) || generation (8 bytes)
//	base = HKDF-Expand(prk, info, Nh)
//
// with the suite's hash, integers big-endian and generation the KID with its step bits zero.
// Later steps follow by the RFC 9605 section 5.1 ratchet. The result is secret.
func SenderBaseKey(suite sframe.Suite, epoch uint64, epochKey []byte, kid KID) ([]byte, error) {
	h, nh, err := suiteHash(suite)
	if err != nil {
		return nil, err
	}
	if len(epochKey) < 16 {
		return nil, fmt.Errorf("mediaprofile: sender key: epoch key is %d bytes, want at least 16", len(epochKey))
	}
	prk, err := hkdf.Extract(h, epochKey, []byte(extractSalt))
	if err != nil {
		return nil, fmt.Errorf("mediaprofile: sender key: %w", err)
	}
	defer clear(prk)
	info := make([]byte, 0, len(senderLabel)+18)
	info = append(info, senderLabel...)
	info = binary.BigEndian.AppendUint16(info, uint16(suite))
	info = binary.BigEndian.AppendUint64(info, epoch)
	info = binary.BigEndian.AppendUint64(info, uint64(kid.Generation()))
	base, err := hkdf.Expand(h, prk, string(info), nh)
	if err != nil {
		return nil, fmt.Errorf("mediaprofile: sender key: %w", err)
	}
	return base, nil
}
