package e2ee

import (
	"errors"
	"fmt"
	"maps"
	"math"

	"github.com/geofence/geofence/crypto/keywrap"
)

// Errors a participant branches on.
var (
	// ErrNotForRecipient means an envelope addressed to another meeting or participant.
	ErrNotForRecipient = errors.New("envelope is for another meeting or participant")
	// ErrStaleEpoch means an envelope for an epoch no newer than the key already held: a
	// duplicate, or a replay of an old key by the relay.
	ErrStaleEpoch = errors.New("envelope is for an old epoch")
)

// Unwrap opens e with the participant's private key. meeting and participant are what the
// participant knows itself to be, not what the envelope claims: an envelope relayed from
// another meeting or to another participant is refused with ErrNotForRecipient, and one whose
// fields were rewritten fails to open (keywrap.ErrUnwrap).
func Unwrap(priv keywrap.PrivateKey, meeting, participant string, e Envelope) (EpochKey, error) {
	if e.Meeting != meeting || e.Participant != participant {
		return EpochKey{}, fmt.Errorf("e2ee: unwrap epoch %d: %w", e.Epoch, ErrNotForRecipient)
	}
	key, err := keywrap.Unwrap(priv, e.Wrapped, keywrap.Binding{Meeting: meeting, Epoch: e.Epoch, Participant: participant})
	if err != nil {
		return EpochKey{}, fmt.Errorf("e2ee: unwrap epoch %d: %w", e.Epoch, err)
	}
	return NewEpochKey(e.Epoch, key)
}

// Participant is a participant's side: it unwraps the envelopes addressed to it and keeps the
// newest epoch key, refusing any envelope that would take it back to an older epoch.
type Participant struct {
	meeting string
	id      string
	priv    keywrap.PrivateKey
	key     EpochKey
}

// NewParticipant returns the participant id of meeting, holding priv.
func NewParticipant(meeting, id string, priv keywrap.PrivateKey) (*Participant, error) {
	if err := checkID("meeting", meeting); err != nil {
		return nil, fmt.Errorf("e2ee: new participant: %w", err)
	}
	if err := checkID("participant", id); err != nil {
		return nil, fmt.Errorf("e2ee: new participant: %w", err)
	}
	if priv.IsZero() {
		return nil, fmt.Errorf("e2ee: new participant: %w: zero private key", ErrNoKey)
	}
	return &Participant{meeting: meeting, id: id, priv: priv}, nil
}

// Receive unwraps e and, when it is for a newer epoch than the key held, makes it the current
// key and returns it. On any error the current key is unchanged.
func (p *Participant) Receive(e Envelope) (EpochKey, error) {
	if !p.key.IsZero() && e.Epoch <= p.key.epoch {
		return EpochKey{}, fmt.Errorf("e2ee: receive epoch %d: %w (holding epoch %d)", e.Epoch, ErrStaleEpoch, p.key.epoch)
	}
	k, err := Unwrap(p.priv, p.meeting, p.id, e)
	if err != nil {
		return EpochKey{}, err
	}
	p.key = k
	return k, nil
}

// Key returns the current epoch key, or the zero EpochKey before the first Receive.
func (p *Participant) Key() EpochKey { return p.key }

// TakeOver makes p the meeting's leader, when the previous leader left or p is the first
// participant: it starts a Leader for roster (the others: participant id -> public key) at an
// epoch above both the key p holds and above (the highest epoch the relay says it has seen),
// with a new random key, and returns it with the envelopes of everyone in roster. Starting
// above every epoch in use is what keeps the others from refusing the new leader's keys as
// stale. p holds the new key too. On error p is unchanged.
func (p *Participant) TakeOver(roster map[string]keywrap.PublicKey, above uint64) (*Leader, []Envelope, error) {
	held := max(p.key.epoch, above)
	if held == math.MaxUint64 {
		return nil, nil, errors.New("e2ee: take over: epoch counter exhausted; start a new meeting")
	}
	l, err := NewLeader(p.meeting, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("e2ee: take over: %w", err)
	}
	l.key = newEpochKey(held + 1)
	for id, pub := range roster {
		if err := checkID("participant", id); err != nil {
			return nil, nil, fmt.Errorf("e2ee: take over: %w", err)
		}
		if pub.IsZero() {
			return nil, nil, fmt.Errorf("e2ee: take over: participant %q: %w: zero public key", id, ErrNoKey)
		}
	}
	l.roster = maps.Clone(roster)
	delete(l.roster, p.id) // the leader holds the key already
	envs, err := l.Envelopes()
	if err != nil {
		return nil, nil, err
	}
	p.key = l.key
	return l, envs, nil
}

// ID is the participant's id, the Participant of the envelopes it accepts.
func (p *Participant) ID() string { return p.id }

// Adopt makes k, a key this participant made itself as the leader (Leader.Key), its current
// key when it is newer than the one held, so that a leader that stops leading still refuses
// every epoch up to the last one it dealt.
func (p *Participant) Adopt(k EpochKey) {
	if !k.IsZero() && (p.key.IsZero() || k.epoch > p.key.epoch) {
		p.key = k
	}
}
