package ticket

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/geofence/geofence/internal/jws"
	"github.com/geofence/geofence/wire"
)

// Leeway is the clock skew Verify tolerates between the signer and the verifier: a ticket is
// accepted from Leeway before its nbf (and iat) until Leeway after its exp. Thirty seconds
// covers NTP-disciplined servers and most client clocks while staying small next to a
// ticket's lifetime. Prune keeps a retired key published for Leeway past its last expiry.
const Leeway = 30 * time.Second

// maxKeyIDLen bounds the kid Verify reads; a thumbprint id is 43 characters.
const maxKeyIDLen = 128

// Every error Verify returns for a token that is not a valid ticket matches ErrInvalid;
// ErrExpired and ErrUnknownKey say more, for callers that react differently (ask for a new
// ticket; refetch the key set). Errors that match none of them (RemoteKeys failing to fetch
// keys) say nothing about the token.
var (
	ErrInvalid    = errors.New("invalid ticket")
	ErrExpired    = errors.New("expired")
	ErrUnknownKey = errors.New("unknown signing key")
)

// allowedAlgs is the only signature algorithm a ticket may use. Passing it to go-jose's parser
// rejects "none", HS256 (the RS/HS key-confusion attack) and every other alg before any key
// is touched (RFC 8725 section 3.1).
var allowedAlgs = []jose.SignatureAlgorithm{jose.EdDSA}

// Verifier checks tickets against a fixed key set. It is safe for concurrent use.
type Verifier struct {
	// Audience, when set, must be one of the ticket's aud values. Empty means aud is not
	// checked. Set it before the first Verify.
	Audience string

	issuer string
	now    func() time.Time
	keys   map[string]ed25519.PublicKey
}

// NewVerifier returns a Verifier that accepts tickets issued by issuer and signed by an
// Ed25519 key of set. now is the clock; nil means time.Now.
//
// Keys of other types, or marked for another use or algorithm, are ignored (RFC 7517
// section 5). A set that holds private or symmetric key material is refused: it means the
// signer's secrets were published.
func NewVerifier(set jose.JSONWebKeySet, issuer string, now func() time.Time) (*Verifier, error) {
	if issuer == "" {
		return nil, errors.New("new ticket verifier: empty issuer")
	}
	if now == nil {
		now = time.Now
	}
	v := &Verifier{issuer: issuer, now: now, keys: make(map[string]ed25519.PublicKey)}
	for i, k := range set.Keys {
		if !k.IsPublic() {
			return nil, fmt.Errorf("new ticket verifier: key %d (kid %q) is private or symmetric key material; publish public keys only", i, k.KeyID)
		}
		pub, ok := k.Key.(ed25519.PublicKey)
		if !ok || len(pub) != ed25519.PublicKeySize {
			continue
		}
		// RFC 9864 names the same algorithm "Ed25519"; tickets themselves say "EdDSA".
		if (k.Algorithm != "" && k.Algorithm != string(jose.EdDSA) && k.Algorithm != "Ed25519") ||
			(k.Use != "" && k.Use != "sig") {
			continue
		}
		if k.KeyID == "" {
			return nil, fmt.Errorf("new ticket verifier: key %d has no kid", i)
		}
		if _, dup := v.keys[k.KeyID]; dup {
			return nil, fmt.Errorf("new ticket verifier: kid %q appears twice", k.KeyID)
		}
		v.keys[k.KeyID] = slices.Clone(pub)
	}
	if len(v.keys) == 0 {
		return nil, errors.New("new ticket verifier: the key set has no Ed25519 signing key")
	}
	return v, nil
}

// Verify checks token and returns its claims. It accepts only a compact JWS with alg EdDSA,
// typ TokenType and the kid of a known key, whose signature is valid, whose issuer is the
// verifier's, whose nbf, iat and exp hold at now (within Leeway), and whose required claims
// are present. Errors match ErrInvalid, and ErrExpired or ErrUnknownKey when that is the
// reason.
func (v *Verifier) Verify(token string) (wire.Claims, error) {
	p, err := parse(token)
	if err != nil {
		return wire.Claims{}, err
	}
	key, ok := v.keys[p.kid]
	if !ok {
		return wire.Claims{}, fmt.Errorf("%w: %w: kid %q", ErrInvalid, ErrUnknownKey, p.kid)
	}
	return v.verify(p, key)
}

// parsed is a token that is well formed, not yet verified.
type parsed struct {
	jws *jose.JSONWebSignature
	kid string
}

// parse checks everything about token that needs no key.
func parse(token string) (parsed, error) {
	if err := checkCompact(token); err != nil {
		return parsed{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	jws, err := jose.ParseSignedCompact(token, allowedAlgs)
	if err != nil {
		return parsed{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if len(jws.Signatures) != 1 {
		return parsed{}, fmt.Errorf("%w: %d signatures, want 1", ErrInvalid, len(jws.Signatures))
	}
	h := jws.Signatures[0].Header
	if h.Algorithm != string(jose.EdDSA) { // ParseSignedCompact checked it; be sure
		return parsed{}, fmt.Errorf("%w: alg %q, want %q", ErrInvalid, h.Algorithm, jose.EdDSA)
	}
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != TokenType {
		return parsed{}, fmt.Errorf("%w: typ %q, want %q", ErrInvalid, typ, TokenType)
	}
	if h.JSONWebKey != nil {
		// The key comes from the verifier's set, never from the token (RFC 8725 section 3.10).
		return parsed{}, fmt.Errorf("%w: header embeds a jwk", ErrInvalid)
	}
	if h.KeyID == "" || len(h.KeyID) > maxKeyIDLen {
		return parsed{}, fmt.Errorf("%w: kid is missing or longer than %d bytes", ErrInvalid, maxKeyIDLen)
	}
	return parsed{jws: jws, kid: h.KeyID}, nil
}

// checkCompact checks that token is three non-empty base64url segments in their canonical
// encoding, and at most MaxTokenSize bytes (jws.CheckCompact).
func checkCompact(token string) error {
	return jws.CheckCompact(token, MaxTokenSize)
}

// verify checks p's signature with key and then its claims.
func (v *Verifier) verify(p parsed, key ed25519.PublicKey) (wire.Claims, error) {
	payload, err := p.jws.Verify(key)
	if err != nil {
		return wire.Claims{}, fmt.Errorf("%w: signature: %w", ErrInvalid, err)
	}
	var c wire.Claims
	if err := c.UnmarshalJSON(payload); err != nil {
		return wire.Claims{}, fmt.Errorf("%w: claims: %w", ErrInvalid, err)
	}
	if c.Issuer != v.issuer {
		return wire.Claims{}, fmt.Errorf("%w: iss %q, want %q", ErrInvalid, c.Issuer, v.issuer)
	}
	if v.Audience != "" && !slices.Contains(c.Audience, v.Audience) {
		return wire.Claims{}, fmt.Errorf("%w: aud %q does not name %q", ErrInvalid, c.Audience, v.Audience)
	}
	var missing []string
	for _, f := range []struct {
		name string
		zero bool
	}{
		{"jti", c.ID == ""},
		{"iat", c.IssuedAt.IsZero()},
		{"nbf", c.NotBefore.IsZero()},
		{"exp", c.Expiry.IsZero()},
	} {
		if f.zero {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return wire.Claims{}, fmt.Errorf("%w: missing %s", ErrInvalid, strings.Join(missing, ", "))
	}
	if err := c.Check(); err != nil {
		return wire.Claims{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	// RFC 7519 sections 4.1.4 and 4.1.5: not on or after exp, not before nbf.
	now := v.now()
	if !now.Before(c.Expiry.Add(Leeway)) {
		return wire.Claims{}, fmt.Errorf("%w: %w at %s, now %s", ErrInvalid, ErrExpired,
			c.Expiry.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if start := later(c.NotBefore, c.IssuedAt); now.Add(Leeway).Before(start) {
		return wire.Claims{}, fmt.Errorf("%w: not valid before %s, now %s (is a clock wrong?)", ErrInvalid,
			start.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if !c.Expiry.After(c.NotBefore) {
		return wire.Claims{}, fmt.Errorf("%w: exp is not after nbf", ErrInvalid)
	}
	return c, nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
