package e2ee

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/geofence/geofence/crypto/keywrap"
)

// FirstEpoch is the epoch of a new Leader's first key. Epochs count up by one per rotation.
const FirstEpoch = 1

// Errors callers branch on.
var (
	// ErrNoKey means a zero EpochKey or keywrap.PublicKey where a key is needed.
	ErrNoKey = errors.New("no key")
	// ErrInvalidID means an empty meeting or participant identifier, or one longer than
	// keywrap.MaxIDLen bytes.
	ErrInvalidID = errors.New("invalid identifier")
	// ErrDuplicateParticipant means Add of a participant already in the roster.
	ErrDuplicateParticipant = errors.New("participant already in the roster")
	// ErrUnknownParticipant means Remove of a participant not in the roster.
	ErrUnknownParticipant = errors.New("participant not in the roster")
)

// Envelope is one participant's copy of an epoch key, wrapped to its public key. It is what
// the servers relay from the leader to the participant; nothing in it is secret. Meeting, Epoch
// and Participant are bound into the wrapped key (keywrap.Binding), so changing any of them
// makes it fail to open.
type Envelope struct {
	Meeting     string          `json:"meeting"`
	Epoch       uint64          `json:"epoch"`
	Participant string          `json:"participant"`
	Wrapped     keywrap.Wrapped `json:"wrapped"`
}

// WrapAll wraps k to every participant of roster (participant id -> public key) for meeting,
// and returns the envelopes sorted by participant id. It fails, returning no envelopes, if any
// one wrap fails.
func WrapAll(meeting string, k EpochKey, roster map[string]keywrap.PublicKey) ([]Envelope, error) {
	if k.IsZero() {
		return nil, fmt.Errorf("e2ee: wrap epoch key: %w", ErrNoKey)
	}
	if err := checkID("meeting", meeting); err != nil {
		return nil, fmt.Errorf("e2ee: wrap epoch key: %w", err)
	}
	ids := slices.Sorted(maps.Keys(roster))
	out := make([]Envelope, 0, len(ids))
	for _, id := range ids {
		e, err := wrapTo(meeting, k, id, roster[id])
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

func wrapTo(meeting string, k EpochKey, participant string, pub keywrap.PublicKey) (Envelope, error) {
	if err := checkID("participant", participant); err != nil {
		return Envelope{}, fmt.Errorf("e2ee: wrap epoch key: %w", err)
	}
	if pub.IsZero() {
		return Envelope{}, fmt.Errorf("e2ee: wrap epoch key to %q: %w: zero public key", participant, ErrNoKey)
	}
	w, err := keywrap.Wrap(pub, k.key[:], keywrap.Binding{Meeting: meeting, Epoch: k.epoch, Participant: participant})
	if err != nil {
		return Envelope{}, fmt.Errorf("e2ee: wrap epoch key to %q: %w", participant, err)
	}
	return Envelope{Meeting: meeting, Epoch: k.epoch, Participant: participant, Wrapped: w}, nil
}

func checkID(what, id string) error {
	if id == "" || len(id) > keywrap.MaxIDLen {
		return fmt.Errorf("%w: %s must be 1 to %d bytes, got %d", ErrInvalidID, what, keywrap.MaxIDLen, len(id))
	}
	return nil
}

// Leader is the meeting leader's side: it holds the current epoch key and the roster, and
// produces the envelopes to send. Every method that changes the state either succeeds or leaves
// the Leader as it was.
type Leader struct {
	meeting string
	key     EpochKey
	roster  map[string]keywrap.PublicKey
}

// NewLeader starts the key schedule of meeting at FirstEpoch with a new random key, for the
// participants of roster (participant id -> public key; the Leader keeps a copy). The roster
// may be empty; it need not include the leader itself, which already holds the key.
func NewLeader(meeting string, roster map[string]keywrap.PublicKey) (*Leader, error) {
	if err := checkID("meeting", meeting); err != nil {
		return nil, fmt.Errorf("e2ee: new leader: %w", err)
	}
	for id, pub := range roster {
		if err := checkID("participant", id); err != nil {
			return nil, fmt.Errorf("e2ee: new leader: %w", err)
		}
		if pub.IsZero() {
			return nil, fmt.Errorf("e2ee: new leader: participant %q: %w: zero public key", id, ErrNoKey)
		}
	}
	return &Leader{meeting: meeting, key: newEpochKey(FirstEpoch), roster: maps.Clone(roster)}, nil
}

// Key returns the current epoch key.
func (l *Leader) Key() EpochKey { return l.key }

// Roster returns a copy of the roster.
func (l *Leader) Roster() map[string]keywrap.PublicKey { return maps.Clone(l.roster) }

// Envelopes wraps the current epoch key to every participant of the roster.
func (l *Leader) Envelopes() ([]Envelope, error) { return WrapAll(l.meeting, l.key, l.roster) }

// Add puts participant in the roster and returns its envelope for the current epoch. It does
// not rotate the key: a participant who joins can read the current epoch's media, including
// any it recorded, encrypted, before it joined; call Rotate after Add to prevent that.
func (l *Leader) Add(participant string, pub keywrap.PublicKey) (Envelope, error) {
	if _, ok := l.roster[participant]; ok {
		return Envelope{}, fmt.Errorf("e2ee: add %q: %w", participant, ErrDuplicateParticipant)
	}
	e, err := wrapTo(l.meeting, l.key, participant, pub)
	if err != nil {
		return Envelope{}, err
	}
	if l.roster == nil {
		l.roster = make(map[string]keywrap.PublicKey)
	}
	l.roster[participant] = pub
	return e, nil
}

// Remove takes participant out of the roster and rotates to a new epoch with a new random key
// (DESIGN.md section 8), returning the envelopes of everyone who remains. The participant who
// left holds only keys of earlier epochs and receives no envelope for the new one.
func (l *Leader) Remove(participant string) ([]Envelope, error) { return l.RemoveAll(participant) }

// RemoveAll is Remove of several participants at once, with one rotation: leaves that come
// together (a bridge lost, the end of a meeting) cost one new epoch, not one each. It fails,
// changing nothing, if any of them is not in the roster.
func (l *Leader) RemoveAll(participants ...string) ([]Envelope, error) {
	roster := maps.Clone(l.roster)
	for _, p := range participants {
		if _, ok := roster[p]; !ok {
			return nil, fmt.Errorf("e2ee: remove %q: %w", p, ErrUnknownParticipant)
		}
		delete(roster, p)
	}
	return l.rotate(roster)
}

// Rotate moves to a new epoch with a new random key for the same roster and returns everyone's
// envelopes.
func (l *Leader) Rotate() ([]Envelope, error) { return l.rotate(l.roster) }

func (l *Leader) rotate(roster map[string]keywrap.PublicKey) ([]Envelope, error) {
	if l.key.epoch == math.MaxUint64 {
		return nil, errors.New("e2ee: rotate: epoch counter exhausted; start a new meeting")
	}
	next := newEpochKey(l.key.epoch + 1)
	envs, err := WrapAll(l.meeting, next, roster)
	if err != nil {
		return nil, err
	}
	l.key, l.roster = next, roster
	return envs, nil
}
