package e2ee

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/geofence/geofence/crypto/keywrap"
)

// The meeting security code is CodeGroups groups of CodeGroupDigits decimal digits, like
// Signal's safety numbers: 30 digits, log2(10^30) ≈ 99.7 bits. Users compare it aloud or on
// screen, so digits in groups of five are easy to read out and hard to misread.
//
// What the bits buy: an attacker in the middle (a malicious relay posing as the leader to some
// participants) must make two different (key, roster) views produce one code. The honest
// leader's key is random and unknown to it when it chooses its own public keys, so matching an
// honest view's code is a second-preimage search: about 2^99.7 tries when all six groups are
// compared, but only 2^(16.6 k) when k groups are, so users must compare the whole code. The code is an
// HKDF output under a label of its own, so showing it reveals nothing about the meeting key.
const (
	CodeGroups      = 6
	CodeGroupDigits = 5
)

// codeLabel separates the security code from every other use of the meeting key (SFrame
// derives its keys under its own labels). Changing the derivation means changing the version.
const codeLabel = "geofence meeting security code v1"

// Each group is a 40-bit big-endian integer mod 10^5, as in Signal's safety numbers; the
// modulo bias is below 10^5/2^40 ≈ 1e-7.
const (
	bytesPerGroup = 5
	groupModulus  = 100000 // 10^CodeGroupDigits
)

// ErrInvalidRoster means a roster that is empty, holds a zero public key, or holds the same
// public key twice.
var ErrInvalidRoster = errors.New("invalid roster")

// SecurityCode returns the meeting security code for k and the public keys of every participant
// of the meeting, the leader included, in any order. Everyone who holds the same epoch key and
// sees the same set of public keys gets the same code; any other epoch, key or set gives another.
//
// The derivation, which every client (the browser's included) must follow exactly:
//
//	keys        = the String forms ("<suite>:<base64url>") of the public keys, sorted bytewise
//	roster_hash = SHA-256(concat over keys of uint16be(len(key)) || key)
//	info        = codeLabel || uint64be(epoch) || roster_hash
//	okm         = HKDF-SHA256(secret = key, salt = none, info, 30 bytes)
//	group i     = uint40be(okm[5i:5i+5]) mod 100000, as five digits, i = 0..5
//
// joined by single spaces. Sorting makes the code independent of the order in which a client
// learned the roster.
func SecurityCode(k EpochKey, roster []keywrap.PublicKey) (string, error) {
	const op = "e2ee: security code"
	if k.IsZero() {
		return "", fmt.Errorf("%s: %w", op, ErrNoKey)
	}
	if len(roster) == 0 {
		return "", fmt.Errorf("%s: %w: no participants", op, ErrInvalidRoster)
	}
	keys := make([]string, len(roster))
	for i, pub := range roster {
		if pub.IsZero() {
			return "", fmt.Errorf("%s: %w: zero public key", op, ErrInvalidRoster)
		}
		keys[i] = pub.String()
	}
	slices.Sort(keys)
	h := sha256.New()
	var n [2]byte
	for i, key := range keys {
		if i > 0 && key == keys[i-1] {
			// Two participants cannot share a key; a roster saying so is not one to vouch for.
			return "", fmt.Errorf("%s: %w: public key %.20s... listed twice", op, ErrInvalidRoster, key)
		}
		binary.BigEndian.PutUint16(n[:], uint16(len(key)))
		h.Write(n[:])
		h.Write([]byte(key))
	}
	info := make([]byte, 0, len(codeLabel)+8+sha256.Size)
	info = append(info, codeLabel...)
	info = binary.BigEndian.AppendUint64(info, k.epoch)
	info = h.Sum(info)

	okm, err := hkdf.Key(sha256.New, k.key[:], nil, string(info), CodeGroups*bytesPerGroup)
	if err != nil {
		return "", fmt.Errorf("%s: %w", op, err)
	}
	var b strings.Builder
	for i := range CodeGroups {
		g := okm[i*bytesPerGroup : (i+1)*bytesPerGroup]
		v := uint64(g[0])<<32 | uint64(g[1])<<24 | uint64(g[2])<<16 | uint64(g[3])<<8 | uint64(g[4])
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%0*d", CodeGroupDigits, v%groupModulus)
	}
	return b.String(), nil
}
