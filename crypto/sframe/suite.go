package sframe

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"hash"
)

// Suite is an SFrame cipher suite, numbered as in the IANA registry of RFC 9605 section 8.1.
type Suite uint16

// The cipher suites of RFC 9605 section 4.5. The names are the RFC's, as crypto/tls names TLS
// suites.
const (
	AES_128_CTR_HMAC_SHA256_80 Suite = 0x0001
	AES_128_CTR_HMAC_SHA256_64 Suite = 0x0002
	AES_128_CTR_HMAC_SHA256_32 Suite = 0x0003
	AES_128_GCM_SHA256_128     Suite = 0x0004
	AES_256_GCM_SHA512_128     Suite = 0x0005
)

// DefaultSuite is the suite Geofence uses for media: AES-256-GCM, as invariant I5 requires.
const DefaultSuite = AES_256_GCM_SHA512_128

// allSuites lists every supported suite, in registry order.
var allSuites = []Suite{
	AES_128_CTR_HMAC_SHA256_80,
	AES_128_CTR_HMAC_SHA256_64,
	AES_128_CTR_HMAC_SHA256_32,
	AES_128_GCM_SHA256_128,
	AES_256_GCM_SHA512_128,
}

// nonceSize is AEAD.Nn, 12 bytes for every suite.
const nonceSize = 12

// minBaseKeyLen is the shortest base key accepted. RFC 9605 sets no minimum; 16 bytes catches
// empty or truncated keys (Geofence's meeting keys are 32 bytes, invariant I5).
const minBaseKeyLen = 16

// suiteParams are the constants of RFC 9605 section 4.5, table 1.
type suiteParams struct {
	name string
	hash func() hash.Hash
	nh   int // Hash.Nh
	nka  int // AEAD.Nka, the AES key size of the CTR+HMAC suites; 0 for GCM
	nk   int // AEAD.Nk
	nt   int // AEAD.Nt
}

func (s Suite) params() (suiteParams, bool) {
	switch s {
	case AES_128_CTR_HMAC_SHA256_80:
		return suiteParams{"AES_128_CTR_HMAC_SHA256_80", sha256.New, 32, 16, 48, 10}, true
	case AES_128_CTR_HMAC_SHA256_64:
		return suiteParams{"AES_128_CTR_HMAC_SHA256_64", sha256.New, 32, 16, 48, 8}, true
	case AES_128_CTR_HMAC_SHA256_32:
		return suiteParams{"AES_128_CTR_HMAC_SHA256_32", sha256.New, 32, 16, 48, 4}, true
	case AES_128_GCM_SHA256_128:
		return suiteParams{"AES_128_GCM_SHA256_128", sha256.New, 32, 0, 16, 16}, true
	case AES_256_GCM_SHA512_128:
		return suiteParams{"AES_256_GCM_SHA512_128", sha512.New, 64, 0, 32, 16}, true
	}
	return suiteParams{}, false
}

// String returns the suite's RFC 9605 name.
func (s Suite) String() string {
	if p, ok := s.params(); ok {
		return p.name
	}
	return fmt.Sprintf("Suite(0x%04x)", uint16(s))
}

// Overhead returns the length of the suite's authentication tag (AEAD.Nt). A frame grows by
// its header (at most MaxHeaderLen bytes) plus Overhead.
func (s Suite) Overhead() int {
	p, _ := s.params()
	return p.nt
}

// checkKey validates a suite and base key for the operation op.
func checkKey(op string, s Suite, baseKey []byte) error {
	if _, ok := s.params(); !ok {
		return fmt.Errorf("sframe: %s: suite %d: %w", op, uint16(s), ErrUnsupportedSuite)
	}
	if len(baseKey) < minBaseKeyLen {
		return fmt.Errorf("sframe: %s: base key is %d bytes, want at least %d random bytes", op, len(baseKey), minBaseKeyLen)
	}
	return nil
}

// HKDF labels of RFC 9605 sections 4.4.2 and 5.1.
const (
	keyLabel     = "SFrame 1.0 Secret key "
	saltLabel    = "SFrame 1.0 Secret salt "
	ratchetLabel = "SFrame 1.0 Ratchet"
)

// label returns prefix + KID (8 bytes, big-endian) + cipher suite (2 bytes, big-endian), the
// HKDF info of section 4.4.2: the full KID, not its compressed header form.
func label(prefix string, kid uint64, s Suite) string {
	b := make([]byte, 0, len(prefix)+10)
	b = append(b, prefix...)
	b = binary.BigEndian.AppendUint64(b, kid)
	b = binary.BigEndian.AppendUint16(b, uint16(s))
	return string(b)
}

// deriveKeySalt is derive_key_salt of RFC 9605 section 4.4.2, with the hash of the suite.
// It also returns sframe_secret, for the test vectors.
func deriveKeySalt(s Suite, kid uint64, baseKey []byte) (secret, key, salt []byte, err error) {
	p, ok := s.params()
	if !ok {
		return nil, nil, nil, ErrUnsupportedSuite
	}
	// HKDF-Extract with an empty salt, i.e. Nh zero bytes (RFC 5869 section 2.2).
	if secret, err = hkdf.Extract(p.hash, baseKey, nil); err != nil {
		return nil, nil, nil, err
	}
	if key, err = hkdf.Expand(p.hash, secret, label(keyLabel, kid, s), p.nk); err != nil {
		return nil, nil, nil, err
	}
	if salt, err = hkdf.Expand(p.hash, secret, label(saltLabel, kid, s), nonceSize); err != nil {
		return nil, nil, nil, err
	}
	return secret, key, salt, nil
}

// ratchetBaseKey returns base_key[i+1] from base_key[i] (RFC 9605 section 5.1):
// HKDF-Expand(HKDF-Extract("", base_key[i]), "SFrame 1.0 Ratchet", CipherSuite.Nh).
func ratchetBaseKey(s Suite, baseKey []byte) ([]byte, error) {
	p, ok := s.params()
	if !ok {
		return nil, ErrUnsupportedSuite
	}
	prk, err := hkdf.Extract(p.hash, baseKey, nil)
	if err != nil {
		return nil, err
	}
	defer clear(prk)
	return hkdf.Expand(p.hash, prk, ratchetLabel, p.nh)
}

// key is the per-KID encryption state: the AEAD built once from sframe_key, and sframe_salt.
// It is not safe for concurrent use (the CTR+HMAC AEAD and the nonce are scratch state); the
// Sender or Receiver that owns it serializes access.
type key struct {
	aead  cipher.AEAD
	salt  [nonceSize]byte
	nonce [nonceSize]byte // scratch, kept here so that building a nonce never allocates
}

// newKey derives the key and salt for kid from baseKey and builds the suite's AEAD.
func newKey(s Suite, kid uint64, baseKey []byte) (*key, error) {
	p, ok := s.params()
	if !ok {
		return nil, ErrUnsupportedSuite
	}
	secret, sk, salt, err := deriveKeySalt(s, kid, baseKey)
	if err != nil {
		return nil, err
	}
	// The AEAD keeps its own expanded key; the derived bytes are not needed afterwards.
	defer clear(secret)
	defer clear(sk)
	k := &key{}
	copy(k.salt[:], salt)
	if p.nka > 0 {
		k.aead, err = newCTRHMAC(sk, p.nka, p.nt)
	} else {
		var block cipher.Block
		if block, err = aes.NewCipher(sk); err == nil {
			k.aead, err = cipher.NewGCM(block)
		}
	}
	if err != nil {
		return nil, err
	}
	return k, nil
}

// nonceFor returns the nonce of section 4.4.3: sframe_salt XOR CTR, the CTR encoded as an
// AEAD.Nn-byte big-endian integer (so only the last 8 bytes of the salt change). The slice
// aliases k's scratch and is valid until the next call.
func (k *key) nonceFor(ctr uint64) []byte {
	k.nonce = k.salt
	binary.BigEndian.PutUint64(k.nonce[4:], binary.BigEndian.Uint64(k.salt[4:])^ctr)
	return k.nonce[:]
}
