package sframe

import (
	"fmt"
	"slices"
	"sync"
)

// defaultMaxRatchetSteps is Receiver.MaxRatchetSteps when it is zero.
const defaultMaxRatchetSteps = 16

// Receiver decrypts SFrame ciphertexts with the keys of one KID space, the "SFrame context" of
// RFC 9605 appendix A. Keys are added as static keys (AddKey, section 4.4.1) or as the current
// step of a sender's ratchet (AddRatchetKey, section 5.1), which the Receiver then follows forward.
//
// The zero value is an empty Receiver ready to use. A Receiver is safe for concurrent use;
// calls are serialized.
type Receiver struct {
	// MaxRatchetSteps is the furthest a single frame may move a sender's ratchet forward
	// (section 5.1). Every step is an HKDF computation done before the frame is known to be
	// authentic, so this bounds the work a forged KID can cause. Zero means 16; it is also never
	// more than 2^R-1 for a sender with R ratchet bits. Set it before the first Decrypt.
	MaxRatchetSteps int

	mu     sync.Mutex
	keys   map[uint64]*rxKey
	chains []*chain
	last   *rxKey // one-entry cache in front of keys: the key of the last good frame
	aad    []byte // scratch: header || metadata, when there is metadata
}

// rxKey is a key usable for decryption only (section 4.4.1), with its replay window.
type rxKey struct {
	key
	kid    uint64
	window replayWindow
	chain  *chain // nil for a static key
}

// chain is one sender's ratchet (section 5.1): every KID whose high 64-R bits equal gen's.
type chain struct {
	suite Suite
	mask  uint64 // the R ratchet-step bits of the KID
	gen   uint64 // the KID with its ratchet-step bits cleared
	base  []byte // base key of cur
	cur   *rxKey // latest step
	prev  *rxKey // the step before cur, kept for late frames until cur reaches CTR 128; may be nil
}

func (c *chain) contains(kid uint64) bool { return kid&^c.mask == c.gen }

// AddKey adds a decryption key: frames with kid are decrypted with baseKey under suite. The
// Receiver keeps no copy of baseKey. It fails with ErrDuplicateKID if kid is already covered by a
// key or a ratchet; RemoveKey it first.
func (r *Receiver) AddKey(suite Suite, kid uint64, baseKey []byte) error {
	if err := checkKey("add key", suite, baseKey); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.covered(kid) {
		return fmt.Errorf("sframe: add key for KID %d: %w", kid, ErrDuplicateKID)
	}
	k, err := newRxKey(suite, kid, baseKey)
	if err != nil {
		return fmt.Errorf("sframe: add key for KID %d: %w", kid, err)
	}
	r.put(k)
	return nil
}

// AddRatchetKey adds a sender of the section 5.1 scheme, as a receiver that joins learns it:
// kid is the sender's current KID (key generation in the high 64-ratchetBits bits, ratchet step
// in the low ratchetBits bits) and baseKey its current base key. Later ratchet steps of the same
// generation are then accepted as they arrive; the step before the latest stays usable for late
// frames until the latest has accepted a CTR of ReplayWindow or more, older ones are erased. It fails with ErrDuplicateKID if any KID of that generation is
// already covered.
func (r *Receiver) AddRatchetKey(suite Suite, kid uint64, ratchetBits int, baseKey []byte) error {
	if err := checkRatchetBits("add ratchet key", ratchetBits); err != nil {
		return err
	}
	if err := checkKey("add ratchet key", suite, baseKey); err != nil {
		return err
	}
	mask := ratchetMask(uint(ratchetBits))
	c := &chain{suite: suite, mask: mask, gen: kid &^ mask}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, o := range r.chains {
		// KID ranges of chains are aligned powers of two: they nest or are disjoint.
		if o.contains(c.gen) || c.contains(o.gen) {
			return fmt.Errorf("sframe: add ratchet key for KID %d: generation overlaps the ratchet of KID %d: %w", kid, o.cur.kid, ErrDuplicateKID)
		}
	}
	for k := range r.keys {
		if c.contains(k) {
			return fmt.Errorf("sframe: add ratchet key for KID %d: generation covers KID %d: %w", kid, k, ErrDuplicateKID)
		}
	}
	k, err := newRxKey(suite, kid, baseKey)
	if err != nil {
		return fmt.Errorf("sframe: add ratchet key for KID %d: %w", kid, err)
	}
	c.base = append([]byte(nil), baseKey...)
	c.cur, k.chain = k, c
	r.chains = append(r.chains, c)
	r.put(k)
	return nil
}

// RemoveKey forgets the key for kid. If kid belongs to a sender's ratchet, the whole ratchet
// (every step of that key generation) is forgotten and its base key erased.
func (r *Receiver) RemoveKey(kid uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last = nil
	if i := slices.IndexFunc(r.chains, func(c *chain) bool { return c.contains(kid) }); i >= 0 {
		c := r.chains[i]
		delete(r.keys, c.cur.kid)
		if c.prev != nil {
			delete(r.keys, c.prev.kid)
		}
		clear(c.base)
		r.chains = slices.Delete(r.chains, i, i+1)
		return
	}
	delete(r.keys, kid)
}

func newRxKey(suite Suite, kid uint64, baseKey []byte) (*rxKey, error) {
	k, err := newKey(suite, kid, baseKey)
	if err != nil {
		return nil, err
	}
	return &rxKey{key: *k, kid: kid}, nil
}

func (r *Receiver) covered(kid uint64) bool {
	if _, ok := r.keys[kid]; ok {
		return true
	}
	return r.chainFor(kid) != nil
}

func (r *Receiver) put(k *rxKey) {
	if r.keys == nil {
		r.keys = make(map[uint64]*rxKey)
	}
	r.keys[k.kid] = k
}

func (r *Receiver) chainFor(kid uint64) *chain {
	for _, c := range r.chains {
		if c.contains(kid) {
			return c
		}
	}
	return nil
}

// Decrypt decrypts one SFrame ciphertext (RFC 9605 section 4.4.4) with the key its KID selects
// and the metadata the sender authenticated, appends the plaintext to dst and returns the
// extended slice.
//
// ciphertext is untrusted: Decrypt never panics on it. It fails with ErrMalformed,
// ErrUnknownKID, ErrReplay or ErrAuth, returning nil and writing no plaintext into dst's
// spare capacity. Only a frame that authenticates moves the replay window or a ratchet.
//
// dst may be ciphertext[:0] to decrypt in place (the ciphertext is then overwritten, even when
// Decrypt fails). Decrypt does not allocate when dst has room.
func (r *Receiver) Decrypt(dst, metadata, ciphertext []byte) ([]byte, error) {
	h, hlen, err := ParseHeader(ciphertext)
	if err != nil {
		return nil, err
	}
	body := ciphertext[hlen:]
	r.mu.Lock()
	defer r.mu.Unlock()
	// aad = header || metadata (section 4.4.4). Without metadata it is the header in place,
	// which decrypting in place never overwrites.
	aad := ciphertext[:hlen]
	if len(metadata) > 0 {
		r.aad = append(append(r.aad[:0], aad...), metadata...)
		aad = r.aad
	}

	k := r.last
	if k == nil || k.kid != h.KID {
		k = r.keys[h.KID]
	}
	errKey := ErrUnknownKID
	if k != nil {
		out, err := r.open(k, h.CTR, dst, body, aad)
		if err == nil || err == errShortCiphertext || k.chain == nil || k == k.chain.cur {
			return out, err
		}
		// A frame for a retained older step failed. With R-bit steps its KID is also that of a
		// later step of the same sender, so it may be the first frame after a ratchet.
		errKey = err
	}
	c := r.chainFor(h.KID)
	if c == nil {
		return nil, errKey
	}
	out, err := r.ratchetOpen(c, h, dst, body, aad)
	if err != nil && k != nil {
		return nil, errKey // what the retained key said is the likelier truth
	}
	return out, err
}

// open authenticates and decrypts body with k, checking and then moving k's replay window.
func (r *Receiver) open(k *rxKey, ctr uint64, dst, body, aad []byte) ([]byte, error) {
	if len(body) < k.aead.Overhead() {
		return nil, errShortCiphertext
	}
	if !k.window.check(ctr) {
		return nil, ErrReplay
	}
	ret, out := sliceForAppend(dst, len(body)-k.aead.Overhead())
	nonce := k.nonceFor(ctr)
	if anyOverlap(out, body) || anyOverlap(out, aad) {
		// In place: open over the ciphertext body itself (an exact overlap the AEADs allow,
		// leaving the header, which may be the aad, intact), then slide the plaintext to where
		// the caller wants it.
		pt, err := k.aead.Open(body[:0], nonce, body, aad)
		if err != nil {
			return nil, ErrAuth
		}
		copy(out, pt)
	} else if _, err := k.aead.Open(out[:0], nonce, body, aad); err != nil {
		clear(out) // crypto/cipher's GCM already does; this keeps the promise for any AEAD
		return nil, ErrAuth
	}
	k.window.accept(ctr)
	r.last = k
	if k.chain != nil && k == k.chain.cur {
		r.dropStalePrev(k.chain)
	}
	return ret, nil
}

// dropStalePrev erases c's previous step once its current step is a replay window past its
// start: RFC 9605 section 5.1 says an old key "should be deleted promptly", and by then a frame
// of the previous step would be more reordered than the window tolerates anyway.
func (r *Receiver) dropStalePrev(c *chain) {
	if c.prev != nil && c.cur.window.top >= ReplayWindow {
		delete(r.keys, c.prev.kid)
		c.prev = nil
	}
}

// ratchetOpen tries a frame whose KID is a later ratchet step of c (section 5.1): it derives
// that step's base key and key and commits to them only if the frame authenticates, so a forged
// KID cannot move a sender's keys.
func (r *Receiver) ratchetOpen(c *chain, h Header, dst, body, aad []byte) ([]byte, error) {
	steps := (h.KID - c.cur.kid) & c.mask
	limit := uint64(defaultMaxRatchetSteps)
	if r.MaxRatchetSteps > 0 {
		limit = uint64(r.MaxRatchetSteps)
	}
	if steps == 0 || steps > limit {
		return nil, ErrUnknownKID
	}
	base := c.base
	for i := uint64(0); i < steps; i++ {
		next, err := ratchetBaseKey(c.suite, base)
		if i > 0 {
			clear(base)
		}
		if err != nil {
			return nil, ErrUnknownKID
		}
		base = next
	}
	k, err := newRxKey(c.suite, h.KID, base)
	if err != nil {
		clear(base)
		return nil, ErrUnknownKID
	}
	k.chain = c
	out, err := r.open(k, h.CTR, dst, body, aad)
	if err != nil {
		clear(base)
		return nil, err
	}
	// Keep one older step for late frames (section 5.1: "should be deleted promptly").
	if c.prev != nil {
		delete(r.keys, c.prev.kid)
	}
	c.prev, c.cur = c.cur, k
	clear(c.base)
	c.base = base
	r.put(k)
	r.dropStalePrev(c)
	return out, nil
}
