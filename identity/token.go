package identity

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/geofence/geofence/internal/jws"
	"github.com/geofence/geofence/wire"
)

const (
	// MaxTokenSize is the length in bytes of the longest join token Verify reads and Mint
	// makes. It bounds what an unauthenticated caller can make the directory decode; a token
	// with ids of the longest length is under 1 KiB.
	MaxTokenSize = 8 << 10

	// MaxLifetime is the longest a join token may be valid, from its iat to its exp. A join
	// token is a bearer token: a short life bounds what a stolen one is worth.
	MaxLifetime = 24 * time.Hour

	// DefaultLeeway is the clock skew Verify tolerates when Verifier.Leeway is zero: a
	// customer's backend and the directory are servers with disciplined clocks.
	DefaultLeeway = 30 * time.Second

	// MaxIDLen is the longest account, participant, meeting or key id a token may carry.
	MaxIDLen = 128
)

var (
	// ErrInvalid is matched by every error that refuses a credential: a join token that
	// does not verify, an operator token that does not match. Servers answer 401.
	ErrInvalid = errors.New("invalid credential")
	// ErrNoCredential is matched when a request carries no credential at all. Servers
	// answer 401 too, with a message saying which credential to send.
	ErrNoCredential = errors.New("no credential")

	// ErrUnknownAccount is what Keys returns for an account it does not have; Verify's
	// error then matches it as well as ErrInvalid.
	ErrUnknownAccount = errors.New("unknown account")
	// ErrUnknownKey is what Keys returns for a kid the account has not registered; Verify's
	// error then matches it as well as ErrInvalid.
	ErrUnknownKey = errors.New("unknown key")
	// ErrExpired is matched, besides ErrInvalid, by the error of a join token past its exp:
	// the caller needs a new token from its backend.
	ErrExpired = errors.New("expired")
)

// invalidError is a refused credential: it matches ErrInvalid and, when set, a more specific
// reason.
type invalidError struct {
	msg    string
	reason error
}

func (e *invalidError) Error() string { return e.msg }

func (e *invalidError) Unwrap() []error {
	if e.reason == nil {
		return []error{ErrInvalid}
	}
	return []error{ErrInvalid, e.reason}
}

func refuse(reason error, format string, args ...any) error {
	return &invalidError{msg: "verify join token: " + fmt.Sprintf(format, args...), reason: reason}
}

// Keys finds a registered public key.
type Keys interface {
	// AccountKey returns the Ed25519 public key that account registered under kid. It
	// returns an error matching ErrUnknownAccount or ErrUnknownKey when there is none; any
	// other error is a failure to look, which Verify passes on without ErrInvalid.
	AccountKey(account, kid string) (ed25519.PublicKey, error)
}

// KeysFunc adapts a function to Keys.
type KeysFunc func(account, kid string) (ed25519.PublicKey, error)

// AccountKey calls f.
func (f KeysFunc) AccountKey(account, kid string) (ed25519.PublicKey, error) { return f(account, kid) }

var _ Keys = KeysFunc(nil)

// Identity is who a join token vouches for.
type Identity struct {
	// Account is the account whose backend signed the token (iss).
	Account string
	// Participant is the participant's id within the account (sub).
	Participant string
	// Meeting is the only meeting the token may join; empty means any.
	Meeting string
	// Host says the participant may create and end the account's meetings.
	Host bool
	// KID is the id of the account key that signed the token.
	KID string
	// Expiry is when the token stops being valid (exp).
	Expiry time.Time
}

// Verifier checks join tokens. It is safe for concurrent use when Keys is; set its fields
// before the first Verify.
type Verifier struct {
	// Keys finds the account key a token names. Required.
	Keys Keys
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Leeway is the clock skew tolerated around nbf, iat and exp; zero means DefaultLeeway
	// and a negative value none.
	Leeway time.Duration
}

// Verify checks token and returns the identity it vouches for.
//
// It accepts a compact JWS of at most MaxTokenSize bytes whose header has alg EdDSA, a kid,
// typ absent, "JWT" or wire.JoinTokenType, no crit and no key of its own; whose claims are
// strict JSON (wire.JoinClaims) with an iss, sub and meeting that are ids (1 to MaxIDLen of
// A-Z a-z 0-9 . _ -), an aud naming wire.JoinAudience, an iat and an exp at most MaxLifetime
// after it; whose signature verifies with the key Keys has for (iss, kid); and that is valid
// now, within Leeway.
//
// Every refusal matches ErrInvalid, and ErrUnknownAccount, ErrUnknownKey or ErrExpired when
// that is the reason; its message says what is wrong. An error that does not match
// ErrInvalid is the verifier's failure, not the token's: Keys failing to look a key up, or
// returning something that is not an Ed25519 public key.
func (v *Verifier) Verify(token string) (Identity, error) {
	if v.Keys == nil {
		return Identity{}, errors.New("verify join token: the verifier has no Keys")
	}
	tok, err := jws.Parse(token, MaxTokenSize)
	if err != nil {
		return Identity{}, refuse(nil, "malformed: %v", err)
	}
	switch tok.Header.Typ {
	case "", "JWT", wire.JoinTokenType:
	default:
		return Identity{}, refuse(nil, "typ %q: a join token's typ is %q or %q", tok.Header.Typ, "JWT", wire.JoinTokenType)
	}
	kid := tok.Header.Kid
	if kid == "" {
		return Identity{}, refuse(nil, "no kid in the header: it names the account key that signed the token")
	}
	if !validID(kid) {
		return Identity{}, refuse(nil, "kid %q is not an id: %s", kid, idRule)
	}
	var c wire.JoinClaims
	if err := c.UnmarshalJSON(tok.Payload); err != nil {
		return Identity{}, refuse(nil, "malformed claims: %v", err)
	}
	if err := checkClaims(&c); err != nil {
		return Identity{}, refuse(nil, "%v", err)
	}
	key, err := v.Keys.AccountKey(c.Account, kid)
	switch {
	case errors.Is(err, ErrUnknownAccount):
		return Identity{}, refuse(ErrUnknownAccount, "unknown account %q", c.Account)
	case errors.Is(err, ErrUnknownKey):
		return Identity{}, refuse(ErrUnknownKey, "unknown key %q of account %q", kid, c.Account)
	case err != nil:
		return Identity{}, fmt.Errorf("verify join token: look up key %q of account %q: %w", kid, c.Account, err)
	case len(key) != ed25519.PublicKeySize:
		return Identity{}, fmt.Errorf("verify join token: key %q of account %q is %d bytes, not an Ed25519 public key", kid, c.Account, len(key))
	}
	if !tok.Verify(key) {
		return Identity{}, refuse(nil, "signature does not verify with key %q of account %q", kid, c.Account)
	}
	// Times are checked on an authentic token only, so that what they tell (a clock is
	// wrong) is told to the account's backend and not to a forger.
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	leeway := v.Leeway
	switch {
	case leeway == 0:
		leeway = DefaultLeeway
	case leeway < 0:
		leeway = 0
	}
	// RFC 7519 sections 4.1.4 and 4.1.5: not on or after exp, not before nbf.
	if !now.Before(c.Expiry.Add(leeway)) {
		return Identity{}, refuse(ErrExpired, "expired at %s (now %s)", stamp(c.Expiry), stamp(now))
	}
	if start := later(c.IssuedAt, c.NotBefore); now.Add(leeway).Before(start) {
		return Identity{}, refuse(nil, "not yet valid: valid from %s (now %s; is a clock wrong?)", stamp(start), stamp(now))
	}
	return Identity{
		Account:     c.Account,
		Participant: c.Participant,
		Meeting:     c.Meeting,
		Host:        c.Host,
		KID:         kid,
		Expiry:      c.Expiry,
	}, nil
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// checkClaims checks what can be checked of c without a key or a clock: what Mint refuses to
// sign and Verify refuses to accept.
func checkClaims(c *wire.JoinClaims) error {
	for _, id := range []struct{ name, what, v string }{
		{"iss", "the account id", c.Account},
		{"sub", "the participant id", c.Participant},
	} {
		if id.v == "" {
			return fmt.Errorf("%s (%s) is missing", id.name, id.what)
		}
		if !validID(id.v) {
			return fmt.Errorf("%s %q is not an id: %s", id.name, id.v, idRule)
		}
	}
	if c.Meeting != "" && !validID(c.Meeting) {
		return fmt.Errorf("meeting %q is not an id: %s", c.Meeting, idRule)
	}
	if !slices.Contains(c.Audience, wire.JoinAudience) {
		return fmt.Errorf("aud is not %q (got %q)", wire.JoinAudience, c.Audience)
	}
	switch {
	case c.IssuedAt.IsZero() && c.Expiry.IsZero():
		return errors.New("iat and exp are missing")
	case c.IssuedAt.IsZero():
		return errors.New("iat is missing")
	case c.Expiry.IsZero():
		return errors.New("exp is missing")
	case !c.Expiry.After(c.IssuedAt):
		return fmt.Errorf("exp %s is not after iat %s", stamp(c.Expiry), stamp(c.IssuedAt))
	case c.Expiry.Sub(c.IssuedAt) > MaxLifetime:
		return fmt.Errorf("lifetime over 24h: exp is %v after iat", c.Expiry.Sub(c.IssuedAt))
	case !c.NotBefore.IsZero() && !c.NotBefore.Before(c.Expiry):
		return fmt.Errorf("nbf %s is not before exp %s", stamp(c.NotBefore), stamp(c.Expiry))
	}
	return nil
}

const idRule = "want 1 to 128 of A-Z a-z 0-9 . _ -"

// ValidID reports whether s is an id a join token may carry, as an account, participant,
// meeting or key id: ^[A-Za-z0-9._-]{1,128}$, the ids of the directory's API.
func ValidID(s string) bool { return validID(s) }

func validID(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Mint signs c with key as a join token whose header names kid, and returns it. It is what an
// account's backend does (and `geofence token`, and client.MintJoinToken). An empty
// c.Audience becomes wire.JoinAudience. c must carry everything Verify requires, IssuedAt and
// Expiry included: Mint reads no clock. The header's typ is wire.JoinTokenType.
func Mint(key ed25519.PrivateKey, kid string, c wire.JoinClaims) (string, error) {
	if len(key) != ed25519.PrivateKeySize {
		return "", fmt.Errorf("mint join token: the key is %d bytes, not an Ed25519 private key", len(key))
	}
	if !validID(kid) {
		return "", fmt.Errorf("mint join token: kid %q is not an id: %s", kid, idRule)
	}
	if len(c.Audience) == 0 {
		c.Audience = []string{wire.JoinAudience}
	}
	if err := checkClaims(&c); err != nil {
		return "", fmt.Errorf("mint join token: %w", err)
	}
	header, err := jws.EncodeHeader(jws.Header{Alg: jws.Alg, Kid: kid, Typ: wire.JoinTokenType})
	if err != nil {
		return "", fmt.Errorf("mint join token: %w", err)
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("mint join token: %w", err)
	}
	if n := jws.SignedLen(header, len(payload)); n > MaxTokenSize {
		return "", fmt.Errorf("mint join token: the token would be %d bytes, more than the %d verifiers read", n, MaxTokenSize)
	}
	return jws.Sign(key, header, payload), nil
}
