package kms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/geofence/geofence/wire"
)

// Records is where the key servers of a deployment keep meetings' sealed keys, so that every
// key server of a meeting hands out the same key for an epoch, also after a restart (DESIGN.md
// sections 8 and 9). One record per meeting, written by compare-and-swap; and the tickets used
// to leave. *etcdstore.Store is one; the sealed keys it holds are useless without the KEK.
type Records interface {
	// GetKeys returns the meeting's record and its revision; nil and 0 when there is none.
	GetKeys(ctx context.Context, meeting string) (data []byte, rev int64, err error)
	// PutKeys stores data as the meeting's record if its revision is still prev (0: only if
	// there is none); ok is false when another key server wrote first.
	PutKeys(ctx context.Context, meeting string, data []byte, prev int64) (ok bool, err error)
	// MarkLeft records that ticket was presented to leave, until until; HasLeft reports it.
	MarkLeft(ctx context.Context, ticket string, until time.Time) error
	HasLeft(ctx context.Context, ticket string) (bool, error)
}

// errStoreUnavailable: the shared records cannot be reached; the request is refused (503).
var errStoreUnavailable = errors.New("the shared key store cannot be reached")

// keyStore is what a key server keeps its keys in: the in-memory store, or the shared one.
type keyStore interface {
	current(meeting, ticket string, now time.Time) (epoch uint64, sealed []byte, rotateAt time.Time, err error)
	epoch(meeting, ticket string, epoch uint64, now time.Time) (sealed []byte, current uint64, rotateAt time.Time, err error)
	leave(meeting, ticket string, ticketExpiry, now time.Time) (epoch uint64, rotateAt time.Time, outcome string)
	takeRotations() []rotation
	sweep(now time.Time) int
	len() int
	// record notes that this key server gives the meeting's key to a participant of context
	// x, after checking I1 per publisher against the meeting's other key servers and earlier
	// recipients (see sharedStore.record); an error refuses the issuance.
	record(meeting string, x wire.Context) error
}

// errHolderForbidden: the meeting's key is, or would be, held by a key server a recipient's
// rules forbid (I1 per publisher).
var errHolderForbidden = errors.New("a key server of this meeting is forbidden for a participant")

// record is a no-op in memory: one key server holds the key, and admission checked it for
// every recipient.
func (st *store) record(string, wire.Context) error { return nil }

var (
	_ keyStore = (*store)(nil)
	_ keyStore = (*sharedStore)(nil)
)

// sharedStore keeps key state in Records, with the rotation rules of the in-memory store
// (meetingKeys' methods): every key server reads a meeting's record, applies the same rule
// and writes it back by compare-and-swap, retrying when another wrote first, so they agree on
// every epoch and its key.
type sharedStore struct {
	rec      Records
	create   newSealed
	retain   time.Duration
	interval time.Duration
	timeout  time.Duration

	// self is this key server's DC; admit is admission's check of a context at a DC.
	self  string
	admit func(x wire.Context, dc string) error

	mu      sync.Mutex
	rotated []rotation
	seen    map[string]bool // meetings this key server served, for len
}

func newSharedStore(rec Records, create newSealed, retain, interval time.Duration, self string, admit func(wire.Context, string) error) *sharedStore {
	return &sharedStore{rec: rec, create: create, retain: retain, interval: interval, timeout: 3 * time.Second,
		self: self, admit: admit, seen: map[string]bool{}}
}

// record implements I1 per publisher for keys (DESIGN.md section 3): the record lists the key
// servers that hold the meeting's key and the rule contexts of those it was given to. A key
// server refuses to give the key to a participant whose rules forbid a key server that holds
// it already, and refuses to become a holder when the rules of an earlier recipient forbid it:
// a key that decrypts a participant's media never sits where that participant's data may not
// go. Checked and recorded in one compare-and-swap.
func (s *sharedStore) record(meeting string, x wire.Context) error {
	var refusal error
	_, err := s.update(meeting, false, func(mk *meetingKeys) bool {
		refusal = nil
		for _, h := range mk.holders {
			if h == s.self {
				continue
			}
			if err := s.admit(x, h); err != nil {
				refusal = fmt.Errorf("%w: the meeting's key is held by key server %s: %w", errHolderForbidden, h, err)
				return false
			}
		}
		known := false
		for _, r := range mk.recipients {
			if sameContext(r, x) {
				known = true
				continue
			}
			if err := s.admit(r, s.self); err != nil {
				refusal = fmt.Errorf("%w: key server %s may not hold a key given to an earlier participant: %w", errHolderForbidden, s.self, err)
				return false
			}
		}
		changed := false
		if !slices.Contains(mk.holders, s.self) {
			mk.holders = append(mk.holders, s.self)
			changed = true
		}
		if !known {
			mk.recipients = append(mk.recipients, x)
			changed = true
		}
		return changed
	})
	if refusal != nil {
		return refusal
	}
	return err
}

// sameContext reports whether two rule contexts are one for residency: the recipients list
// keeps one entry per distinct context, not one per participant.
func sameContext(a, b wire.Context) bool {
	return a.ParticipantCountry == b.ParticipantCountry && a.ParticipantRegion == b.ParticipantRegion &&
		a.ParticipantPlan == b.ParticipantPlan && a.MeetingRegion == b.MeetingRegion && a.HostPlan == b.HostPlan &&
		slices.Equal(a.HostDataRegions, b.HostDataRegions) && (a.HostDataRegions == nil) == (b.HostDataRegions == nil)
}

// keysRecord is meetingKeys as stored.
type keysRecord struct {
	Epochs []struct {
		Epoch   uint64    `json:"epoch"`
		Sealed  []byte    `json:"sealed"`
		Expires time.Time `json:"expires,omitzero"`
	} `json:"epochs"`
	Rotated    time.Time      `json:"rotated,omitzero"`
	RotateAt   time.Time      `json:"rotate_at,omitzero"`
	Leaves     int            `json:"leaves,omitempty"`
	Holders    []string       `json:"holders,omitempty"`
	Recipients []wire.Context `json:"recipients,omitempty"`
}

func encodeKeys(mk *meetingKeys) []byte {
	var r keysRecord
	for _, e := range mk.epochs {
		r.Epochs = append(r.Epochs, struct {
			Epoch   uint64    `json:"epoch"`
			Sealed  []byte    `json:"sealed"`
			Expires time.Time `json:"expires,omitzero"`
		}{e.epoch, e.sealed, e.expires})
	}
	r.Rotated, r.RotateAt, r.Leaves = mk.rotated, mk.rotateAt, mk.leaves
	r.Holders, r.Recipients = mk.holders, mk.recipients
	b, _ := json.Marshal(r)
	return b
}

func decodeKeys(b []byte) (*meetingKeys, error) {
	var r keysRecord
	if err := json.Unmarshal(b, &r); err != nil || len(r.Epochs) == 0 {
		return nil, fmt.Errorf("decode shared meeting keys: %v", err)
	}
	mk := &meetingKeys{rotated: r.Rotated, rotateAt: r.RotateAt, leaves: r.Leaves, holders: r.Holders, recipients: r.Recipients}
	for _, e := range r.Epochs {
		mk.epochs = append(mk.epochs, sealedKey{epoch: e.Epoch, sealed: e.Sealed, expires: e.Expires})
	}
	return mk, nil
}

const sharedAttempts = 16

// update reads the meeting's keys, lets fn change them (create: make the first epoch when there
// is none) and writes them back when fn changed them, retrying on a lost race. fn may be called
// more than once; its last call's effects are the ones stored.
func (s *sharedStore) update(meeting string, create bool, fn func(mk *meetingKeys) bool) (*meetingKeys, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	for range sharedAttempts {
		data, rev, err := s.rec.GetKeys(ctx, meeting)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errStoreUnavailable, err)
		}
		var mk *meetingKeys
		changed := false
		switch {
		case data != nil:
			if mk, err = decodeKeys(data); err != nil {
				return nil, err
			}
		case !create:
			return nil, nil
		default:
			mk = &meetingKeys{epochs: []sealedKey{{epoch: 1, sealed: s.create(meeting, 1)}}}
			changed = true
		}
		if fn(mk) {
			changed = true
		}
		if !changed {
			return mk, nil
		}
		ok, err := s.rec.PutKeys(ctx, meeting, encodeKeys(mk), rev)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errStoreUnavailable, err)
		}
		if ok {
			s.mu.Lock()
			s.seen[meeting] = true
			s.mu.Unlock()
			return mk, nil
		}
	}
	return nil, fmt.Errorf("%w: the meeting's keys kept changing", errStoreUnavailable)
}

func (s *sharedStore) left(ticket string) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	left, err := s.rec.HasLeft(ctx, ticket)
	if err != nil {
		return false, fmt.Errorf("%w: %w", errStoreUnavailable, err)
	}
	return left, nil
}

// catchUpFn applies a due rotation and the retention; it reports a change.
func (s *sharedStore) catchUpFn(meeting string, now time.Time, rots *[]rotation) func(mk *meetingKeys) bool {
	return func(mk *meetingKeys) bool {
		*rots = (*rots)[:0]
		changed := false
		if rot, ok := mk.catchUp(meeting, now, s.create, s.retain); ok {
			*rots = append(*rots, rot)
			changed = true
		}
		return mk.prune(now) > 0 || changed
	}
}

func (s *sharedStore) note(rots []rotation) {
	if len(rots) == 0 {
		return
	}
	s.mu.Lock()
	s.rotated = append(s.rotated, rots...)
	s.mu.Unlock()
}

func (s *sharedStore) current(meeting, ticket string, now time.Time) (uint64, []byte, time.Time, error) {
	if left, err := s.left(ticket); err != nil || left {
		return 0, nil, time.Time{}, cmpErr(err, errLeft)
	}
	var rots []rotation
	mk, err := s.update(meeting, true, s.catchUpFn(meeting, now, &rots))
	if err != nil {
		return 0, nil, time.Time{}, err
	}
	s.note(rots)
	cur := mk.epochs[len(mk.epochs)-1]
	return cur.epoch, cur.sealed, mk.rotateAt, nil
}

func (s *sharedStore) epoch(meeting, ticket string, epoch uint64, now time.Time) ([]byte, uint64, time.Time, error) {
	if left, err := s.left(ticket); err != nil || left {
		return nil, 0, time.Time{}, cmpErr(err, errLeft)
	}
	var rots []rotation
	mk, err := s.update(meeting, false, s.catchUpFn(meeting, now, &rots))
	if err != nil {
		return nil, 0, time.Time{}, err
	}
	if mk == nil {
		return nil, 0, time.Time{}, errNoKey
	}
	s.note(rots)
	sealed, cur, err := mk.lookup(epoch)
	return sealed, cur, mk.rotateAt, err
}

func (s *sharedStore) leave(meeting, ticket string, ticketExpiry, now time.Time) (uint64, time.Time, string) {
	left, err := s.left(ticket)
	if err != nil {
		return 0, time.Time{}, leaveUnavailable
	}
	if left {
		return 0, time.Time{}, leaveRepeated
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	err = s.rec.MarkLeft(ctx, ticket, ticketExpiry)
	cancel()
	if err != nil {
		return 0, time.Time{}, leaveUnavailable
	}
	var (
		epoch    uint64
		rotateAt time.Time
		outcome  string
		rots     []rotation
	)
	mk, err := s.update(meeting, false, func(mk *meetingKeys) bool {
		rots = rots[:0]
		if rot, ok := mk.catchUp(meeting, now, s.create, s.retain); ok {
			rots = append(rots, rot)
		}
		var r *rotation
		epoch, rotateAt, outcome, r = mk.leave(meeting, now, s.create, s.retain, s.interval)
		if r != nil {
			rots = append(rots, *r)
		}
		return true
	})
	switch {
	case err != nil:
		return 0, time.Time{}, leaveUnavailable
	case mk == nil:
		return 0, time.Time{}, leaveNoKey
	}
	s.note(rots)
	return epoch, rotateAt, outcome
}

func (s *sharedStore) takeRotations() []rotation {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rotated
	s.rotated = nil
	return r
}

// sweep has nothing to do: a shared record catches up whenever a key server reads it.
func (s *sharedStore) sweep(time.Time) int { return 0 }

func (s *sharedStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen)
}

// cmpErr is err when set, else alt.
func cmpErr(err, alt error) error {
	if err != nil {
		return err
	}
	return alt
}
