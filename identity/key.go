package identity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/geofence/geofence/internal/jws"
)

var b64 = base64.RawURLEncoding.Strict()

// ParsePublicKey parses an account key as the config and the operator API write it (the "x"
// of wire.AccountKey): the 32 bytes of an Ed25519 public key in base64url without padding,
// the "x" of an OKP JWK (RFC 8037 section 2).
func ParsePublicKey(x string) (ed25519.PublicKey, error) {
	if x == "" {
		return nil, errors.New("parse public key: x is empty")
	}
	if err := jws.CheckSegment(x); err != nil {
		return nil, fmt.Errorf("parse public key: x is not base64url without padding: %w", err)
	}
	b, err := b64.DecodeString(x)
	if err != nil {
		return nil, fmt.Errorf("parse public key: x is not base64url without padding: %w", err)
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("parse public key: x is %d bytes, want %d (an Ed25519 public key)", len(b), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// EncodePublicKey returns pub as ParsePublicKey reads it.
func EncodePublicKey(pub ed25519.PublicKey) string {
	return base64.RawURLEncoding.EncodeToString(pub)
}

// Thumbprint returns the JWK thumbprint (RFC 7638) of pub with SHA-256, base64url encoded:
// the kid `geofence token` gives a key when told none, which anyone holding the key can
// compute again.
func Thumbprint(pub ed25519.PublicKey) string {
	// RFC 7638 section 3.2: the required members of an OKP key (RFC 8037 section 2), in
	// lexicographic order, no whitespace.
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + EncodePublicKey(pub) + `"}`))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// pemType is the PEM type of a PKCS #8 private key (RFC 7468 section 10).
const pemType = "PRIVATE KEY"

// ParsePrivateKey reads an Ed25519 private key from a PEM "PRIVATE KEY" block (PKCS #8,
// RFC 8410), the format of `geofence token --new-key` and of
// `openssl genpkey -algorithm ed25519`.
func ParsePrivateKey(data []byte) (ed25519.PrivateKey, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, errors.New("parse private key: no PEM block: want a PEM \"PRIVATE KEY\" (PKCS #8 Ed25519)")
	}
	if block.Type != pemType {
		return nil, fmt.Errorf("parse private key: the PEM block is %q, want %q (PKCS #8 Ed25519)", block.Type, pemType)
	}
	if len(block.Headers) > 0 {
		return nil, errors.New("parse private key: the PEM block has headers: an encrypted key is not supported")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("parse private key: data after the PEM block: want one key per file")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse private key: the PEM block is not a PKCS #8 key: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("parse private key: it is a %T, want an Ed25519 key", k)
	}
	return priv, nil
}

// EncodePrivateKey returns priv as ParsePrivateKey reads it.
func EncodePrivateKey(priv ed25519.PrivateKey) ([]byte, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("encode private key: it is %d bytes, not an Ed25519 private key", len(priv))
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: der}), nil
}
