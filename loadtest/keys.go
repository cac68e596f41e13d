package loadtest

import (
	"context"
	"sync"
	"time"

	"github.com/geofence/geofence/crypto/e2ee"
)

// keyring is a participant's meeting key and the openers and sealers that use it: a new epoch
// (the key server rotated the key because participants left, DESIGN.md section 8) is added to
// every opener, and every sealer moves to it, as a real client does.
type keyring struct {
	mu      sync.Mutex
	key     e2ee.EpochKey
	openers []Opener
	sealers []Sealer
	onRekey func() // the session's rekeyed signal, after the sealers moved
	epochs  int    // epochs held after the first
	poke    chan struct{}
}

func newKeyring(key e2ee.EpochKey) *keyring {
	return &keyring{key: key, poke: make(chan struct{}, 1)}
}

func (k *keyring) current() e2ee.EpochKey {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.key
}

func (k *keyring) addOpener(o Opener) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.openers = append(k.openers, o)
	if k.key.IsZero() {
		return nil // an e2ee participant before the leader's first key: update adds it
	}
	return o.AddEpoch(k.key)
}

func (k *keyring) addSealer(s Sealer) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.sealers = append(k.sealers, s)
}

// update takes key when it is of a later epoch.
func (k *keyring) update(key e2ee.EpochKey) error {
	k.mu.Lock()
	if key.Epoch() <= k.key.Epoch() {
		k.mu.Unlock()
		return nil
	}
	if !k.key.IsZero() {
		k.epochs++ // the first key of an e2ee participant is not a rotation
	}
	k.key = key
	var err error
	for _, o := range k.openers {
		if e := o.AddEpoch(key); e != nil && err == nil {
			err = e
		}
	}
	for _, s := range k.sealers {
		if e := s.Rekey(key); e != nil && err == nil {
			err = e
		}
	}
	rekeyed := k.onRekey != nil && len(k.sealers) > 0
	k.mu.Unlock()
	if rekeyed {
		k.onRekey()
	}
	return err
}

// wake asks for the key again (a frame of an epoch not held arrived); it never blocks.
func (k *keyring) wake() {
	select {
	case k.poke <- struct{}{}:
	default:
	}
}

// refresh fetches the key again at rotateAt and whenever woken (at most once a second),
// until ctx ends.
func (k *keyring) refresh(ctx context.Context, rotateAt time.Time, fetch func(context.Context) (e2ee.EpochKey, time.Time, error), log func(error)) {
	var timer <-chan time.Time
	arm := func(at time.Time) {
		timer = nil
		if !at.IsZero() {
			timer = time.After(max(time.Until(at), 0))
		}
	}
	arm(rotateAt)
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer:
		case <-k.poke:
			if time.Since(last) < time.Second {
				continue
			}
		}
		last = time.Now()
		key, at, err := fetch(ctx)
		if err != nil {
			log(err)
			arm(time.Now().Add(time.Second))
			continue
		}
		if err := k.update(key); err != nil {
			log(err)
		}
		arm(at)
	}
}
