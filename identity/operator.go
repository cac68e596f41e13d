package identity

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

const (
	// MinOperatorTokenLen is the shortest operator token NewOperator accepts: 32 characters
	// of base64 are 192 bits, beyond guessing.
	MinOperatorTokenLen = 32

	// MaxOperatorTokenLen is the longest: a token is sent in every operator request's header.
	MaxOperatorTokenLen = 1024

	// maxOperatorFile bounds what LoadOperator reads, so that a wrong path (a log, a
	// device) fails fast instead of filling memory.
	maxOperatorFile = 4 << 10
)

// BearerToken returns the token of the request's Authorization header when it is a bearer
// credential (RFC 6750 section 2.1): one Authorization header, the scheme "Bearer" in any
// case, one or more spaces, and a token with no space in it.
func BearerToken(r *http.Request) (string, bool) {
	vals := r.Header.Values("Authorization")
	if len(vals) != 1 {
		return "", false
	}
	scheme, tok, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimLeft(tok, " ")
	if tok == "" || strings.ContainsAny(tok, " \t") {
		return "", false
	}
	return tok, true
}

// Operator checks the operator bearer token (DESIGN.md section 10, --admin-token-file). It
// keeps only the token's SHA-256, and compares digests in constant time, so that neither the
// token's bytes nor its length leak through timing. A nil *Operator accepts nothing.
type Operator struct {
	sum [sha256.Size]byte
}

// NewOperator returns an Operator for token, which must be MinOperatorTokenLen to
// MaxOperatorTokenLen visible ASCII characters (what an HTTP header can carry).
func NewOperator(token string) (*Operator, error) {
	switch {
	case len(token) < MinOperatorTokenLen:
		return nil, fmt.Errorf("operator token is %d characters, want at least %d (make one with: openssl rand -base64 32)", len(token), MinOperatorTokenLen)
	case len(token) > MaxOperatorTokenLen:
		return nil, fmt.Errorf("operator token is %d characters, want at most %d", len(token), MaxOperatorTokenLen)
	}
	for i := 0; i < len(token); i++ {
		if c := token[i]; c <= ' ' || c > '~' {
			return nil, fmt.Errorf("operator token has byte %#02x at %d: want visible ASCII only, as an HTTP header carries it", c, i)
		}
	}
	return &Operator{sum: sha256.Sum256([]byte(token))}, nil
}

// LoadOperator reads the operator token from the file at path: its content, with leading and
// trailing white space (a final newline) removed, and at most 4 KiB.
func LoadOperator(path string) (*Operator, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load operator token: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxOperatorFile+1))
	if err != nil {
		return nil, fmt.Errorf("load operator token: %w", err)
	}
	if len(b) > maxOperatorFile {
		return nil, fmt.Errorf("load operator token: %s is over %d bytes: is it the token file?", path, maxOperatorFile)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return nil, fmt.Errorf("load operator token: %s is empty", path)
	}
	o, err := NewOperator(tok)
	if err != nil {
		return nil, fmt.Errorf("load operator token: %s: %w", path, err)
	}
	return o, nil
}

// Check reports whether r carries the operator token: nil if it does; an error matching
// ErrNoCredential if it has no Authorization header; one matching ErrInvalid if the header is
// not a bearer token or the token is not the operator's. Servers answer 401 to both errors.
func (o *Operator) Check(r *http.Request) error {
	if len(r.Header.Values("Authorization")) == 0 {
		return fmt.Errorf("check operator token: %w: send Authorization: Bearer <operator token>", ErrNoCredential)
	}
	tok, ok := BearerToken(r)
	if !ok {
		return &invalidError{msg: "check operator token: the Authorization header is not one Bearer token"}
	}
	if o == nil {
		return &invalidError{msg: "check operator token: no operator token is configured"}
	}
	sum := sha256.Sum256([]byte(tok))
	if subtle.ConstantTimeCompare(sum[:], o.sum[:]) != 1 {
		return &invalidError{msg: "check operator token: the token is not the operator's"}
	}
	return nil
}
