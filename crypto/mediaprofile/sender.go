package mediaprofile

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/geofence/geofence/crypto/e2ee"
	"github.com/geofence/geofence/crypto/sframe"
)

// Config is the profile's settings; both ends of a meeting must use the same Suite.
// The zero value is the default.
type Config struct {
	// Suite is the SFrame cipher suite. Zero means sframe.DefaultSuite,
	// AES_256_GCM_SHA512_128 (RFC 9605 section 4.5, invariant I5).
	Suite sframe.Suite
	// Rand is the source of sending-session identifiers. Nil means crypto/rand.
	Rand io.Reader
	// MaxEpochs is how many epochs a Receiver holds keys for at once, for the overlap of a
	// re-key; adding one more forgets the oldest. Zero means 3.
	MaxEpochs int
	// MaxSenders bounds the sending sessions a Receiver keeps keys for in one epoch. Only
	// sessions whose frames authenticate are kept. Zero means 1024.
	MaxSenders int
}

func (c Config) suite() sframe.Suite {
	if c.Suite == 0 {
		return sframe.DefaultSuite
	}
	return c.Suite
}

func (c Config) maxEpochs() int {
	if c.MaxEpochs <= 0 {
		return 3
	}
	return c.MaxEpochs
}

func (c Config) maxSenders() int {
	if c.MaxSenders <= 0 {
		return 1024
	}
	return c.MaxSenders
}

// Sender seals the frames of one sending session: one participant's media in a meeting.
// It is safe for concurrent use; calls are serialized.
type Sender struct {
	cfg   Config
	mu    sync.Mutex
	epoch uint64
	ek    []byte // the epoch key, kept to start a new session when the ratchet runs out
	kid   KID
	tx    *sframe.Sender
}

// NewSender returns a Sender for a new sending session, with a fresh random session
// identifier, in the epoch of key (a managed meeting key from the key server or an E2EE epoch
// key).
func NewSender(key e2ee.EpochKey, cfg Config) (*Sender, error) {
	s := &Sender{cfg: cfg}
	if err := s.rekey(key); err != nil {
		return nil, fmt.Errorf("mediaprofile: new sender: %w", err)
	}
	return s, nil
}

// Rekey moves the Sender to the epoch of key, with a new sending session; every receiver must
// have been given key first (Receiver.AddEpoch), or the frames fail with ErrUnknownEpoch until
// it is. The previous epoch's keys are erased.
func (s *Sender) Rekey(key e2ee.EpochKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.rekey(key); err != nil {
		return fmt.Errorf("mediaprofile: rekey: %w", err)
	}
	return nil
}

func (s *Sender) rekey(key e2ee.EpochKey) error {
	if key.IsZero() {
		return errors.New("no epoch key")
	}
	ek := key.Bytes()
	if err := s.startSession(key.Epoch(), ek); err != nil {
		clear(ek)
		return err
	}
	clear(s.ek)
	s.epoch, s.ek = key.Epoch(), ek
	return nil
}

// startSession draws a new session identifier and builds its step-0 SFrame sender. A fresh
// identifier for every session keeps (key, CTR) from repeating when a participant rejoins, or
// its sender restarts, within one epoch (RFC 9605 section 9.1).
func (s *Sender) startSession(epoch uint64, ek []byte) error {
	r := s.cfg.Rand
	if r == nil {
		r = rand.Reader
	}
	var b [8]byte
	if _, err := io.ReadFull(r, b[2:]); err != nil {
		return fmt.Errorf("session identifier: %w", err)
	}
	kid := MakeKID(epoch, binary.BigEndian.Uint64(b[:]), 0)
	base, err := SenderBaseKey(s.cfg.suite(), epoch, ek, kid)
	if err != nil {
		return err
	}
	defer clear(base)
	tx, err := sframe.NewRatchetSender(s.cfg.suite(), uint64(kid), RatchetBits, base)
	if err != nil {
		return err
	}
	s.kid, s.tx = kid, tx
	return nil
}

// Ratchet moves the Sender's key one RFC 9605 section 5.1 ratchet step forward, erasing the
// current one: a key taken from the sender after this cannot decrypt the frames sent before.
// Receivers follow on the next frame, without signalling. After step 255 the Sender starts a
// new session instead, since a step never wraps.
func (s *Sender) Ratchet() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kid.Step() == maxStep {
		if err := s.startSession(s.epoch, s.ek); err != nil {
			return fmt.Errorf("mediaprofile: ratchet: %w", err)
		}
		return nil
	}
	if err := s.tx.Ratchet(); err != nil {
		return fmt.Errorf("mediaprofile: ratchet: %w", err)
	}
	s.kid = KID(s.tx.KID())
	return nil
}

// KID returns the KID of the next frame.
func (s *Sender) KID() KID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kid
}

// Epoch returns the epoch the Sender seals in.
func (s *Sender) Epoch() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.epoch
}

// Seal encrypts frame under codec's rule, appends the wire frame, prefix || SFrame
// ciphertext, to dst and returns the extended slice. The prefix is the SFrame metadata: sent
// in clear and authenticated (RFC 9605 section 4.4.3).
//
// dst may be frame[:0] to seal in place, given room for Overhead more bytes. Seal does not
// allocate when dst has room. It fails with ErrShortFrame for a frame shorter than its prefix.
func (s *Sender) Seal(dst []byte, codec Codec, frame []byte) ([]byte, error) {
	n, err := codec.PrefixLen(frame)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	tx := s.tx
	s.mu.Unlock()
	// copy is a memmove, so appending the prefix in place writes it over itself.
	dst = append(dst, frame[:n]...)
	return tx.Encrypt(dst, frame[:n], frame[n:])
}

// Overhead is the most a wire frame is longer than its frame: a 64-bit KID and a 64-bit CTR
// in the SFrame header (RFC 9605 section 4.3) and the suite's tag.
func (s *Sender) Overhead() int { return sframe.MaxHeaderLen + s.cfg.suite().Overhead() }
