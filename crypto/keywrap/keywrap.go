package keywrap

import (
	"crypto/ecdh"
	"crypto/hpke"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// KeySize is the size in bytes of the meeting keys this package wraps (I5: 256-bit keys).
const KeySize = 32

// Errors callers branch on. Every error this package returns names the operation and wraps at
// most one of these.
var (
	// ErrUnknownSuite means a Suite value or a suite name that this package does not know.
	ErrUnknownSuite = errors.New("unknown suite")
	// ErrMalformed means an encoded key or wrapped key that does not parse.
	ErrMalformed = errors.New("malformed encoding")
	// ErrNoKey means a zero PublicKey or PrivateKey, or a zero Wrapped, was passed in.
	ErrNoKey = errors.New("no key")
	// ErrKeySize means a meeting key that is not KeySize bytes long.
	ErrKeySize = errors.New("meeting key must be 32 bytes")
	// ErrBinding means a Binding with an empty or too long meeting or participant.
	ErrBinding = errors.New("invalid binding")
	// ErrSuiteMismatch means a wrapped key made for another suite than the private key's.
	ErrSuiteMismatch = errors.New("suite mismatch")
	// ErrUnwrap means a wrapped key that does not open: it was wrapped to another public key or
	// for another binding, or it was altered on the way.
	ErrUnwrap = errors.New("wrapped key does not open with this private key and binding")
)

// Suite names an HPKE ciphersuite. The zero value is X25519, the default.
type Suite uint8

const (
	// X25519 is DHKEM(X25519, HKDF-SHA256) with HKDF-SHA256 and AES-256-GCM (RFC 9180 section
	// 7, KEM 0x0020, KDF 0x0001, AEAD 0x0002). It is the default.
	X25519 Suite = iota
	// MLKEM768X25519 is the ML-KEM-768 + X25519 hybrid KEM (X-Wing, KEM 0x647a in
	// draft-ietf-hpke-pq) with HKDF-SHA256 and AES-256-GCM.
	MLKEM768X25519
)

// suiteParams describes a suite. The sizes are those of the KEM's serialized keys and
// encapsulation; they let the parsers check lengths before decoding anything.
type suiteParams struct {
	name    string
	kem     func() hpke.KEM
	pubLen  int
	privLen int
	encLen  int
}

var suites = [...]suiteParams{
	X25519: {
		name:    "x25519",
		kem:     func() hpke.KEM { return hpke.DHKEM(ecdh.X25519()) },
		pubLen:  32,
		privLen: 32,
		encLen:  32,
	},
	MLKEM768X25519: {
		name:    "mlkem768x25519",
		kem:     hpke.MLKEM768X25519,
		pubLen:  1184 + 32, // ML-KEM-768 encapsulation key || X25519 public key
		privLen: 32,        // the X-Wing seed
		encLen:  1088 + 32, // ML-KEM-768 ciphertext || X25519 ephemeral public key
	},
}

// Both suites use the same KDF and AEAD. The HPKE key schedule mixes the KEM, KDF and AEAD
// identifiers into every key (RFC 9180 section 5.1, suite_id), so a wrap made under one suite
// cannot be opened under another even before the explicit suite check in Unwrap.
func kdf() hpke.KDF   { return hpke.HKDFSHA256() }
func aead() hpke.AEAD { return hpke.AES256GCM() }

// aeadOverhead is the AES-GCM tag size: a wrapped key's ciphertext is KeySize+aeadOverhead bytes.
const aeadOverhead = 16

func (s Suite) params() (*suiteParams, bool) {
	if int(s) >= len(suites) {
		return nil, false
	}
	return &suites[s], true
}

// wrappedLen is the size of enc || ciphertext for a wrapped meeting key.
func (p *suiteParams) wrappedLen() int { return p.encLen + KeySize + aeadOverhead }

// String returns the suite's name as used in the text encodings: "x25519" or "mlkem768x25519".
func (s Suite) String() string {
	if p, ok := s.params(); ok {
		return p.name
	}
	return fmt.Sprintf("keywrap.Suite(%d)", uint8(s))
}

// ParseSuite returns the suite named name ("x25519" or "mlkem768x25519", exactly).
func ParseSuite(name string) (Suite, error) {
	for i := range suites {
		if suites[i].name == name {
			return Suite(i), nil
		}
	}
	return 0, fmt.Errorf("keywrap: parse suite: %w %q (want %s)", ErrUnknownSuite, clip(name), suiteNames())
}

func suiteNames() string {
	names := make([]string, len(suites))
	for i := range suites {
		names[i] = fmt.Sprintf("%q", suites[i].name)
	}
	return strings.Join(names, " or ")
}

// PublicKey is a participant's HPKE public key together with its suite. The zero value holds no
// key; every function given one returns ErrNoKey.
type PublicKey struct {
	suite Suite
	pk    hpke.PublicKey
}

// PrivateKey is a participant's HPKE private key together with its suite. It never prints its
// key material (see String) and refuses to be marshalled implicitly; Encode serializes it for
// clients that persist it. The zero value holds no key.
type PrivateKey struct {
	suite Suite
	sk    hpke.PrivateKey
}

// GenerateKey returns a new key pair for suite, from crypto/rand.
func GenerateKey(suite Suite) (PrivateKey, error) {
	p, ok := suite.params()
	if !ok {
		return PrivateKey{}, fmt.Errorf("keywrap: generate key: %w %d", ErrUnknownSuite, uint8(suite))
	}
	sk, err := p.kem().GenerateKey()
	if err != nil {
		return PrivateKey{}, fmt.Errorf("keywrap: generate %s key: %w", p.name, err)
	}
	return PrivateKey{suite: suite, sk: sk}, nil
}

// Suite returns the key's suite.
func (k PublicKey) Suite() Suite { return k.suite }

// IsZero reports whether k holds no key.
func (k PublicKey) IsZero() bool { return k.pk == nil }

// Bytes returns the raw public key (SerializePublicKey of RFC 9180 section 4), or nil for the
// zero PublicKey.
func (k PublicKey) Bytes() []byte {
	if k.pk == nil {
		return nil
	}
	return k.pk.Bytes()
}

// Equal reports whether k and other are the same key of the same suite.
func (k PublicKey) Equal(other PublicKey) bool {
	if k.pk == nil || other.pk == nil {
		return k.pk == nil && other.pk == nil
	}
	return k.suite == other.suite && string(k.pk.Bytes()) == string(other.pk.Bytes())
}

// String returns the portable encoding "<suite>:<base64url, no padding>", which ParsePublicKey
// reads back, or "" for the zero PublicKey.
func (k PublicKey) String() string {
	if k.pk == nil {
		return ""
	}
	return encode(k.suite, kindPublic, k.pk.Bytes())
}

// MarshalText implements encoding.TextMarshaler with the String form, so a PublicKey is a JSON
// string. It fails for the zero PublicKey.
func (k PublicKey) MarshalText() ([]byte, error) {
	if k.pk == nil {
		return nil, fmt.Errorf("keywrap: marshal public key: %w", ErrNoKey)
	}
	return []byte(k.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParsePublicKey.
func (k *PublicKey) UnmarshalText(text []byte) error {
	p, err := ParsePublicKey(string(text))
	if err != nil {
		return err
	}
	*k = p
	return nil
}

// ParsePublicKey parses the String form of a public key. It is strict, for untrusted input: the
// suite name must match exactly, the base64url must be unpadded, canonical and of the suite's
// exact key length, and an X25519 key must not be a low-order point.
func ParsePublicKey(s string) (PublicKey, error) {
	const op = "keywrap: parse public key"
	suite, raw, err := decode(op, s, kindPublic)
	if err != nil {
		return PublicKey{}, err
	}
	pk, err := suites[suite].kem().NewPublicKey(raw)
	if err != nil {
		return PublicKey{}, fmt.Errorf("%s: %w: not a valid %s key", op, ErrMalformed, suite)
	}
	if suite == X25519 && lowOrder(raw) {
		return PublicKey{}, fmt.Errorf("%s: %w: x25519 key is a low-order point", op, ErrMalformed)
	}
	return PublicKey{suite: suite, pk: pk}, nil
}

// lowOrderProbe is any X25519 scalar: a low-order point times any clamped scalar is the
// identity, so ECDH with it fails for exactly the low-order points.
var lowOrderProbe = func() *ecdh.PrivateKey {
	k, err := ecdh.X25519().NewPrivateKey([]byte("geofence keywrap low-order probe"))
	if err != nil {
		panic(err) // 32 bytes: cannot fail
	}
	return k
}()

// lowOrder reports whether raw is an X25519 public key whose shared secret with any private key
// is all zero. RFC 9180 section 7.1.4 has the DHKEM refuse it at encapsulation; refusing it here
// as well tells the participant at registration rather than at the first wrap.
func lowOrder(raw []byte) bool {
	pub, err := ecdh.X25519().NewPublicKey(raw)
	if err != nil {
		return true
	}
	_, err = lowOrderProbe.ECDH(pub)
	return err != nil
}

// Suite returns the key's suite.
func (k PrivateKey) Suite() Suite { return k.suite }

// IsZero reports whether k holds no key.
func (k PrivateKey) IsZero() bool { return k.sk == nil }

// PublicKey returns the public key of k, or the zero PublicKey when k is zero.
func (k PrivateKey) PublicKey() PublicKey {
	if k.sk == nil {
		return PublicKey{}
	}
	return PublicKey{suite: k.suite, pk: k.sk.PublicKey()}
}

// Encode returns the private key as "<suite>-private:<base64url, no padding>", for a client
// that persists its key; ParsePrivateKey reads it back. The result is secret.
func (k PrivateKey) Encode() (string, error) {
	if k.sk == nil {
		return "", fmt.Errorf("keywrap: encode private key: %w", ErrNoKey)
	}
	raw, err := k.sk.Bytes()
	if err != nil {
		return "", fmt.Errorf("keywrap: encode private key: %w", err)
	}
	return encode(k.suite, kindPrivate, raw), nil
}

// ParsePrivateKey parses the form Encode returns, with the same strictness as ParsePublicKey.
//
// Any 32 bytes are a valid X25519 private key, but Encode returns the clamped scalar that RFC
// 9180 section 7.1.2 makes SerializePrivateKey output, so Encode of a parsed X25519 key can
// differ from the input while being the same key. Keys from GenerateKey always encode clamped.
func ParsePrivateKey(s string) (PrivateKey, error) {
	const op = "keywrap: parse private key"
	suite, raw, err := decode(op, s, kindPrivate)
	if err != nil {
		return PrivateKey{}, err
	}
	sk, err := suites[suite].kem().NewPrivateKey(raw)
	if err != nil {
		return PrivateKey{}, fmt.Errorf("%s: %w: not a valid %s key", op, ErrMalformed, suite)
	}
	return PrivateKey{suite: suite, sk: sk}, nil
}

// String returns a redacted description; the key material never appears in logs.
func (k PrivateKey) String() string {
	if k.sk == nil {
		return "keywrap.PrivateKey(none)"
	}
	return "keywrap.PrivateKey(" + k.suite.String() + ", redacted)"
}

// GoString is String, for %#v.
func (k PrivateKey) GoString() string { return k.String() }

// Format implements fmt.Formatter so that every verb, %x and %+v included, prints String.
func (k PrivateKey) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

// LogValue implements slog.LogValuer with the redacted form.
func (k PrivateKey) LogValue() slog.Value { return slog.StringValue(k.String()) }

// MarshalJSON refuses: a private key goes to storage only through an explicit Encode.
func (k PrivateKey) MarshalJSON() ([]byte, error) {
	return nil, errors.New("keywrap: marshal private key: refusing to serialize a private key implicitly; use Encode")
}

// The three kinds of encoded value differ in the suffix of the suite name, so that a private
// key pasted where a public key is expected is refused rather than used.
type kind int

const (
	kindPublic kind = iota
	kindPrivate
	kindWrapped
)

var kinds = [...]struct{ suffix, noun string }{
	kindPublic:  {"", "public key"},
	kindPrivate: {"-private", "private key"},
	kindWrapped: {"-wrapped", "wrapped key"},
}

func (p *suiteParams) size(k kind) int {
	switch k {
	case kindPublic:
		return p.pubLen
	case kindPrivate:
		return p.privLen
	default:
		return p.wrappedLen()
	}
}

var b64 = base64.RawURLEncoding.Strict()

func encode(s Suite, k kind, raw []byte) string {
	prefix := suites[s].name + kinds[k].suffix + ":"
	out := make([]byte, len(prefix)+b64.EncodedLen(len(raw)))
	copy(out, prefix)
	b64.Encode(out[len(prefix):], raw)
	return string(out)
}

// decode splits "<suite><suffix>:<base64url>" and returns the suite and the decoded bytes, of
// exactly the suite's size for kind k. Lengths are checked before decoding, so no input makes it
// allocate more than the largest key.
func decode(op, s string, k kind) (Suite, []byte, error) {
	prefix, data, ok := strings.Cut(s, ":")
	if !ok {
		return 0, nil, fmt.Errorf("%s: %w: want \"<suite>%s:<base64url>\"", op, ErrMalformed, kinds[k].suffix)
	}
	suite, err := suiteFor(op, prefix, k)
	if err != nil {
		return 0, nil, err
	}
	p := &suites[suite]
	size := p.size(k)
	if n, want := len(data), b64.EncodedLen(size); n != want {
		return 0, nil, fmt.Errorf("%s: %w: %s %s is %d base64url characters, want %d",
			op, ErrMalformed, p.name, kinds[k].noun, n, want)
	}
	raw := make([]byte, size)
	// The decoder skips '\r' and '\n'; with the length fixed above, any skipped byte shows up
	// as a short result.
	n, err := b64.Decode(raw, []byte(data))
	if err != nil || n != size {
		return 0, nil, fmt.Errorf("%s: %w: not canonical unpadded base64url", op, ErrMalformed)
	}
	return suite, raw, nil
}

func suiteFor(op, prefix string, k kind) (Suite, error) {
	for i := range suites {
		if prefix == suites[i].name+kinds[k].suffix {
			return Suite(i), nil
		}
	}
	for j := range kinds {
		for i := range suites {
			if prefix == suites[i].name+kinds[j].suffix {
				return 0, fmt.Errorf("%s: %w: got a %s, want a %s", op, ErrMalformed, kinds[j].noun, kinds[k].noun)
			}
		}
	}
	want := make([]string, len(suites))
	for i := range suites {
		want[i] = fmt.Sprintf("%q", suites[i].name+kinds[k].suffix)
	}
	return 0, fmt.Errorf("%s: %w %q (want %s)", op, ErrUnknownSuite, clip(prefix), strings.Join(want, " or "))
}

// clip shortens untrusted text quoted in an error message.
func clip(s string) string {
	const limit = 32
	if len(s) > limit {
		return s[:limit] + "..."
	}
	return s
}
