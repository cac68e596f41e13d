package mediaprofile

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/geofence/geofence/crypto/e2ee"
	"github.com/geofence/geofence/crypto/sframe"
)

// ErrTooManySenders reports a frame of a new sending session in an epoch that already has
// Config.MaxSenders sessions.
var ErrTooManySenders = errors.New("mediaprofile: open: too many sending sessions in the epoch")

// Receiver opens the frames of every sender of a meeting, with the keys of up to
// Config.MaxEpochs epochs at once. It derives each sender's key from the frame's KID and the
// epoch key the first time a frame of that sender authenticates. It is safe for concurrent use;
// calls are serialized.
type Receiver struct {
	cfg    Config
	mu     sync.Mutex
	rx     sframe.Receiver
	epochs []*epochKeys // oldest first
}

type epochKeys struct {
	epoch uint64
	key   []byte
	gens  map[KID]struct{} // the sending sessions added to rx
}

// NewReceiver returns a Receiver with no epoch keys.
func NewReceiver(cfg Config) *Receiver {
	r := &Receiver{cfg: cfg}
	// A receiver that joins meets a sender at any step, and reaches it from step 0.
	r.rx.MaxRatchetSteps = maxStep
	return r
}

// AddEpoch adds the key of an epoch. When more than Config.MaxEpochs epochs would be held, the
// oldest is forgotten; an epoch whose low 8 bits are those of key's epoch (256 or more epochs
// older or newer) is forgotten too, since a KID could not tell them apart. Adding an epoch that
// is already held with the same key does nothing; with another key it is an error.
func (r *Receiver) AddEpoch(key e2ee.EpochKey) error {
	if key.IsZero() {
		return errors.New("mediaprofile: add epoch: no epoch key")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.epochs {
		if e.epoch == key.Epoch() {
			if k, err := e2ee.NewEpochKey(e.epoch, e.key); err == nil && k.Equal(key) {
				return nil
			}
			return fmt.Errorf("mediaprofile: add epoch %d: already held with another key; remove it first", key.Epoch())
		}
	}
	for _, e := range r.epochs {
		if uint8(e.epoch) == uint8(key.Epoch()) {
			r.remove(e.epoch)
			break
		}
	}
	r.epochs = append(r.epochs, &epochKeys{epoch: key.Epoch(), key: key.Bytes(), gens: map[KID]struct{}{}})
	slices.SortFunc(r.epochs, func(a, b *epochKeys) int {
		switch {
		case a.epoch < b.epoch:
			return -1
		case a.epoch > b.epoch:
			return 1
		}
		return 0
	})
	for len(r.epochs) > r.cfg.maxEpochs() {
		r.remove(r.epochs[0].epoch)
	}
	return nil
}

// RemoveEpoch forgets an epoch's key and every sender key derived from it: its frames then
// fail with ErrUnknownEpoch.
func (r *Receiver) RemoveEpoch(epoch uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.remove(epoch)
}

func (r *Receiver) remove(epoch uint64) {
	i := slices.IndexFunc(r.epochs, func(e *epochKeys) bool { return e.epoch == epoch })
	if i < 0 {
		return
	}
	e := r.epochs[i]
	for g := range e.gens {
		r.rx.RemoveKey(uint64(g))
	}
	clear(e.key)
	r.epochs = slices.Delete(r.epochs, i, i+1)
}

// Epochs returns the epochs held, oldest first.
func (r *Receiver) Epochs() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]uint64, len(r.epochs))
	for i, e := range r.epochs {
		out[i] = e.epoch
	}
	return out
}

// Open checks and decrypts a wire frame sealed under codec's rule, appends the frame (prefix
// and decrypted rest) to dst and returns the extended slice.
//
// wire is untrusted: Open never panics on it. It fails with ErrMalformed, ErrUnknownEpoch,
// ErrAuth, ErrReplay or ErrTooManySenders, unwrapped, returning nil. dst may be wire[:0] to
// open in place (wire is then overwritten, even when Open fails). Open does not allocate when
// dst has room and the sender is known.
func (r *Receiver) Open(dst []byte, codec Codec, wire []byte) ([]byte, error) {
	n, err := codec.PrefixLen(wire)
	if err != nil {
		if err == errUnknownCodec {
			return nil, err
		}
		return nil, ErrMalformed
	}
	h, _, err := sframe.ParseHeader(wire[n:])
	if err != nil {
		return nil, ErrMalformed
	}
	kid := KID(h.KID)
	r.mu.Lock()
	defer r.mu.Unlock()
	var e *epochKeys
	for _, c := range r.epochs {
		if uint8(c.epoch) == kid.EpochBits() {
			e = c
			break
		}
	}
	if e == nil {
		return nil, ErrUnknownEpoch
	}
	gen := kid.Generation()
	_, known := e.gens[gen]
	if !known {
		if len(e.gens) >= r.cfg.maxSenders() {
			return nil, ErrTooManySenders
		}
		base, err := SenderBaseKey(r.cfg.suite(), e.epoch, e.key, gen)
		if err != nil {
			return nil, ErrUnknownEpoch
		}
		err = r.rx.AddRatchetKey(r.cfg.suite(), uint64(gen), RatchetBits, base)
		clear(base)
		if err != nil {
			return nil, ErrUnknownEpoch
		}
	}
	out, err := r.rx.Decrypt(append(dst, wire[:n]...), wire[:n], wire[n:])
	if err != nil {
		if !known {
			// Keep only senders whose frames authenticate, so forged KIDs hold no memory.
			r.rx.RemoveKey(uint64(gen))
		}
		switch {
		case errors.Is(err, sframe.ErrUnknownKID):
			return nil, ErrUnknownEpoch
		case errors.Is(err, sframe.ErrMalformed):
			return nil, ErrMalformed
		}
		return nil, err
	}
	if !known {
		e.gens[gen] = struct{}{}
	}
	return out, nil
}
