package sframe

import (
	"fmt"
	"math"
	"sync"
)

// maxPlaintext is the largest frame AES-GCM can encrypt under one nonce (2^32-2 blocks); the
// same limit is applied to every suite.
const maxPlaintext = (1<<32 - 2) * 16

// Sender encrypts frames with one KID's key (RFC 9605 section 4.4.1: a key usable for
// encryption only). Its counter starts at 0, goes up by one per frame and never repeats or
// wraps (sections 7.4 and 9.1).
//
// A Sender is safe for concurrent use; calls are serialized.
type Sender struct {
	mu        sync.Mutex
	suite     Suite
	kid       uint64
	k         *key
	next      uint64             // CTR of the next frame
	exhausted bool               // every CTR has been used: next is meaningless
	hdr       [MaxHeaderLen]byte // scratch: the header being sent
	aad       []byte             // scratch: header || metadata

	// Section 5.1 ratchet; bits is 0 for a Sender made by NewSender.
	bits uint
	base []byte // base_key of the current ratchet step
}

// NewSender returns a Sender that encrypts with base key baseKey under kid, with suite.
// The Sender keeps no copy of baseKey. Use NewRatchetSender for the sender keys of RFC 9605
// section 5.1.
func NewSender(suite Suite, kid uint64, baseKey []byte) (*Sender, error) {
	return newSender("new sender", suite, kid, baseKey)
}

func newSender(op string, suite Suite, kid uint64, baseKey []byte) (*Sender, error) {
	if err := checkKey(op, suite, baseKey); err != nil {
		return nil, err
	}
	k, err := newKey(suite, kid, baseKey)
	if err != nil {
		return nil, fmt.Errorf("sframe: %s: %w", op, err)
	}
	return &Sender{suite: suite, kid: kid, k: k}, nil
}

// NewRatchetSender returns a Sender for the sender-key scheme of RFC 9605 section 5.1:
// kid is the current KID, its high 64-ratchetBits bits the key generation and its low
// ratchetBits bits the ratchet step (modulo 2^ratchetBits), and baseKey is the base key of that
// step. ratchetBits (R) is 1 to 64; every receiver of this sender must use the same R.
func NewRatchetSender(suite Suite, kid uint64, ratchetBits int, baseKey []byte) (*Sender, error) {
	if err := checkRatchetBits("new ratchet sender", ratchetBits); err != nil {
		return nil, err
	}
	s, err := newSender("new ratchet sender", suite, kid, baseKey)
	if err != nil {
		return nil, err
	}
	s.bits = uint(ratchetBits)
	s.base = append([]byte(nil), baseKey...)
	return s, nil
}

func checkRatchetBits(op string, bits int) error {
	if bits < 1 || bits > 64 {
		return fmt.Errorf("sframe: %s: ratchet bits %d out of range: want 1 to 64", op, bits)
	}
	return nil
}

// ratchetMask returns the KID bits that carry the ratchet step.
func ratchetMask(bits uint) uint64 {
	if bits >= 64 {
		return math.MaxUint64
	}
	return 1<<bits - 1
}

// Suite returns the Sender's cipher suite.
func (s *Sender) Suite() Suite { return s.suite }

// KID returns the KID the next frame is sent with.
func (s *Sender) KID() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kid
}

// NextCounter returns the CTR the next frame will carry, for an application that persists its
// SFrame context (RFC 9605 section 9.1), or ErrCounterExhausted when none is left.
func (s *Sender) NextCounter() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exhausted {
		return 0, ErrCounterExhausted
	}
	return s.next, nil
}

// AdvanceCounter makes next the CTR of the next frame, for example to resume from a value
// persisted under RFC 9605 section 9.1. It only moves forward: a CTR below the current one
// might already have been used, and is refused.
func (s *Sender) AdvanceCounter(next uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exhausted {
		return ErrCounterExhausted
	}
	if next < s.next {
		return fmt.Errorf("sframe: advance counter to %d: below the next counter %d, which would reuse nonces", next, s.next)
	}
	s.next = next
	return nil
}

// Ratchet moves a Sender made by NewRatchetSender to its next ratchet step (RFC 9605 section
// 5.1): the base key becomes HKDF-Expand(HKDF-Extract("", base_key), "SFrame 1.0 Ratchet", Nh),
// the ratchet step in the KID goes up by one (modulo 2^R) and the counter restarts at 0, which is
// safe because the base key is new. The previous base key is erased. Receivers follow on the
// first frame they authenticate with the new KID.
func (s *Sender) Ratchet() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bits == 0 {
		return fmt.Errorf("sframe: ratchet: sender for KID %d was not created with NewRatchetSender", s.kid)
	}
	base, err := ratchetBaseKey(s.suite, s.base)
	if err != nil {
		return fmt.Errorf("sframe: ratchet: %w", err)
	}
	mask := ratchetMask(s.bits)
	kid := s.kid&^mask | (s.kid+1)&mask
	k, err := newKey(s.suite, kid, base)
	if err != nil {
		clear(base)
		return fmt.Errorf("sframe: ratchet: %w", err)
	}
	clear(s.base)
	s.base, s.kid, s.k = base, kid, k
	s.next, s.exhausted = 0, false
	return nil
}

// Encrypt encrypts plaintext as one SFrame ciphertext (RFC 9605 section 4.4.3), header ||
// AEAD.Encrypt(sframe_key, nonce, header || metadata, plaintext), appends it to dst and returns
// the extended slice. metadata is authenticated but not sent; the receiver must pass the same.
//
// dst may be plaintext[:0] to encrypt in place, given room for the header and tag (MaxHeaderLen
// plus Suite.Overhead bytes). Encrypt does not allocate when dst has room.
//
// It fails with ErrCounterExhausted once every CTR has been used; it never reuses one.
func (s *Sender) Encrypt(dst, metadata, plaintext []byte) ([]byte, error) {
	if uint64(len(plaintext)) > maxPlaintext {
		return nil, fmt.Errorf("sframe: encrypt: frame of %d bytes exceeds the %d-byte limit", len(plaintext), uint64(maxPlaintext))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exhausted {
		return nil, ErrCounterExhausted
	}
	ctr := s.next
	hlen := Header{KID: s.kid, CTR: ctr}.put(&s.hdr)
	hdr := s.hdr[:hlen]
	n := len(plaintext)
	ret, out := sliceForAppend(dst, hlen+n+s.k.aead.Overhead())

	// aad = header || metadata (section 4.4.3), gathered before out is written in case
	// metadata shares its memory.
	aad := hdr
	if len(metadata) > 0 {
		s.aad = append(append(s.aad[:0], hdr...), metadata...)
		aad = s.aad
	}
	if anyOverlap(out, plaintext) {
		// In place: slide the plaintext past the header (copy is a memmove).
		copy(out[hlen:hlen+n], plaintext)
		plaintext = out[hlen : hlen+n]
	}
	copy(out, hdr)
	s.k.aead.Seal(out[hlen:hlen], s.k.nonceFor(ctr), plaintext, aad)

	if ctr == math.MaxUint64 {
		s.exhausted = true
	} else {
		s.next = ctr + 1
	}
	return ret, nil
}
