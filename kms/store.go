package kms

import (
	"errors"
	"sync"
	"time"
)

// Errors of the store's lookups.
var (
	errLeft         = errors.New("ticket was presented to leave")
	errNoKey        = errors.New("meeting has no key")
	errFutureEpoch  = errors.New("epoch is newer than the meeting's current epoch")
	errEpochDeleted = errors.New("epoch was superseded and its retention has passed")
)

// store holds every meeting's keys, sealed (never a plaintext key: see TestStoreHoldsNoPlainKey),
// and the tickets whose participants left. It is in memory and safe for concurrent use. Sealed
// values are never modified once stored, so a caller may keep one after the lock is released.
type store struct {
	mu       sync.Mutex
	meetings map[string]*meetingKeys
	// left maps the id (jti) of a ticket presented to leave to the time after which the
	// ticket is expired anyway and the entry can go.
	left map[string]time.Time
}

// meetingKeys is one meeting's current epoch and the superseded epochs still retained,
// oldest first, the current one last.
type meetingKeys struct {
	epochs []sealedKey
}

type sealedKey struct {
	epoch  uint64
	sealed []byte
	// expires is when a superseded epoch is deleted; zero for the current epoch.
	expires time.Time
}

func newStore() *store {
	return &store{meetings: make(map[string]*meetingKeys), left: make(map[string]time.Time)}
}

// newSealed makes and seals the key of a new epoch of a meeting.
type newSealed func(meeting string, epoch uint64) []byte

// current returns the meeting's current epoch and sealed key, creating epoch 1 when the
// meeting has none yet. It fails with errLeft when ticket was presented to leave: checked
// under the same lock as the lookup, so that a leave racing a key request with the same
// ticket cannot yield the epoch the leave created.
func (st *store) current(meeting, ticket string, now time.Time, create newSealed) (uint64, []byte, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, left := st.left[ticket]; left {
		return 0, nil, errLeft
	}
	mk := st.meetings[meeting]
	if mk == nil {
		mk = &meetingKeys{epochs: []sealedKey{{epoch: 1, sealed: create(meeting, 1)}}}
		st.meetings[meeting] = mk
	}
	mk.prune(now)
	cur := mk.epochs[len(mk.epochs)-1]
	return cur.epoch, cur.sealed, nil
}

// epoch returns the sealed key of the given epoch of a meeting: the current one or a
// superseded one still retained. It fails with errLeft as current does.
func (st *store) epoch(meeting, ticket string, epoch uint64, now time.Time) (sealed []byte, current uint64, err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, left := st.left[ticket]; left {
		return nil, 0, errLeft
	}
	mk := st.meetings[meeting]
	if mk == nil {
		return nil, 0, errNoKey
	}
	mk.prune(now)
	cur := mk.epochs[len(mk.epochs)-1].epoch
	if epoch > cur {
		return nil, cur, errFutureEpoch
	}
	for _, e := range mk.epochs {
		if e.epoch == epoch {
			return e.sealed, cur, nil
		}
	}
	return nil, cur, errEpochDeleted
}

// rotate supersedes the meeting's current epoch, to be deleted at now+retain, with a new one.
// A meeting without a key is left without one (rotated false, epoch 0): there is nothing to
// rotate away from. When ticket is already recorded as having left, nothing changes and the
// current epoch is returned, so that a retried leave does not rotate twice.
func (st *store) rotate(meeting, ticket string, ticketExpiry, now time.Time, retain time.Duration, create newSealed) (prev, next uint64, rotated bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	mk := st.meetings[meeting]
	if mk != nil {
		mk.prune(now)
		prev = mk.epochs[len(mk.epochs)-1].epoch
	}
	if _, again := st.left[ticket]; again {
		return prev, prev, false
	}
	st.left[ticket] = ticketExpiry
	if mk == nil {
		return 0, 0, false
	}
	next = prev + 1
	mk.epochs[len(mk.epochs)-1].expires = now.Add(retain)
	mk.epochs = append(mk.epochs, sealedKey{epoch: next, sealed: create(meeting, next)})
	return prev, next, true
}

// sweep deletes the superseded epochs whose retention has passed, and forgets the left
// tickets that have expired anyway. It returns the number of epochs deleted.
func (st *store) sweep(now time.Time) int {
	st.mu.Lock()
	defer st.mu.Unlock()
	n := 0
	for _, mk := range st.meetings {
		n += mk.prune(now)
	}
	for id, exp := range st.left {
		if !now.Before(exp) {
			delete(st.left, id)
		}
	}
	return n
}

// len returns the number of meetings with a key.
func (st *store) len() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.meetings)
}

// prune deletes the superseded epochs whose retention has passed and returns how many.
func (mk *meetingKeys) prune(now time.Time) int {
	i := 0
	// Only superseded epochs (all but the last) carry an expiry.
	for i < len(mk.epochs)-1 && !now.Before(mk.epochs[i].expires) {
		i++
	}
	if i > 0 {
		mk.epochs = append(mk.epochs[:0], mk.epochs[i:]...)
	}
	return i
}
