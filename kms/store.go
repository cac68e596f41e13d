package kms

import (
	"errors"
	"sync"
	"time"

	"github.com/geofence/geofence/wire"
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
//
// Rotations are rate-limited per meeting (DESIGN.md section 8): a leave rotates at once when
// the meeting's current epoch did not begin with a rotation less than interval ago; otherwise
// it schedules one rotation at the end of that interval, which every other leave until then
// joins. A pending rotation happens at the first look at the meeting at or after its time (a
// key request, a leave, a sweep), and is dated at its scheduled time, so that the epochs a
// meeting goes through depend only on when its participants left, not on when someone asked.
type store struct {
	create   newSealed
	retain   time.Duration
	interval time.Duration

	mu       sync.Mutex
	meetings map[string]*meetingKeys
	// left maps the id (jti) of a ticket presented to leave to the time after which the
	// ticket is expired anyway and the entry can go.
	left map[string]time.Time
	// rotated are the rotations made since the last takeRotations, for the log and metrics.
	rotated []rotation
}

// meetingKeys is one meeting's current epoch and the superseded epochs still retained,
// oldest first, the current one last, and its pending rotation.
type meetingKeys struct {
	epochs []sealedKey
	// rotated is when the current epoch began with a rotation; zero while it is the first.
	rotated time.Time
	// rotateAt, when set, is when the pending rotation starts the next epoch.
	rotateAt time.Time
	// leaves counts the leaves the pending rotation covers.
	leaves int
	// holders and recipients are kept by the shared store only (sharedStore.record).
	holders    []string
	recipients []wire.Context
}

type sealedKey struct {
	epoch  uint64
	sealed []byte
	// expires is when a superseded epoch is deleted; zero for the current epoch.
	expires time.Time
}

// rotation is a meeting moved to a new epoch.
type rotation struct {
	meeting    string
	prev, next uint64
	at         time.Time
	leaves     int // the leaves it covers
}

// newSealed makes and seals the key of a new epoch of a meeting.
type newSealed func(meeting string, epoch uint64) []byte

func newStore(create newSealed, retain, interval time.Duration) *store {
	return &store{create: create, retain: retain, interval: interval,
		meetings: make(map[string]*meetingKeys), left: make(map[string]time.Time)}
}

// current returns the meeting's current epoch, its sealed key and the time of a pending
// rotation (zero when none), creating epoch 1 when the meeting has none yet. It fails with
// errLeft when ticket was presented to leave: checked under the same lock as the lookup, so
// that a leave racing a key request with the same ticket cannot yield the epoch the leave
// created.
func (st *store) current(meeting, ticket string, now time.Time) (epoch uint64, sealed []byte, rotateAt time.Time, err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, left := st.left[ticket]; left {
		return 0, nil, time.Time{}, errLeft
	}
	mk := st.meetings[meeting]
	if mk == nil {
		mk = &meetingKeys{epochs: []sealedKey{{epoch: 1, sealed: st.create(meeting, 1)}}}
		st.meetings[meeting] = mk
	}
	st.catchUpLocked(meeting, mk, now)
	cur := mk.epochs[len(mk.epochs)-1]
	return cur.epoch, cur.sealed, mk.rotateAt, nil
}

// epoch returns the sealed key of the given epoch of a meeting, the current one or a
// superseded one still retained, with the current epoch and the time of a pending rotation.
// It fails with errLeft as current does.
func (st *store) epoch(meeting, ticket string, epoch uint64, now time.Time) (sealed []byte, current uint64, rotateAt time.Time, err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, left := st.left[ticket]; left {
		return nil, 0, time.Time{}, errLeft
	}
	mk := st.meetings[meeting]
	if mk == nil {
		return nil, 0, time.Time{}, errNoKey
	}
	st.catchUpLocked(meeting, mk, now)
	sealed, cur, err := mk.lookup(epoch)
	return sealed, cur, mk.rotateAt, err
}

// Outcomes of a leave: the "outcome" label of geofence_kms_leaves_total.
const (
	leaveRotated   = "rotated"   // the meeting rotated at once
	leaveCoalesced = "coalesced" // joined the rotation pending at the end of the interval
	leaveRepeated  = "repeated"  // the ticket had left already: nothing changed
	leaveNoKey     = "no_key"    // the meeting has no key here: nothing to rotate
	// leaveUnavailable: the shared key store could not be reached; nothing was recorded.
	leaveUnavailable = "unavailable"
)

var leaveOutcomes = []string{leaveRotated, leaveCoalesced, leaveRepeated, leaveNoKey, leaveUnavailable}

// leave retires ticket until ticketExpiry and rotates its meeting away from the epoch the
// leaver holds: at once, or coalesced into the rotation at the end of the interval (see
// store). It returns the meeting's epoch after (0 when it has no key), the time of the
// pending rotation (zero when none) and the outcome. When ticket had left already nothing
// changes, so that a retried leave does not rotate twice.
func (st *store) leave(meeting, ticket string, ticketExpiry, now time.Time) (epoch uint64, rotateAt time.Time, outcome string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	mk := st.meetings[meeting]
	if mk != nil {
		st.catchUpLocked(meeting, mk, now)
		epoch, rotateAt = mk.epochs[len(mk.epochs)-1].epoch, mk.rotateAt
	}
	if _, again := st.left[ticket]; again {
		return epoch, rotateAt, leaveRepeated
	}
	st.left[ticket] = ticketExpiry
	if mk == nil {
		return 0, time.Time{}, leaveNoKey
	}
	epoch, rotateAt, outcome, rot := mk.leave(meeting, now, st.create, st.retain, st.interval)
	if rot != nil {
		st.rotated = append(st.rotated, *rot)
	}
	return epoch, rotateAt, outcome
}

// catchUpLocked makes the meeting's rotation if it is due and deletes the superseded epochs
// whose retention has passed; it returns how many it deleted.
func (st *store) catchUpLocked(meeting string, mk *meetingKeys, now time.Time) int {
	if rot, ok := mk.catchUp(meeting, now, st.create, st.retain); ok {
		st.rotated = append(st.rotated, rot)
	}
	return mk.prune(now)
}

// catchUp makes the meeting's pending rotation if it is due: the current epoch is superseded
// (kept for retain after the rotation's time) and a new one created. It is the one rotation
// rule, of the in-memory store and of the shared one.
func (mk *meetingKeys) catchUp(meeting string, now time.Time, create newSealed, retain time.Duration) (rotation, bool) {
	if mk.rotateAt.IsZero() || now.Before(mk.rotateAt) {
		return rotation{}, false
	}
	at := mk.rotateAt
	prev := mk.epochs[len(mk.epochs)-1].epoch
	mk.epochs[len(mk.epochs)-1].expires = at.Add(retain)
	mk.epochs = append(mk.epochs, sealedKey{epoch: prev + 1, sealed: create(meeting, prev+1)})
	rot := rotation{meeting: meeting, prev: prev, next: prev + 1, at: at, leaves: mk.leaves}
	mk.rotated, mk.rotateAt, mk.leaves = at, time.Time{}, 0
	return rot, true
}

// leave records a leave on the meeting's keys at now (the ticket is already retired): it
// rotates at once, or schedules or joins the rotation at the end of the interval. It returns
// the epoch after, the pending rotation's time, the outcome and the rotation made at once.
func (mk *meetingKeys) leave(meeting string, now time.Time, create newSealed, retain, interval time.Duration) (uint64, time.Time, string, *rotation) {
	mk.leaves++
	epoch := mk.epochs[len(mk.epochs)-1].epoch
	if !mk.rotateAt.IsZero() {
		return epoch, mk.rotateAt, leaveCoalesced, nil
	}
	if next := mk.rotated.Add(interval); !mk.rotated.IsZero() && now.Before(next) {
		mk.rotateAt = next
		return epoch, next, leaveCoalesced, nil
	}
	mk.rotateAt = now
	rot, _ := mk.catchUp(meeting, now, create, retain)
	mk.prune(now)
	return mk.epochs[len(mk.epochs)-1].epoch, time.Time{}, leaveRotated, &rot
}

// lookup is the epoch lookup of both stores: the given epoch's sealed key (0: the current
// one), the current epoch, and the lookup's error.
func (mk *meetingKeys) lookup(epoch uint64) ([]byte, uint64, error) {
	cur := mk.epochs[len(mk.epochs)-1]
	if epoch == 0 {
		return cur.sealed, cur.epoch, nil
	}
	if epoch > cur.epoch {
		return nil, cur.epoch, errFutureEpoch
	}
	for _, e := range mk.epochs {
		if e.epoch == epoch {
			return e.sealed, cur.epoch, nil
		}
	}
	return nil, cur.epoch, errEpochDeleted
}

// takeRotations returns the rotations made since it was last called.
func (st *store) takeRotations() []rotation {
	st.mu.Lock()
	defer st.mu.Unlock()
	r := st.rotated
	st.rotated = nil
	return r
}

// sweep makes the rotations that are due, deletes the superseded epochs whose retention has
// passed, and forgets the left tickets that have expired anyway. It returns the number of
// epochs deleted.
func (st *store) sweep(now time.Time) int {
	st.mu.Lock()
	defer st.mu.Unlock()
	n := 0
	for id, mk := range st.meetings {
		n += st.catchUpLocked(id, mk, now)
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
