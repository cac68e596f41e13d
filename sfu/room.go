package sfu

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/geofence/geofence/admission"
	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/wire"
)

// publisher is a participant of a meeting whose tracks this server may forward: connected
// here, bridged in from another datacenter, or (at a bridged datacenter) announced by the
// home.
type publisher struct {
	info  wire.Participant // Context set: the rules its tracks are forwarded under
	party policy.Party
	via   *peer  // the connection it is reached over
	seq   uint64 // the order it was admitted in here: the home's key leader is the lowest
}

// room is one meeting at this media server.
type room struct {
	s        *Server
	id, home string
	mode     string // wire.ModeManaged or wire.ModeE2EE

	mu           sync.Mutex
	peers        map[*peer]struct{}
	pubs         map[string]*publisher // by ref
	tracks       map[string]*upTrack   // by track id
	remoteTracks map[string]wire.Track // announced by the home, not arrived yet, by id
	out          *peer                 // the bridge to the home, at a datacenter that is not it
	dialing      bool                  // the bridge to the home is being opened
	withheldSent map[withheldKey]bool  // withheld events sent over bridges
	seq          uint64                // publishers admitted so far
	leader       string                // the e2ee key leader's ref (chosen here at the home, else the home's)
	maxEpoch     uint64                // the highest key epoch relayed here
	homeEpoch    uint64                // the highest the home announced (at a bridged datacenter)
}

type withheldKey struct {
	track string
	to    *peer
}

// decide says whether track u may be sent to sink p: never back where it came from, never
// to its own publisher, and only to a datacenter its publisher's rules allow (I1 per
// publisher): otherwise the withheld event to tell p.
func (r *room) decide(u *upTrack, p *peer) (bool, *wire.Withheld) {
	if u.source == p || (p.self != nil && u.from == p.self) {
		return false, nil
	}
	to := p.dc
	m := r.s.cfg.Model()
	dc, ok := m.DC(to)
	if !ok {
		return false, &wire.Withheld{Track: u.info, Datacenter: to, Code: wire.CodeResidencyConflict,
			Message: fmt.Sprintf("datacenter %s is not in datacenter %s's policy", to, r.s.cfg.ID)}
	}
	if err := m.Admit(u.from.party, dc); err != nil {
		w := &wire.Withheld{Track: u.info, Datacenter: to, Code: wire.CodeResidencyConflict,
			Message: fmt.Sprintf("the %s track of participant %s may not reach datacenter %s: %v", u.info.Kind, u.from.info.ID, to, err)}
		var pr *policy.Refusal
		if errors.As(err, &pr) {
			w.Code, w.Rule = pr.Code(), pr.Rule
		}
		return false, w
	}
	return true, nil
}

// subscribe sends u to p if it may go there, or tells p it is withheld. The caller holds
// r.mu.
func (r *room) subscribeLocked(u *upTrack, p *peer) {
	ok, w := r.decide(u, p)
	if w != nil {
		r.withholdLocked(p, w)
		return
	}
	if !ok {
		return
	}
	if p.kind != peerBridgeOut {
		p.sig.send(wire.Signal{Type: wire.SignalTrackPublished, Track: &u.info})
	}
	p.addDown(u)
}

// withholdLocked tells p that a track does not reach it (a participant, or the datacenter a
// bridge goes to, which relays it to its participants).
func (r *room) withholdLocked(p *peer, w *wire.Withheld) {
	if p.kind == peerBridgeOut {
		// The home asked for nothing; the bridged datacenter's own participants still
		// reach it, and the home's check of its own side is its own.
		return
	}
	if p.kind == peerBridgeIn {
		k := withheldKey{w.Track.ID, p}
		if r.withheldSent[k] {
			return
		}
		if r.withheldSent == nil {
			r.withheldSent = map[withheldKey]bool{}
		}
		r.withheldSent[k] = true
	}
	r.s.metrics.withheld.Inc()
	r.s.log.Info("track withheld", "meeting", r.id, "track", w.Track.ID, "publisher", w.Track.Participant,
		"to", w.Datacenter, "code", w.Code, "rule", w.Rule)
	p.sig.send(wire.Signal{Type: wire.SignalWithheld, Withheld: w})
}

// participantFor is how pub is announced to p: a bridge to another media server gets its
// rule context, a participant does not.
func participantFor(pub *publisher, p *peer) *wire.Participant {
	x := pub.info
	if p.kind == peerParticipant {
		x.Context = nil
	}
	return &x
}

// addPeer adds a connection to the room: it is told of everyone known and gets every track
// it may. It returns the joined message for a participant.
func (r *room) addPeer(p *peer) wire.Joined {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.addPeerLocked(p)
}

// addParticipant adds a participant's connection: its publisher, announced to the others,
// and the connection, told of them, in one critical section. Nobody can reach it (an
// envelope from the leader, who learns of it here) before its joined message is queued.
func (r *room) addParticipant(p *peer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.addPublisherLocked(p.self)
	r.addPeerLocked(p)
}

func (r *room) addPeerLocked(p *peer) wire.Joined {
	r.peers[p] = struct{}{}
	j := wire.Joined{Datacenter: r.s.cfg.ID, Meeting: r.id, Home: r.home, Bridged: r.home != r.s.cfg.ID, Mode: r.mode}
	if r.isE2EE() {
		j.Leader = r.leaderLocked()
	}
	if p.self != nil {
		j.Participant = *participantFor(p.self, p)
	}
	for _, pub := range r.pubs {
		if pub.via != p && pub != p.self {
			j.Participants = append(j.Participants, *participantFor(pub, p))
		}
	}
	if p.kind == peerParticipant {
		// The joined message comes first; events and tracks follow it.
		p.sig.send(wire.Signal{Type: wire.SignalJoined, Joined: &j})
	} else if p.kind == peerBridgeIn {
		for _, pub := range r.pubs {
			if pub.via != p {
				p.sig.send(wire.Signal{Type: wire.SignalParticipantJoined, Participant: participantFor(pub, p)})
			}
		}
		if r.isE2EE() && r.leader != "" {
			p.sig.send(wire.Signal{Type: wire.SignalLeader, Leader: r.leaderLocked()})
		}
	}
	for _, w := range r.pendingWithheldLocked(p) {
		p.sig.send(wire.Signal{Type: wire.SignalWithheld, Withheld: w})
	}
	for _, u := range r.tracks {
		r.subscribeLocked(u, p)
	}
	return j
}

// pendingWithheldLocked is what a new participant at a bridged datacenter must hear: tracks
// the home withheld from this datacenter before it joined.
func (r *room) pendingWithheldLocked(p *peer) []*wire.Withheld {
	if p.kind != peerParticipant || r.out == nil {
		return nil
	}
	return r.out.homeWithheld()
}

// addPublisher makes pub known to the room and announces it.
func (r *room) addPublisher(pub *publisher) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.addPublisherLocked(pub)
}

func (r *room) addPublisherLocked(pub *publisher) {
	if old := r.pubs[pub.info.Ref]; old != nil && old != pub {
		r.removePublisherLocked(old)
	}
	r.seq++
	pub.seq = r.seq
	r.pubs[pub.info.Ref] = pub
	for p := range r.peers {
		if p == pub.via || p.self == pub || p.kind == peerBridgeOut {
			continue
		}
		p.sig.send(wire.Signal{Type: wire.SignalParticipantJoined, Participant: participantFor(pub, p)})
	}
	r.electLocked()
}

// removePublisher forgets pub and its tracks.
func (r *room) removePublisher(pub *publisher) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.removePublisherLocked(pub)
}

func (r *room) removePublisherLocked(pub *publisher) {
	if r.pubs[pub.info.Ref] != pub {
		return
	}
	delete(r.pubs, pub.info.Ref)
	for _, u := range r.tracks {
		if u.from == pub {
			r.removeTrackLocked(u)
		}
	}
	for p := range r.peers {
		if p == pub.via || p.self == pub || p.kind == peerBridgeOut {
			continue
		}
		p.sig.send(wire.Signal{Type: wire.SignalParticipantLeft, Participant: participantFor(pub, p)})
	}
	r.electLocked()
}

// addTrack starts forwarding u to everyone it may reach. It reports false when the room is
// gone or u's publisher is no longer in it.
func (r *room) addTrack(u *upTrack) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pubs[u.from.info.Ref] != u.from {
		return false
	}
	r.tracks[u.info.ID] = u
	r.s.metrics.tracksIn.Inc()
	for p := range r.peers {
		r.subscribeLocked(u, p)
	}
	return true
}

// removeTrack stops forwarding u.
func (r *room) removeTrack(u *upTrack) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.removeTrackLocked(u)
}

func (r *room) removeTrackLocked(u *upTrack) {
	if r.tracks[u.info.ID] != u {
		return
	}
	delete(r.tracks, u.info.ID)
	r.s.metrics.tracksIn.Dec()
	for p := range r.peers {
		if p.removeDown(u) && p.kind != peerBridgeOut {
			p.sig.send(wire.Signal{Type: wire.SignalTrackUnpublished, Track: &u.info})
		}
	}
}

// removePeer takes p out of the room with everything it brought; it reports whether the
// room is now empty of participants connected here.
func (r *room) removePeer(p *peer) (noLocal bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.peers, p)
	lostHome := r.out == p
	if lostHome {
		r.out = nil
	}
	defer func() {
		if lostHome && r.isE2EE() {
			// Without the home no one here knows the leader until the bridge is back.
			r.leader = ""
			r.announceLeaderLocked()
		}
	}()
	for _, pub := range r.pubs {
		if pub.via == p {
			r.removePublisherLocked(pub)
		}
	}
	for _, u := range r.tracks {
		if u.source == p {
			r.removeTrackLocked(u)
		}
	}
	for k := range r.withheldSent {
		if k.to == p {
			delete(r.withheldSent, k)
		}
	}
	for q := range r.peers {
		if q.kind == peerParticipant || q.kind == peerBridgeIn {
			return false
		}
	}
	return true
}

// admitBridged checks a participant offered on a bridge from datacenter from: its ticket,
// then admission as if it had connected there (the ticket lists that datacenter, and this
// datacenter's policy allows it and the home), and that the meeting's home is here.
func (s *Server) admitBridged(ctx context.Context, ticket, meeting, from string) (*wire.Claims, *admission.Refusal) {
	c, ref := s.admitter.Verify(ctx, ticket, admission.Media)
	if ref != nil {
		return nil, ref
	}
	if meeting != "" && c.Meeting != meeting {
		return c, &admission.Refusal{Status: 403, Code: wire.CodeMeetingMismatch,
			Message: fmt.Sprintf("the ticket is for meeting %s, not the bridge's meeting %s", c.Meeting, meeting)}
	}
	if c.Home != s.cfg.ID {
		return c, &admission.Refusal{Status: 403, Code: wire.CodeNotListed,
			Message: fmt.Sprintf("meeting %s's home is %s, not %s: bridges go to the home", c.Meeting, c.Home, s.cfg.ID)}
	}
	m := s.cfg.Model()
	dc, ok := m.DC(from)
	if !ok {
		return c, &admission.Refusal{Status: 403, Code: wire.CodeResidencyConflict,
			Message: fmt.Sprintf("datacenter %s is not in datacenter %s's policy", from, s.cfg.ID)}
	}
	if ref := admission.Check(m, dc, admission.Media, c); ref != nil {
		return c, ref
	}
	return c, nil
}
