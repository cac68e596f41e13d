package ticket

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/geofence/geofence/internal/jws"
	"github.com/geofence/geofence/wire"
)

const (
	// JWKSPath is where the directory serves its key set (design section 7).
	JWKSPath = "/.well-known/jwks.json"

	// TokenType is the "typ" header of every ticket. Verify requires it, so that no other JWT
	// signed by the same key can pass for a ticket (explicit typing, RFC 8725 section 3.11).
	TokenType = "geofence-ticket+jwt"

	// MaxTTL is the longest lifetime Sign gives a ticket. A ticket is a bearer token: a short
	// life bounds what a stolen one is worth, and how long a retired key must stay published.
	MaxTTL = 24 * time.Hour

	// MaxTokenSize is the length in bytes of the longest token Sign produces and Verify reads.
	// It bounds the work an unauthenticated caller can ask of a verifier; a ticket with full
	// lists and a post-quantum hybrid public key is about 3 KiB.
	MaxTokenSize = 32 << 10

	// DefaultMaxAge is how long a key set may be cached: the max-age the directory's JWKS
	// handler sends, and how long RemoteKeys keeps a key set before fetching it again.
	DefaultMaxAge = 5 * time.Minute
)

// Signer signs tickets with Ed25519 and holds the key set that verifies them.
//
// It keeps three kinds of keys: the active key, which signs; the next key, published before it
// is used so that verifiers that refresh their key set on schedule already know it when Rotate
// makes it active; and retired keys, published until every ticket they signed has expired.
//
// A Signer is safe for concurrent use. Its keys live only in memory.
type Signer struct {
	issuer string
	now    func() time.Time

	randMu sync.Mutex // io.Readers in general are not safe for concurrent use
	rand   io.Reader

	// mu guards the key slots. Sign holds it shared, so that Rotate and Prune never retire or
	// drop a key between its signing a ticket and recording that ticket's expiry.
	mu      sync.RWMutex
	active  *signingKey
	next    *signingKey
	retired []*signingKey // newest first
	peers   []PublicKey   // other directories' keys, published with ours (SetPeers)

	jwks atomic.Pointer[jwksDoc]
}

type signingKey struct {
	kid  string
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
	// header is the token's first segment, encoded once: the base64url of
	// {"alg":"EdDSA","kid":kid,"typ":TokenType}, the members Verify requires.
	header string
	// lastExpiry is the latest expiry, in Unix seconds, of a ticket the key signed; 0 if none.
	lastExpiry atomic.Int64
}

// jwksDoc is the published key set, encoded once per change.
type jwksDoc struct {
	set  jose.JSONWebKeySet
	body []byte
	etag string
}

// NewSigner returns a Signer for tickets issued by issuer (the "iss" claim verifiers expect),
// with a fresh active key and a fresh next key. rand is the source of key material and of
// ticket ids; nil means crypto/rand. now is the clock; nil means time.Now.
func NewSigner(issuer string, rand io.Reader, now func() time.Time) (*Signer, error) {
	if issuer == "" {
		return nil, errors.New("new ticket signer: empty issuer")
	}
	s := &Signer{issuer: issuer, rand: rand, now: now}
	if s.rand == nil {
		s.rand = cryptoRand{}
	}
	if s.now == nil {
		s.now = time.Now
	}
	var err error
	if s.active, err = s.newKey(); err != nil {
		return nil, fmt.Errorf("new ticket signer: %w", err)
	}
	if s.next, err = s.newKey(); err != nil {
		return nil, fmt.Errorf("new ticket signer: %w", err)
	}
	if err := s.publish(); err != nil {
		return nil, fmt.Errorf("new ticket signer: %w", err)
	}
	return s, nil
}

// cryptoRand reads crypto/rand. ed25519.GenerateKey(nil) would too, but ticket ids need a
// reader.
type cryptoRand struct{}

func (cryptoRand) Read(b []byte) (int, error) { return rand.Read(b) }

func (s *Signer) readRand(b []byte) error {
	s.randMu.Lock()
	defer s.randMu.Unlock()
	_, err := io.ReadFull(s.rand, b)
	return err
}

func (s *Signer) newKey() (*signingKey, error) {
	seed := make([]byte, ed25519.SeedSize)
	if err := s.readRand(seed); err != nil {
		return nil, fmt.Errorf("generate ed25519 key: %w", err)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	clear(seed)
	pub := priv.Public().(ed25519.PublicKey)
	kid, err := keyID(pub)
	if err != nil {
		return nil, err
	}
	header, err := jws.EncodeHeader(jws.Header{Alg: jws.Alg, Kid: kid, Typ: TokenType})
	if err != nil {
		return nil, err
	}
	return &signingKey{kid: kid, pub: pub, priv: priv, header: header}, nil
}

// keyID is the key's JWK thumbprint (RFC 7638) with SHA-256, base64url encoded: the same key
// always gets the same id, and verifiers could recompute it.
func keyID(pub ed25519.PublicKey) (string, error) {
	tp, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("jwk thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// CheckTTL reports whether d is a lifetime Sign gives tickets: at least one second (tickets
// carry whole seconds) and at most MaxTTL. A server checks its configured ticket lifetime
// with it when it starts, so that a bad setting is refused then and not at the first join.
func CheckTTL(d time.Duration) error {
	switch {
	case d <= 0:
		return fmt.Errorf("ticket ttl %v is not positive", d)
	case d < time.Second:
		return fmt.Errorf("ticket ttl %v is under 1s: tickets carry whole seconds", d)
	case d > MaxTTL:
		return fmt.Errorf("ticket ttl %v is over the maximum %v: a ticket is a bearer token, so it lives at most a day", d, MaxTTL)
	}
	return nil
}

// Signed is a ticket as [Signer.SignJSON] made it.
type Signed struct {
	// Token is the compact JWS, what Sign returns.
	Token string
	// Claims are the claims as signed: the caller's, with Issuer, IssuedAt, NotBefore, Expiry
	// and ID set. Expiry is the ticket's "expires".
	Claims wire.Claims
	// Payload is the token's payload: the claims' JSON, exactly the bytes the signature
	// covers. Its List method gives each DC list's JSON array, so that the join answer, which
	// repeats the lists, can copy them instead of encoding them again; and Payload.JSON is the
	// ticket as an evidence entry can record it. It belongs to the caller.
	Payload wire.EncodedClaims
}

// Sign signs c with the active key and returns the compact JWS. It sets c's Issuer to the
// signer's, IssuedAt and NotBefore to now truncated to the second, Expiry to that plus ttl
// truncated to the second, and ID to 128 random bits; whatever c held there is replaced.
// ttl must pass CheckTTL. Sign refuses claims that Verify would reject.
//
// The token is built by hand (package internal/jws): the header was encoded when the key was
// made, the claims are encoded once by wire.Claims.AppendJSON, and header, payload and
// signature are written into one buffer, so that Ed25519 is nearly all a ticket costs.
func (s *Signer) Sign(c wire.Claims, ttl time.Duration) (string, error) {
	buf := payloadPool.Get().(*[]byte)
	signed, err := s.sign(c, ttl, (*buf)[:0])
	// Keep the buffer AppendJSON may have grown, unless an outsized ticket grew it: the pool
	// is for the common size, not the largest ever seen.
	if err == nil && cap(signed.Payload.JSON) <= maxPooled {
		*buf = signed.Payload.JSON[:0]
	}
	payloadPool.Put(buf)
	if err != nil {
		return "", err
	}
	return signed.Token, nil
}

// SignJSON is Sign that also returns what it made on the way: the claims as signed and their
// JSON. A directory answering a join takes the ticket's expiry from Claims and the DC lists'
// JSON from Payload, rather than computing the one again and encoding the others twice.
func (s *Signer) SignJSON(c wire.Claims, ttl time.Duration) (Signed, error) {
	return s.sign(c, ttl, make([]byte, 0, payloadSize))
}

// SignAppend is SignJSON with the claims' JSON appended to buf[:0], so that a caller that
// answers many joins can reuse its buffers: Payload.JSON is buf's array while it is large
// enough.
func (s *Signer) SignAppend(buf []byte, c wire.Claims, ttl time.Duration) (Signed, error) {
	return s.sign(c, ttl, buf[:0])
}

// payloadSize is the capacity of a new payload buffer: a ticket with full lists is about
// 1.5 KiB of JSON, and one with a hybrid post-quantum public key about 2.5 KiB.
const payloadSize = 2 << 10

// maxPooled is the largest payload buffer Sign puts back in the pool.
const maxPooled = 8 << 10

// payloadPool holds Sign's payload buffers; the token is a new string, so the encoded claims
// are garbage once it is signed.
var payloadPool = sync.Pool{New: func() any { b := make([]byte, 0, payloadSize); return &b }}

func (s *Signer) sign(c wire.Claims, ttl time.Duration, buf []byte) (Signed, error) {
	if err := CheckTTL(ttl); err != nil {
		return Signed{}, fmt.Errorf("sign ticket: %w", err)
	}
	if err := c.Check(); err != nil {
		return Signed{}, fmt.Errorf("sign ticket: %w", err)
	}
	var jti [16]byte
	if err := s.readRand(jti[:]); err != nil {
		return Signed{}, fmt.Errorf("sign ticket: ticket id: %w", err)
	}
	now := s.now().Truncate(time.Second)
	c.Issuer = s.issuer
	c.IssuedAt = now
	c.NotBefore = now
	c.Expiry = now.Add(ttl.Truncate(time.Second))
	c.ID = base64.RawURLEncoding.EncodeToString(jti[:])
	payload := c.AppendJSON(buf)

	s.mu.RLock()
	defer s.mu.RUnlock()
	k := s.active
	if n := jws.SignedLen(k.header, len(payload.JSON)); n > MaxTokenSize {
		return Signed{}, fmt.Errorf("sign ticket: token would be %d bytes, more than the %d verifiers accept", n, MaxTokenSize)
	}
	token := jws.Sign(k.priv, k.header, payload.JSON)
	k.noteExpiry(c.Expiry.Unix())
	return Signed{Token: token, Claims: c, Payload: payload}, nil
}

func (k *signingKey) noteExpiry(exp int64) {
	for {
		old := k.lastExpiry.Load()
		if exp <= old || k.lastExpiry.CompareAndSwap(old, exp) {
			return
		}
	}
}

// Rotate retires the active key, makes the next key active, and generates and publishes a new
// next key. Tickets signed by the retired key keep verifying: it stays published until Prune
// finds every ticket it signed expired.
func (s *Signer) Rotate() error {
	k, err := s.newKey()
	if err != nil {
		return fmt.Errorf("rotate ticket key: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retired = slices.Insert(s.retired, 0, s.active)
	s.active, s.next = s.next, k
	if err := s.publish(); err != nil {
		return fmt.Errorf("rotate ticket key: %w", err)
	}
	return nil
}

// Prune drops the retired keys whose tickets have all expired, Leeway included, so that no
// verifier accepts any of them any more, and returns how many it dropped. Call it
// periodically, for example every MaxTTL.
func (s *Signer) Prune() (int, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	before := len(s.retired)
	s.retired = slices.DeleteFunc(s.retired, func(k *signingKey) bool {
		exp := k.lastExpiry.Load()
		return exp == 0 || !now.Before(time.Unix(exp, 0).Add(Leeway))
	})
	n := before - len(s.retired)
	if n == 0 {
		return 0, nil
	}
	if err := s.publish(); err != nil {
		return n, fmt.Errorf("prune ticket keys: %w", err)
	}
	return n, nil
}

// KeyID returns the id (the "kid" header) of the active key.
func (s *Signer) KeyID() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.active.kid
}

// publish encodes the public keys for JWKS and the handler. s.mu must be held (or s not yet
// shared).
func (s *Signer) publish() error {
	keys := append([]*signingKey{s.active, s.next}, s.retired...)
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(keys)+len(s.peers))}
	own := map[string]bool{}
	for _, k := range keys {
		own[k.kid] = true
		set.Keys = append(set.Keys, jose.JSONWebKey{
			Key:       k.pub, // never the private key: see TestJWKSHasNoPrivateKey
			KeyID:     k.kid,
			Algorithm: string(jose.EdDSA),
			Use:       "sig",
		})
	}
	for _, k := range s.peers {
		if !own[k.KID] {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.Public, KeyID: k.KID, Algorithm: string(jose.EdDSA), Use: "sig"})
		}
	}
	body, err := json.Marshal(set)
	if err != nil {
		return fmt.Errorf("encode jwks: %w", err)
	}
	sum := sha256.Sum256(body)
	s.jwks.Store(&jwksDoc{
		set:  set,
		body: body,
		etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`,
	})
	return nil
}

// JWKS returns the public keys that verify tickets: the active key, the next key and the
// retired keys not yet pruned. It never holds private key material.
func (s *Signer) JWKS() jose.JSONWebKeySet {
	doc := s.jwks.Load()
	return jose.JSONWebKeySet{Keys: slices.Clone(doc.set.Keys)}
}

// Handler serves the key set as application/jwk-set+json (RFC 7517 section 8.5), for GET and
// HEAD at JWKSPath. Responses may be cached for DefaultMaxAge and carry an ETag, so that
// caches revalidate with If-None-Match for the cost of a 304.
func (s *Signer) Handler() http.Handler {
	return http.HandlerFunc(s.serveJWKS)
}

func (s *Signer) serveJWKS(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed: use GET", http.StatusMethodNotAllowed)
		return
	}
	doc := s.jwks.Load()
	h := w.Header()
	h.Set("Content-Type", "application/jwk-set+json")
	// Public: the keys are public. The max-age is short because a key set also carries news
	// (a pruned key, a new next key), and the next key makes a short cache cheap.
	h.Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(DefaultMaxAge/time.Second)))
	h.Set("ETag", doc.etag)
	// ServeContent answers If-None-Match with 304 and HEAD without a body.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(doc.body))
}
