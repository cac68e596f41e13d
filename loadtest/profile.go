package loadtest

import (
	"errors"
	"fmt"
	"sync"

	"github.com/geofence/geofence/crypto/sframe"
)

// Profile is the media profile of DESIGN.md section 8 as the load test uses it: a frame's
// codec header stays in clear and is SFrame's authenticated metadata, and the rest is
// encrypted, so a sealed frame is header || SFrame ciphertext.
type Profile interface {
	// NewSealer returns the sealer of the sender with this index in the meeting.
	NewSealer(sender uint64) (Sealer, error)
	// NewOpener returns an opener of every sender's frames.
	NewOpener() (Opener, error)
}

// Sealer encrypts one sender's frames.
type Sealer interface {
	// Seal appends the sealed frame to dst.
	Seal(dst []byte, k Kind, frame []byte) ([]byte, error)
}

// Opener decrypts frames; sealed is untrusted.
type Opener interface {
	// Open appends the opened frame (codec header and plaintext) to dst.
	Open(dst []byte, k Kind, sealed []byte) ([]byte, error)
}

// SFrameProfile is the media profile over package sframe, with per-sender keys from the
// meeting key: sender i of epoch e uses KID e<<16 | i, and RFC 9605 section 4.4.2 binds the
// KID into the key and salt derived from the meeting key, so no two senders share a key.
type SFrameProfile struct {
	// Key is the meeting key of the epoch (32 bytes, I5). Required.
	Key []byte
	// Epoch is the key's epoch.
	Epoch uint64
	// Suite is the SFrame suite; 0: sframe.DefaultSuite (AES-256-GCM).
	Suite sframe.Suite
}

var _ Profile = (*SFrameProfile)(nil)

// maxSenders bounds the KIDs an opener derives keys for.
const maxSenders = 1 << 16

func (p *SFrameProfile) suite() sframe.Suite {
	if p.Suite == 0 {
		return sframe.DefaultSuite
	}
	return p.Suite
}

func (p *SFrameProfile) kid(sender uint64) uint64 { return p.Epoch<<16 | sender }

// NewSealer implements Profile.
func (p *SFrameProfile) NewSealer(sender uint64) (Sealer, error) {
	if sender >= maxSenders {
		return nil, fmt.Errorf("media profile: sender %d: at most %d senders", sender, maxSenders)
	}
	s, err := sframe.NewSender(p.suite(), p.kid(sender), p.Key)
	if err != nil {
		return nil, fmt.Errorf("media profile: %w", err)
	}
	return sealer{s}, nil
}

// NewOpener implements Profile.
func (p *SFrameProfile) NewOpener() (Opener, error) {
	if len(p.Key) == 0 {
		return nil, errors.New("media profile: no meeting key")
	}
	return &opener{p: p, r: &sframe.Receiver{}, known: map[uint64]bool{}}, nil
}

type sealer struct{ s *sframe.Sender }

func (s sealer) Seal(dst []byte, k Kind, frame []byte) ([]byte, error) {
	h := HeaderLen(k, frame)
	if h == 0 || h > len(frame) {
		return nil, fmt.Errorf("media profile: seal: %s frame of %d bytes: %w", k, len(frame), ErrShortFrame)
	}
	dst = append(dst, frame[:h]...)
	return s.s.Encrypt(dst, frame[:h], frame[h:])
}

type opener struct {
	p     *SFrameProfile
	mu    sync.Mutex
	r     *sframe.Receiver
	known map[uint64]bool
}

// Open decrypts a frame of any sender of the meeting's epoch: the key of a KID seen for the
// first time is derived then, and only KIDs of this epoch and of at most maxSenders senders
// are accepted, so a forged frame cannot make the opener derive keys without bound.
func (o *opener) Open(dst []byte, k Kind, sealed []byte) ([]byte, error) {
	h := HeaderLen(k, sealed)
	if h == 0 || h >= len(sealed) {
		return nil, fmt.Errorf("media profile: open: %s frame of %d bytes: %w", k, len(sealed), ErrShortFrame)
	}
	hdr, _, err := sframe.ParseHeader(sealed[h:])
	if err != nil {
		return nil, fmt.Errorf("media profile: open: %w", err)
	}
	if hdr.KID>>16 != o.p.Epoch {
		return nil, fmt.Errorf("media profile: open: KID %d is not of epoch %d: %w", hdr.KID, o.p.Epoch, sframe.ErrUnknownKID)
	}
	if err := o.ensure(hdr.KID); err != nil {
		return nil, err
	}
	dst = append(dst, sealed[:h]...)
	out, err := o.r.Decrypt(dst, sealed[:h], sealed[h:])
	if err != nil {
		return nil, fmt.Errorf("media profile: open: %w", err)
	}
	return out, nil
}

func (o *opener) ensure(kid uint64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.known[kid] {
		return nil
	}
	if err := o.r.AddKey(o.p.suite(), kid, o.p.Key); err != nil {
		return fmt.Errorf("media profile: open: %w", err)
	}
	o.known[kid] = true
	return nil
}
