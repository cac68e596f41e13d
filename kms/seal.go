package kms

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/geofence/geofence/crypto/keywrap"
)

// KeySize is the size of a meeting key and of the key-encryption key: 256 bits (I5).
const KeySize = keywrap.KeySize

// ErrUnseal is what opening a sealed key fails with when the KEK, datacenter, meeting or
// epoch differ from those it was sealed with, or the sealed bytes were altered.
var ErrUnseal = errors.New("sealed key does not open with this key-encryption key and binding")

// sealLabel separates this use of the KEK from any other. Changing the AAD encoding means
// changing the version in it.
const sealLabel = "geofence kms sealed key v1"

// meetingKey is a plaintext meeting key, held only between its creation or unsealing and the
// moment it is sealed or wrapped; then destroy clears it.
//
// It never appears in fmt output, slog records or JSON: String, GoString, Format, LogValue,
// MarshalJSON and MarshalText give a redacted form. The bytes sit behind a pointer so that fmt,
// which ignores the methods of a value reached through an unexported struct field, prints an
// address there rather than the key.
type meetingKey struct {
	epoch uint64
	b     *[KeySize]byte
}

// newMeetingKey returns a fresh key from crypto/rand (I5).
func newMeetingKey(epoch uint64) meetingKey {
	k := meetingKey{epoch: epoch, b: new([KeySize]byte)}
	// crypto/rand.Read never fails (Go 1.24 and later): if the system source fails it
	// crashes the program rather than return a weak key.
	_, _ = rand.Read(k.b[:])
	return k
}

func (k meetingKey) bytes() []byte { return k.b[:] }

// destroy overwrites the key. Go may have copied it (the GC moves nothing, but HPKE and AES
// keep their own schedules briefly); this is hygiene, not a guarantee.
func (k meetingKey) destroy() {
	if k.b != nil {
		clear(k.b[:])
	}
}

func (k meetingKey) String() string {
	if k.b == nil {
		return "kms.meetingKey(none)"
	}
	return "kms.meetingKey(epoch " + strconv.FormatUint(k.epoch, 10) + ", redacted)"
}

func (k meetingKey) GoString() string { return k.String() }

// Format implements fmt.Formatter: every verb, %x and %+v included, prints String.
func (k meetingKey) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

func (k meetingKey) LogValue() slog.Value {
	return slog.GroupValue(slog.Uint64("epoch", k.epoch), slog.String("key", "redacted"))
}

// MarshalJSON writes a redacted placeholder, never the key.
func (k meetingKey) MarshalJSON() ([]byte, error) { return []byte(`"redacted"`), nil }

// MarshalText writes a redacted placeholder, never the key.
func (k meetingKey) MarshalText() ([]byte, error) { return []byte("redacted"), nil }

// sealer seals meeting keys at rest under the KEK with AES-256-GCM and a random 96-bit nonce
// (NIST SP 800-38D section 8.2.2), binding each to (datacenter, meeting, epoch) through the
// additional data, so a sealed key copied to another meeting's or epoch's slot does not open.
// A key server seals one key per (meeting, epoch), far below the 2^32 messages a random-nonce
// GCM key may encrypt.
type sealer struct {
	dc   string
	aead cipher.AEAD
}

func newSealer(kek []byte, dc string) (*sealer, error) {
	if err := checkKEK(kek); err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	return &sealer{dc: dc, aead: aead}, nil
}

// checkKEK rejects a KEK of the wrong size, and the all-zero key a forgotten variable gives.
func checkKEK(kek []byte) error {
	if len(kek) != KeySize {
		return fmt.Errorf("key-encryption key is %d bytes, want %d", len(kek), KeySize)
	}
	var zero byte
	for _, b := range kek {
		zero |= b
	}
	if zero == 0 {
		return errors.New("key-encryption key is all zero bytes; generate one with crypto-grade randomness")
	}
	return nil
}

// seal returns nonce || ciphertext || tag of k.
func (s *sealer) seal(k meetingKey, meeting string) []byte {
	return s.aead.Seal(nil, nil, k.bytes(), s.aad(meeting, k.epoch))
}

// open unseals what seal returned for (meeting, epoch).
func (s *sealer) open(sealed []byte, meeting string, epoch uint64) (meetingKey, error) {
	k := meetingKey{epoch: epoch, b: new([KeySize]byte)}
	if len(sealed) != KeySize+s.aead.Overhead() {
		return meetingKey{}, ErrUnseal
	}
	out, err := s.aead.Open(k.b[:0], nil, sealed, s.aad(meeting, epoch))
	if err != nil || len(out) != KeySize {
		k.destroy()
		return meetingKey{}, ErrUnseal
	}
	return k, nil
}

// aad encodes
//
//	len(label) || label || len(dc) || dc || len(meeting) || meeting || epoch
//
// with 32-bit big-endian lengths and a 64-bit big-endian epoch, so that no two bindings give
// the same bytes.
func (s *sealer) aad(meeting string, epoch uint64) []byte {
	b := make([]byte, 0, 4+len(sealLabel)+4+len(s.dc)+4+len(meeting)+8)
	for _, f := range []string{sealLabel, s.dc, meeting} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return binary.BigEndian.AppendUint64(b, epoch)
}
