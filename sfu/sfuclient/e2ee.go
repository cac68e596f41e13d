package sfuclient

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/geofence/geofence/crypto/e2ee"
	"github.com/geofence/geofence/crypto/keywrap"
	"github.com/geofence/geofence/wire"
)

// E2EE runs the leader flow of an end-to-end encrypted meeting (docs/rtc.md) for the
// participant: when the server names it the meeting's key leader it takes over above every
// epoch in use, wraps a new key to everyone's public key and sends the envelopes, adds each
// participant who joins (the current epoch's envelope) and rotates when one leaves; when
// another participant leads it opens the envelopes that leader sends, refusing stale epochs,
// envelopes for someone else and envelopes from anyone but the leader.
type E2EE struct {
	// Private is the participant's private key; its ticket carries the public key. Required.
	Private keywrap.PrivateKey
	// OnKey, when set, is called with every new epoch key the participant holds (its own as
	// the leader, or opened from the leader's envelope), one at a time and in epoch order: it
	// must not block.
	OnKey func(e2ee.EpochKey)
	// Coalesce is how long the leader waits after a leave before it rotates, so that leaves
	// that come together (the end of a meeting, a bridge lost) cost one new epoch, not one
	// each; zero means DefaultCoalesce.
	Coalesce time.Duration
}

// DefaultCoalesce is E2EE.Coalesce's default: short next to what a key server coalesces (10
// s), since what the one who left could read meanwhile is what the others send.
const DefaultCoalesce = 200 * time.Millisecond

// keyFlow is the state of the E2EE flow. It is used by the connection's reader only, and
// read by the getters under Conn.mu.
type keyFlow struct {
	cfg    E2EE
	self   string // the participant's Ref
	part   *e2ee.Participant
	lead   *e2ee.Leader
	leader string                       // the leader's Ref, as the server says
	roster map[string]keywrap.PublicKey // the others with a public key, by Ref
	errs   []wire.Error                 // the server's refusals of envelopes this client sent
	ignore int                          // envelopes ignored: not from the leader, stale, not for us
	// leaving are the participants who left since the last rotation, which timer makes.
	leaving []string
	timer   *time.Timer
}

// errNoFlow is returned by the E2EE getters of a connection that runs none.
var errNoFlow = errors.New("sfuclient: the connection runs no e2ee flow (Config.E2EE is nil or the meeting is managed)")

// startFlowLocked begins the flow from the joined message. The caller holds c.mu.
func (c *Conn) startFlowLocked() ([]wire.Signal, []e2ee.EpochKey, error) {
	cfg := c.cfg.E2EE
	if cfg == nil || c.joined.Mode != wire.ModeE2EE {
		return nil, nil, nil
	}
	j := c.joined
	part, err := e2ee.NewParticipant(j.Meeting, j.Participant.Ref, cfg.Private)
	if err != nil {
		return nil, nil, fmt.Errorf("sfuclient: e2ee: %w", err)
	}
	c.flow = &keyFlow{cfg: *cfg, self: j.Participant.Ref, part: part, roster: map[string]keywrap.PublicKey{}}
	for _, p := range j.Participants {
		c.flow.addLocked(c, p)
	}
	if j.Leader != nil {
		return c.flow.onLeaderLocked(c, *j.Leader)
	}
	return nil, nil, nil
}

func (f *keyFlow) addLocked(c *Conn, p wire.Participant) {
	if p.PublicKey == "" || p.Ref == f.self {
		return
	}
	pub, err := keywrap.ParsePublicKey(p.PublicKey)
	if err != nil {
		c.cfg.Logger.Warn("e2ee: participant with an unusable public key", "ref", p.Ref, "err", err)
		return
	}
	f.roster[p.Ref] = pub
}

// onSignalLocked advances the flow on a server message; it returns the envelopes to send and the
// new keys to announce. The caller holds c.mu.
func (f *keyFlow) onSignalLocked(c *Conn, m wire.Signal) ([]wire.Signal, []e2ee.EpochKey, error) {
	switch m.Type {
	case wire.SignalParticipantJoined:
		if _, known := f.roster[m.Participant.Ref]; known {
			return nil, nil, nil
		}
		f.addLocked(c, *m.Participant)
		pub, ok := f.roster[m.Participant.Ref]
		if !ok || f.lead == nil {
			return nil, nil, nil
		}
		// A joiner gets the current epoch (e2ee.Leader.Add): the meeting does not rotate on
		// a join, only on a leave (docs/rtc.md).
		e, err := f.lead.Add(m.Participant.Ref, pub)
		if err != nil {
			return nil, nil, fmt.Errorf("sfuclient: e2ee: %w", err)
		}
		return []wire.Signal{keySignal(e)}, nil, nil
	case wire.SignalParticipantLeft:
		_, had := f.roster[m.Participant.Ref]
		delete(f.roster, m.Participant.Ref)
		if !had || f.lead == nil {
			return nil, nil, nil
		}
		f.leaving = append(f.leaving, m.Participant.Ref)
		if f.timer == nil {
			d := f.cfg.Coalesce
			if d <= 0 {
				d = DefaultCoalesce
			}
			f.timer = time.AfterFunc(d, c.rotateLeft)
		}
		return nil, nil, nil
	case wire.SignalLeader:
		return f.onLeaderLocked(c, *m.Leader)
	case wire.SignalKey:
		if m.Participant.Ref != f.leader || f.lead != nil {
			f.ignore++
			c.cfg.Logger.Warn("e2ee: key envelope not from the leader ignored", "from", m.Participant.Ref, "leader", f.leader)
			return nil, nil, nil
		}
		w, err := keywrap.ParseWrapped(m.Key.Wrapped)
		if err != nil {
			f.ignore++
			return nil, nil, nil
		}
		k, err := f.part.Receive(e2ee.Envelope{Meeting: m.Key.Meeting, Epoch: m.Key.Epoch, Participant: m.Key.Participant, Wrapped: w})
		if err != nil {
			f.ignore++
			c.cfg.Logger.Warn("e2ee: key envelope refused", "from", m.Participant.Ref, "epoch", m.Key.Epoch, "err", err)
			return nil, nil, nil
		}
		return nil, []e2ee.EpochKey{k}, nil
	}
	return nil, nil, nil
}

// onLeaderLocked follows a change of leader: the participant named takes over.
func (f *keyFlow) onLeaderLocked(c *Conn, l wire.Leader) ([]wire.Signal, []e2ee.EpochKey, error) {
	f.leader = l.Ref
	if l.Ref != f.self {
		if f.lead != nil {
			f.part.Adopt(f.lead.Key())
			f.lead, f.leaving = nil, nil // the new leader rotates for those who left
		}
		return nil, nil, nil
	}
	if f.lead != nil {
		return nil, nil, nil
	}
	lead, envs, err := f.part.TakeOver(f.roster, l.Epoch)
	if err != nil {
		return nil, nil, fmt.Errorf("sfuclient: e2ee: %w", err)
	}
	f.lead = lead
	return keySignals(envs), []e2ee.EpochKey{lead.Key()}, nil
}

func keySignal(e e2ee.Envelope) wire.Signal {
	return wire.Signal{Type: wire.SignalKey, Participant: &wire.Participant{Ref: e.Participant},
		Key: &wire.KeyEnvelope{Meeting: e.Meeting, Epoch: e.Epoch, Participant: e.Participant, Wrapped: e.Wrapped.String()}}
}

func keySignals(envs []e2ee.Envelope) []wire.Signal {
	out := make([]wire.Signal, len(envs))
	for i, e := range envs {
		out[i] = keySignal(e)
	}
	return out
}

// stopFlow stops a rotation still waiting, once the connection ended.
func (c *Conn) stopFlow() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.flow != nil && c.flow.timer != nil {
		c.flow.timer.Stop()
		c.flow.timer, c.flow.leaving = nil, nil
	}
}

// rotateLeft rotates, once, for everyone who left since the last rotation.
func (c *Conn) rotateLeft() {
	c.mu.Lock()
	f := c.flow
	if f == nil || c.closed {
		c.mu.Unlock()
		return
	}
	f.timer = nil
	var left []string
	if f.lead != nil {
		roster := f.lead.Roster()
		for _, ref := range f.leaving {
			if _, ok := roster[ref]; ok {
				left = append(left, ref)
			}
		}
	}
	f.leaving = nil
	var (
		sends []wire.Signal
		keys  []e2ee.EpochKey
		err   error
	)
	if len(left) > 0 {
		var envs []e2ee.Envelope
		if envs, err = f.lead.RemoveAll(left...); err == nil {
			f.part.Adopt(f.lead.Key())
			sends, keys = keySignals(envs), []e2ee.EpochKey{f.lead.Key()}
		}
	}
	c.runFlowLocked(sends, keys, err)
}

// runFlowLocked is runFlow for a caller that holds c.mu, which it releases: the flow's output
// is delivered in the order it was made, by the reader and the rotation timer alike.
func (c *Conn) runFlowLocked(sends []wire.Signal, keys []e2ee.EpochKey, err error) {
	c.deliver.Lock()
	c.mu.Unlock()
	defer c.deliver.Unlock()
	c.runFlow(sends, keys, err)
}

// runFlow applies what a step of the flow produced: the envelopes go out, the keys to OnKey.
func (c *Conn) runFlow(sends []wire.Signal, keys []e2ee.EpochKey, err error) {
	if err != nil {
		c.cfg.Logger.Warn("e2ee flow", "err", err)
	}
	for _, m := range sends {
		if err := c.write(context.Background(), m); err != nil {
			c.cfg.Logger.Debug("e2ee: send key", "err", err)
		}
	}
	if c.cfg.E2EE != nil && c.cfg.E2EE.OnKey != nil {
		for _, k := range keys {
			c.cfg.E2EE.OnKey(k)
		}
	}
}

// isKeyRefusal reports whether an error from the server refuses one envelope (the
// connection stays up).
func isKeyRefusal(m wire.Signal) bool {
	if m.Participant == nil || m.Error == nil {
		return false
	}
	switch m.Error.Error {
	case wire.CodeNotLeader, wire.CodeUnknownParticipant, wire.CodeEnvelopeMismatch, wire.CodeNotE2EE, wire.CodeLimit:
		return true
	}
	return false
}

// Key is the epoch key the participant holds now (the zero EpochKey before the first).
func (c *Conn) Key() (e2ee.EpochKey, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.flow == nil {
		return e2ee.EpochKey{}, errNoFlow
	}
	if c.flow.lead != nil {
		return c.flow.lead.Key(), nil
	}
	return c.flow.part.Key(), nil
}

// Leader is the meeting's key leader's Ref as the server last said ("" for none yet), and
// whether it is this participant.
func (c *Conn) Leader() (ref string, self bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.flow == nil {
		return "", false
	}
	return c.flow.leader, c.flow.lead != nil
}

// KeyRefusals are the server's refusals of envelopes this participant sent.
func (c *Conn) KeyRefusals() []wire.Error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.flow == nil {
		return nil
	}
	return slices.Clone(c.flow.errs)
}

// IgnoredKeys is how many envelopes this participant did not accept: from another than the
// leader, for an old epoch, or not for it.
func (c *Conn) IgnoredKeys() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.flow == nil {
		return 0
	}
	return c.flow.ignore
}

// SecurityCode is the meeting security code (e2ee.SecurityCode) of the key held and the
// public keys of everyone this participant knows in the meeting, itself included.
func (c *Conn) SecurityCode() (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.flow == nil {
		return "", errNoFlow
	}
	k := c.flow.part.Key()
	if c.flow.lead != nil {
		k = c.flow.lead.Key()
	}
	roster := append(slices.Collect(maps.Values(c.flow.roster)), c.flow.cfg.Private.PublicKey())
	return e2ee.SecurityCode(k, roster)
}

// SendKey sends an envelope to the participant target as if this participant led the
// meeting: for tests of the server's checks, and for clients that run their own flow.
func (c *Conn) SendKey(ctx context.Context, target string, e wire.KeyEnvelope) error {
	return c.write(ctx, wire.Signal{Type: wire.SignalKey, Participant: &wire.Participant{Ref: target}, Key: &e})
}
