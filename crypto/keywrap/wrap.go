package keywrap

import (
	"crypto/hpke"
	"encoding/binary"
	"fmt"
)

// MaxIDLen is the longest meeting or participant identifier a Binding accepts, in bytes.
const MaxIDLen = 1024

// infoLabel separates this use of HPKE from every other use of the same keys. Changing the
// encoding below means changing the version in it.
const infoLabel = "geofence meeting key v1"

// Binding names what a wrapped key is for. It is encoded into the HPKE info parameter, which
// the key schedule mixes into the AEAD key (RFC 9180 section 5.1), so a wrapped key opens only
// under the exact Binding it was made with.
type Binding struct {
	// Meeting is the meeting's identifier. It must not be empty.
	Meeting string
	// Epoch is the key epoch; any value is accepted.
	Epoch uint64
	// Participant is the recipient's identifier. It must not be empty.
	Participant string
}

// info encodes b as
//
//	len(label) || label || len(meeting) || meeting || epoch || len(participant) || participant
//
// with 16-bit big-endian lengths and a 64-bit big-endian epoch, so that no two bindings give
// the same bytes (a plain concatenation would let "ab"+"c" collide with "a"+"bc").
func (b Binding) info() ([]byte, error) {
	if err := checkID("meeting", b.Meeting); err != nil {
		return nil, err
	}
	if err := checkID("participant", b.Participant); err != nil {
		return nil, err
	}
	out := make([]byte, 0, 2+len(infoLabel)+2+len(b.Meeting)+8+2+len(b.Participant))
	out = appendString(out, infoLabel)
	out = appendString(out, b.Meeting)
	out = binary.BigEndian.AppendUint64(out, b.Epoch)
	out = appendString(out, b.Participant)
	return out, nil
}

func checkID(what, id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty %s", ErrBinding, what)
	case len(id) > MaxIDLen:
		return fmt.Errorf("%w: %s is %d bytes, want at most %d", ErrBinding, what, len(id), MaxIDLen)
	}
	return nil
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// Wrapped is a meeting key wrapped to one public key: the HPKE encapsulated key followed by the
// AEAD ciphertext (enc || ct, as hpke.Seal returns them), and its suite. The zero value holds
// nothing.
type Wrapped struct {
	suite Suite
	data  []byte
}

// Wrap encrypts the 32-byte meeting key to pub, bound to b.
func Wrap(pub PublicKey, key []byte, b Binding) (Wrapped, error) {
	const op = "keywrap: wrap"
	if pub.pk == nil {
		return Wrapped{}, fmt.Errorf("%s: %w", op, ErrNoKey)
	}
	if len(key) != KeySize {
		return Wrapped{}, fmt.Errorf("%s: %w, got %d", op, ErrKeySize, len(key))
	}
	info, err := b.info()
	if err != nil {
		return Wrapped{}, fmt.Errorf("%s: %w", op, err)
	}
	data, err := hpke.Seal(pub.pk, kdf(), aead(), info, key)
	if err != nil {
		return Wrapped{}, fmt.Errorf("%s to %s key: %w", op, pub.suite, err)
	}
	return Wrapped{suite: pub.suite, data: data}, nil
}

// Unwrap decrypts w with priv under binding b and returns the 32-byte meeting key. It fails with
// ErrSuiteMismatch when w was made for another suite, and with ErrUnwrap when w was wrapped to
// another key or binding or was altered.
func Unwrap(priv PrivateKey, w Wrapped, b Binding) ([]byte, error) {
	const op = "keywrap: unwrap"
	if priv.sk == nil {
		return nil, fmt.Errorf("%s: %w: zero private key", op, ErrNoKey)
	}
	if w.data == nil {
		return nil, fmt.Errorf("%s: %w: zero wrapped key", op, ErrNoKey)
	}
	if w.suite != priv.suite {
		return nil, fmt.Errorf("%s: %w: key wrapped for %s, private key is %s", op, ErrSuiteMismatch, w.suite, priv.suite)
	}
	if p, ok := w.suite.params(); !ok || len(w.data) != p.wrappedLen() {
		return nil, fmt.Errorf("%s: %w: wrong length", op, ErrMalformed)
	}
	info, err := b.info()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	key, err := hpke.Open(priv.sk, kdf(), aead(), info, w.data)
	if err != nil || len(key) != KeySize {
		// The cause (bad tag, bad encapsulation) is deliberately not passed on: it does not
		// help the caller and describes the attacker's input.
		return nil, fmt.Errorf("%s: %w", op, ErrUnwrap)
	}
	return key, nil
}

// Suite returns the suite w was made with.
func (w Wrapped) Suite() Suite { return w.suite }

// IsZero reports whether w holds nothing.
func (w Wrapped) IsZero() bool { return w.data == nil }

// Bytes returns a copy of enc || ciphertext.
func (w Wrapped) Bytes() []byte {
	if w.data == nil {
		return nil
	}
	return append([]byte(nil), w.data...)
}

// String returns the portable encoding "<suite>-wrapped:<base64url, no padding>", which
// ParseWrapped reads back, or "" for the zero Wrapped. A wrapped key is not secret.
func (w Wrapped) String() string {
	if w.data == nil {
		return ""
	}
	return encode(w.suite, kindWrapped, w.data)
}

// MarshalText implements encoding.TextMarshaler with the String form. It fails for the zero
// Wrapped.
func (w Wrapped) MarshalText() ([]byte, error) {
	if w.data == nil {
		return nil, fmt.Errorf("keywrap: marshal wrapped key: %w", ErrNoKey)
	}
	return []byte(w.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseWrapped.
func (w *Wrapped) UnmarshalText(text []byte) error {
	p, err := ParseWrapped(string(text))
	if err != nil {
		return err
	}
	*w = p
	return nil
}

// ParseWrapped parses the String form of a wrapped key. It is strict, for untrusted input: the
// suite must match exactly and the base64url must be unpadded, canonical and of the exact length
// of a wrapped 32-byte key in that suite. It does not check that the key opens; Unwrap does.
func ParseWrapped(s string) (Wrapped, error) {
	suite, data, err := decode("keywrap: parse wrapped key", s, kindWrapped)
	if err != nil {
		return Wrapped{}, err
	}
	return Wrapped{suite: suite, data: data}, nil
}
