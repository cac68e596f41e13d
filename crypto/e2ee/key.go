package e2ee

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/geofence/geofence/crypto/keywrap"
)

// KeySize is the size of a meeting key in bytes: 256 bits (I5).
const KeySize = keywrap.KeySize

// ErrPlaintextKey is returned by the marshalling methods of EpochKey, which refuse to serialize
// a plaintext key (I5: keys are never stored or sent in plaintext).
var ErrPlaintextKey = errors.New("refusing to serialize a plaintext meeting key; wrap it with keywrap")

// NewMeetingKey returns a new 256-bit meeting key from crypto/rand (I5).
func NewMeetingKey() []byte {
	k := make([]byte, KeySize)
	// crypto/rand.Read never returns an error (Go 1.24 and later): if the system source
	// fails it crashes the program rather than return a weak key.
	_, _ = rand.Read(k)
	return k
}

// EpochKey is a meeting key together with its epoch number. It is immutable.
//
// Its key bytes never appear in fmt output, slog records or JSON: String, GoString, Format and
// LogValue print a redacted form, and MarshalJSON and MarshalText fail with ErrPlaintextKey.
// The bytes are held behind a pointer so that fmt, which ignores the methods of a value it
// reaches through an unexported struct field, prints an address there rather than the key.
// The zero value holds no key.
type EpochKey struct {
	epoch uint64
	key   *[KeySize]byte
}

// NewEpochKey returns the EpochKey for key (which must be KeySize bytes; it is copied) at epoch.
func NewEpochKey(epoch uint64, key []byte) (EpochKey, error) {
	if len(key) != KeySize {
		return EpochKey{}, fmt.Errorf("e2ee: new epoch key: %w, got %d", keywrap.ErrKeySize, len(key))
	}
	k := new([KeySize]byte)
	copy(k[:], key)
	return EpochKey{epoch: epoch, key: k}, nil
}

// newEpochKey returns a fresh random key at epoch.
func newEpochKey(epoch uint64) EpochKey {
	k, err := NewEpochKey(epoch, NewMeetingKey())
	if err != nil {
		panic(err) // NewMeetingKey returns KeySize bytes
	}
	return k
}

// Epoch returns the key's epoch.
func (k EpochKey) Epoch() uint64 { return k.epoch }

// IsZero reports whether k holds no key.
func (k EpochKey) IsZero() bool { return k.key == nil }

// Bytes returns a copy of the key, or nil for the zero EpochKey. It is for the SFrame layer;
// the result is secret.
func (k EpochKey) Bytes() []byte {
	if k.key == nil {
		return nil
	}
	return append([]byte(nil), k.key[:]...)
}

// Equal reports, in constant time in the key bytes, whether k and other hold the same epoch
// and key.
func (k EpochKey) Equal(other EpochKey) bool {
	if k.key == nil || other.key == nil {
		return k.key == nil && other.key == nil
	}
	return k.epoch == other.epoch && subtle.ConstantTimeCompare(k.key[:], other.key[:]) == 1
}

// String returns a redacted form, "e2ee.EpochKey(epoch 3, key redacted)".
func (k EpochKey) String() string {
	if k.key == nil {
		return "e2ee.EpochKey(none)"
	}
	return "e2ee.EpochKey(epoch " + strconv.FormatUint(k.epoch, 10) + ", key redacted)"
}

// GoString is String, for %#v.
func (k EpochKey) GoString() string { return k.String() }

// Format implements fmt.Formatter: every verb, %x and %+v included, prints String.
func (k EpochKey) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

// LogValue implements slog.LogValuer: the epoch, and the key redacted.
func (k EpochKey) LogValue() slog.Value {
	return slog.GroupValue(slog.Uint64("epoch", k.epoch), slog.String("key", "redacted"))
}

// MarshalJSON fails with ErrPlaintextKey. Failing, rather than writing a redacted value, makes
// an attempt to send a plaintext key a loud bug instead of a silent loss of the key.
func (k EpochKey) MarshalJSON() ([]byte, error) {
	return nil, fmt.Errorf("e2ee: marshal epoch key: %w", ErrPlaintextKey)
}

// MarshalText fails with ErrPlaintextKey, for encoders that use encoding.TextMarshaler.
func (k EpochKey) MarshalText() ([]byte, error) {
	return nil, fmt.Errorf("e2ee: marshal epoch key: %w", ErrPlaintextKey)
}
