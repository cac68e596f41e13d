// Package jws is the one implementation of the JSON Web Signature (RFC 7515) that Geofence's
// tokens use: compact serialization only, signed with Ed25519 (alg "EdDSA", RFC 8037), built
// and parsed by hand with base64url and crypto/ed25519.
//
// Tickets (package ticket) and join tokens (package identity) are both made here, so that
// there is one strict reading of a token: exactly three canonical base64url segments, a
// protected header with no duplicated member, alg "EdDSA" and nothing else, no "crit", no key
// carried in the token itself, and a bounded size, checked before any key is touched
// (RFC 8725 sections 3.1 and 3.10).
//
// What it is not: a general JOSE library. It knows nothing of claims, key sets or which kid
// or typ a token must carry; the packages that read a token decide that.
package jws

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	josejson "github.com/go-jose/go-jose/v4/json"
)

// Alg is the only signature algorithm there is here (RFC 8037 section 3.1).
const Alg = "EdDSA"

// MaxKeyIDLen bounds the kid Parse accepts.
const MaxKeyIDLen = 128

var b64 = base64.RawURLEncoding

// Header is the protected header of a token. A member that was absent is empty.
type Header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid,omitempty"`
	Typ string `json:"typ,omitempty"`
}

// EncodeHeader returns the first segment of a token with header h: the base64url of its JSON,
// members in the order alg, kid, typ. Signers encode it once per key, not once per token.
func EncodeHeader(h Header) (string, error) {
	b, err := json.Marshal(h)
	if err != nil {
		return "", fmt.Errorf("encode jws header: %w", err)
	}
	return b64.EncodeToString(b), nil
}

// Sign returns the compact JWS of payload under the encoded header (from EncodeHeader), signed
// with key. The token is built in one buffer of its final size.
func Sign(key ed25519.PrivateKey, header string, payload []byte) string {
	input := len(header) + 1 + b64.EncodedLen(len(payload))
	buf := make([]byte, input+1+b64.EncodedLen(ed25519.SignatureSize))
	copy(buf, header)
	buf[len(header)] = '.'
	b64.Encode(buf[len(header)+1:input], payload)
	sig := ed25519.Sign(key, buf[:input])
	buf[input] = '.'
	b64.Encode(buf[input+1:], sig)
	return string(buf)
}

// SignedLen is the length of the token Sign makes of a payload of n bytes under header.
func SignedLen(header string, n int) int {
	return len(header) + 1 + b64.EncodedLen(n) + 1 + b64.EncodedLen(ed25519.SignatureSize)
}

// Token is a token that Parse found well formed. Its signature is not yet checked.
type Token struct {
	Header  Header
	Payload []byte // decoded
	input   string // header "." payload, as signed
	sig     []byte
}

// Verify reports whether t's signature verifies with pub. pub must be an Ed25519 public key
// (ed25519.PublicKeySize bytes); any other length is false, never a panic.
func (t *Token) Verify(pub ed25519.PublicKey) bool {
	if len(pub) != ed25519.PublicKeySize {
		return false
	}
	return ed25519.Verify(pub, []byte(t.input), t.sig)
}

// Parse checks everything about token that needs no key: its size (at most max bytes), its
// compact serialization, and its protected header, which must be a JSON object with no
// duplicated member, alg "EdDSA", no "crit" (this package supports no extension, so RFC 7515
// section 4.1.11 says to reject it), no key or key reference of its own (jwk, jku, x5u, x5c,
// x5t, x5t#S256), no unencoded payload (b64, RFC 7797) and no compression (zip), and a kid
// and typ that, when present, are non-empty strings. Other header members are ignored, as
// RFC 7515 section 4 asks.
func Parse(token string, max int) (*Token, error) {
	if err := CheckCompact(token, max); err != nil {
		return nil, err
	}
	dot1 := indexDot(token, 0)
	dot2 := indexDot(token, dot1+1)
	hdr, err := b64.DecodeString(token[:dot1])
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	h, err := parseHeader(hdr)
	if err != nil {
		return nil, err
	}
	payload, err := b64.DecodeString(token[dot1+1 : dot2])
	if err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	sig, err := b64.DecodeString(token[dot2+1:])
	if err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	if len(sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("signature is %d bytes, want %d", len(sig), ed25519.SignatureSize)
	}
	return &Token{Header: h, Payload: payload, input: token[:dot2], sig: sig}, nil
}

func indexDot(s string, from int) int {
	for i := from; i < len(s); i++ {
		if s[i] == '.' {
			return i
		}
	}
	return -1
}

// rawHeader is what parseHeader reads; pointers and raw messages tell absent from empty.
type rawHeader struct {
	Alg *string `json:"alg"`
	Kid *string `json:"kid"`
	Typ *string `json:"typ"`

	Crit    json.RawMessage `json:"crit"`
	JWK     json.RawMessage `json:"jwk"`
	JKU     json.RawMessage `json:"jku"`
	X5U     json.RawMessage `json:"x5u"`
	X5C     json.RawMessage `json:"x5c"`
	X5T     json.RawMessage `json:"x5t"`
	X5TS256 json.RawMessage `json:"x5t#S256"`
	B64     json.RawMessage `json:"b64"`
	Zip     json.RawMessage `json:"zip"`
}

func parseHeader(b []byte) (Header, error) {
	if len(b) == 0 || b[0] != '{' {
		return Header{}, errors.New("header is not a JSON object")
	}
	var r rawHeader
	// go-jose's fork of encoding/json: member names are case-sensitive and a duplicated
	// member is an error, so that every JOSE implementation reads the header the same way
	// (RFC 7515 section 4).
	if err := josejson.Unmarshal(b, &r); err != nil {
		return Header{}, fmt.Errorf("header: %w", err)
	}
	for _, m := range []struct {
		name string
		v    json.RawMessage
	}{
		{"crit", r.Crit}, {"jwk", r.JWK}, {"jku", r.JKU}, {"x5u", r.X5U}, {"x5c", r.X5C},
		{"x5t", r.X5T}, {"x5t#S256", r.X5TS256}, {"b64", r.B64}, {"zip", r.Zip},
	} {
		if m.v != nil {
			return Header{}, fmt.Errorf("header has %q, which is not supported", m.name)
		}
	}
	var h Header
	switch {
	case r.Alg == nil:
		return Header{}, errors.New("header has no alg")
	case *r.Alg != Alg:
		return Header{}, fmt.Errorf("alg %q, want %q", *r.Alg, Alg)
	}
	h.Alg = *r.Alg
	if r.Kid != nil {
		if *r.Kid == "" || len(*r.Kid) > MaxKeyIDLen {
			return Header{}, fmt.Errorf("kid is empty or longer than %d bytes", MaxKeyIDLen)
		}
		h.Kid = *r.Kid
	}
	if r.Typ != nil {
		if *r.Typ == "" {
			return Header{}, errors.New("typ is empty")
		}
		h.Typ = *r.Typ
	}
	return h, nil
}

// CheckCompact checks that token is at most max bytes of three non-empty base64url segments
// (RFC 7515 section 7.1) in their canonical encoding. Go's decoder skips newlines and ignores
// the unused low bits of the last character, so without this check a signed token would have
// many spellings, and a replay cache keyed on the token string could be bypassed.
func CheckCompact(token string, max int) error {
	if len(token) > max {
		return fmt.Errorf("token is %d bytes, more than %d", len(token), max)
	}
	segments := 0
	start := 0
	for i := 0; i <= len(token); i++ {
		if i < len(token) && token[i] != '.' {
			if b64Value(token[i]) < 0 {
				return fmt.Errorf("byte %d is not base64url", i)
			}
			continue
		}
		segments++
		if segments > 3 {
			return errors.New("more than three segments")
		}
		if err := checkSegment(token[start:i]); err != nil {
			return fmt.Errorf("segment %d: %w", segments, err)
		}
		start = i + 1
	}
	if segments != 3 {
		return fmt.Errorf("%d segments, want 3", segments)
	}
	return nil
}

// CheckSegment checks that s is non-empty canonical base64url without padding: every byte in
// the alphabet, a possible length, and the unused bits of the last character zero.
func CheckSegment(s string) error {
	for i := 0; i < len(s); i++ {
		if b64Value(s[i]) < 0 {
			return fmt.Errorf("byte %d is not base64url", i)
		}
	}
	return checkSegment(s)
}

func checkSegment(s string) error {
	n := len(s)
	if n == 0 {
		return errors.New("empty")
	}
	// The last character of a segment of n%4 == 2 (3) characters carries 4 (2) unused bits,
	// which the canonical encoding sets to zero (RFC 4648 section 3.5).
	var unused int
	switch n % 4 {
	case 1:
		return errors.New("impossible base64 length")
	case 2:
		unused = 0x0f
	case 3:
		unused = 0x03
	}
	if b64Value(s[n-1])&unused != 0 {
		return errors.New("non-canonical base64")
	}
	return nil
}

// b64Value is the value of c in the base64url alphabet (RFC 4648 section 5), or -1.
func b64Value(c byte) int {
	switch {
	case 'A' <= c && c <= 'Z':
		return int(c - 'A')
	case 'a' <= c && c <= 'z':
		return int(c-'a') + 26
	case '0' <= c && c <= '9':
		return int(c-'0') + 52
	case c == '-':
		return 62
	case c == '_':
		return 63
	}
	return -1
}
