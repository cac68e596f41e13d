package sfu

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/geofence/geofence/admission"
	"github.com/geofence/geofence/wire"
)

// Bridges (DESIGN.md section 8): a participant whose datacenter B is not its meeting's home
// H is served at B, and B carries its media to H over one bridge per (meeting, H). At H the
// bridge is a peer of kind peerBridgeIn carrying the participants B offered on it, each
// admitted with its own ticket; at B it is a peer of kind peerBridgeOut. A track crosses a
// bridge only when its publisher's rules allow the datacenter on the other side (room.decide).

const (
	bridgeDialTimeout = 10 * time.Second
	bridgeMaxBackoff  = 10 * time.Second
)

// acceptBridge admits a bridge from another datacenter, or refuses it and returns nil.
func (s *Server) acceptBridge(ctx context.Context, c *sigConn, m wire.Signal, remote string) *peer {
	refuse := func(ref *admission.Refusal, claims *wire.Claims) *peer {
		s.metrics.bridges.WithLabelValues(ref.Code).Inc()
		s.log.Warn("bridge refused", "from", m.Datacenter, "code", ref.Code, "rule", ref.Rule, "message", ref.Message, "remote", remote)
		c.fail(ref.Body())
		return nil
	}
	want := s.cfg.PeerCredentials[m.Datacenter]
	if want == "" || !constantTimeEqual(want, m.Credential) {
		return refuse(&admission.Refusal{Status: 401, Code: wire.CodeUnauthorized,
			Message: fmt.Sprintf("a bridge from datacenter %s needs that datacenter's credential", m.Datacenter)}, nil)
	}
	if m.Participant == nil || !validID.MatchString(m.Participant.Ref) {
		return refuse(&admission.Refusal{Status: 400, Code: wire.CodeBadRequest, Message: `"bridge" needs "participant.ref", an id of 1 to 64 letters, digits, "_", "." or "-"`}, nil)
	}
	claims, ref := s.admitBridged(ctx, m.Ticket, "", m.Datacenter)
	if ref != nil {
		return refuse(ref, claims)
	}
	p, ref := s.newPeer(c, peerBridgeIn, claims, nil)
	if ref != nil {
		return refuse(ref, claims)
	}
	p.dc = m.Datacenter
	if m.Leader != nil {
		p.room.noteEpoch(m.Leader.Epoch)
	}
	pub := p.bridged(claims, m.Participant.Ref)
	s.metrics.bridges.WithLabelValues("admitted").Inc()
	s.log.Info("bridge admitted", "from", m.Datacenter, "meeting", claims.Meeting, "participant", claims.Participant, "ticket", claims.ID)
	j := wire.Joined{Datacenter: s.cfg.ID, Meeting: claims.Meeting, Home: claims.Home, Participant: *participantFor(pub, p)}
	c.send(wire.Signal{Type: wire.SignalJoined, Joined: &j})
	p.room.addPeer(p)
	p.room.addPublisher(pub)
	return p
}

// bridged records a participant admitted on bridge p under the ref its datacenter gave it.
func (p *peer) bridged(c *wire.Claims, ref string) *publisher {
	pub := &publisher{via: p, party: admission.Party(c.Context), info: wire.Participant{
		Ref: ref, ID: c.Participant, Account: c.Account, Datacenter: p.dc, Bridged: true, Context: &c.Context,
		PublicKey: c.PublicKey}}
	p.mu.Lock()
	old := p.pubs[ref]
	// One session per participant and meeting holds on a bridge too: a ticket replayed
	// under another ref replaces the first.
	for r, x := range p.pubs {
		if x.info.ID == pub.info.ID && x.info.Account == pub.info.Account {
			old = x
			delete(p.pubs, r)
		}
	}
	p.pubs[ref] = pub
	p.mu.Unlock()
	if old != nil {
		p.room.removePublisher(old)
	}
	return pub
}

// bridgeJoin admits another participant of the bridging datacenter; a refused one is
// reported with its ref, and the bridge stays up.
func (p *peer) bridgeJoin(ctx context.Context, m wire.Signal) {
	if m.Participant == nil || !validID.MatchString(m.Participant.Ref) {
		p.sig.send(wire.Signal{Type: wire.SignalError, Participant: m.Participant, Error: &wire.Error{Error: wire.CodeBadRequest,
			Message: `"bridge_join" needs "participant.ref", an id of 1 to 64 letters, digits, "_", "." or "-"`}})
		return
	}
	claims, ref := p.s.admitBridged(ctx, m.Ticket, p.room.id, p.dc)
	if ref != nil {
		p.s.metrics.bridges.WithLabelValues(ref.Code).Inc()
		p.s.log.Warn("bridged participant refused", "from", p.dc, "code", ref.Code, "rule", ref.Rule, "message", ref.Message)
		e := ref.Body()
		p.sig.send(wire.Signal{Type: wire.SignalError, Participant: &wire.Participant{Ref: m.Participant.Ref}, Error: &e})
		return
	}
	p.s.metrics.bridges.WithLabelValues("admitted").Inc()
	p.room.addPublisher(p.bridged(claims, m.Participant.Ref))
}

func (p *peer) bridgeLeave(ref string) {
	p.mu.Lock()
	pub := p.pubs[ref]
	delete(p.pubs, ref)
	p.mu.Unlock()
	if pub != nil {
		p.room.removePublisher(pub)
	}
}

// bridgeFor makes sure participant p, whose meeting's home is elsewhere, reaches the home:
// it offers p on the room's bridge, opening it first if there is none.
func (s *Server) bridgeFor(r *room, p *peer) {
	if s.cfg.Peers == nil {
		return
	}
	r.mu.Lock()
	out, dialing := r.out, r.dialing
	if out == nil && !dialing {
		r.dialing = true
	}
	r.mu.Unlock()
	switch {
	case out != nil:
		out.sig.send(offerOnBridge(wire.SignalBridgeJoin, p))
	case dialing:
		// The dialer offers every participant of the room once the bridge is up.
	default:
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.keepBridge(r)
		}()
	}
}

func offerOnBridge(typ string, p *peer) wire.Signal {
	return wire.Signal{Type: typ, Ticket: p.ticket, Participant: &wire.Participant{Ref: p.self.info.Ref}}
}

// bridgeLeave tells the home that participant p left.
func (r *room) bridgeLeave(p *peer) {
	r.mu.Lock()
	out := r.out
	r.mu.Unlock()
	if out != nil {
		out.sig.send(wire.Signal{Type: wire.SignalBridgeLeave, Participant: &wire.Participant{Ref: p.self.info.Ref}})
	}
}

// locals is the room's participants connected here.
func (r *room) locals() []*peer {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ps []*peer
	for p := range r.peers {
		if p.kind == peerParticipant {
			ps = append(ps, p)
		}
	}
	return ps
}

// keepBridge holds the room's bridge to its home while the room has participants here:
// it opens it, runs it, and opens it again after a failure, backing off.
func (s *Server) keepBridge(r *room) {
	defer func() {
		r.mu.Lock()
		r.dialing = false
		empty := len(r.peers) == 0
		r.mu.Unlock()
		if empty {
			s.mu.Lock()
			if s.rooms[r.id] == r {
				delete(s.rooms, r.id)
			}
			s.mu.Unlock()
		}
	}()
	backoff := 250 * time.Millisecond
	for {
		locals := r.locals()
		if len(locals) == 0 {
			return
		}
		select {
		case <-s.stopped:
			return
		default:
		}
		out, err := s.openBridge(r, locals)
		if err != nil {
			s.log.Warn("bridge to the meeting's home failed", "meeting", r.id, "home", r.home, "err", err)
		} else {
			backoff = 250 * time.Millisecond
			out.run(context.Background())
		}
		select {
		case <-s.stopped:
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, bridgeMaxBackoff)
	}
}

// openBridge dials the home's media server and offers the room's participants on it.
func (s *Server) openBridge(r *room, locals []*peer) (*peer, error) {
	base, ok := s.cfg.Peers(r.home)
	if !ok {
		return nil, fmt.Errorf("no media server address for datacenter %s", r.home)
	}
	u := strings.TrimRight(base, "/") + wire.RTCPath
	u = "ws" + strings.TrimPrefix(u, "http")
	ctx, cancel := context.WithTimeout(context.Background(), bridgeDialTimeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: s.cfg.HTTPClient})
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", u, err)
	}
	c := newSigConn(ws)
	first := locals[0]
	m := offerOnBridge(wire.SignalBridge, first)
	m.Datacenter, m.Credential = s.cfg.ID, s.cfg.Credential
	if r.isE2EE() {
		// The epochs relayed here while the bridge was down, for the home's next leader to
		// start above.
		r.mu.Lock()
		m.Leader = &wire.Leader{Epoch: max(r.maxEpoch, r.homeEpoch)}
		r.mu.Unlock()
	}
	c.send(m)
	reply, err := c.read(ctx)
	if err != nil {
		c.abort()
		return nil, fmt.Errorf("bridge to %s: %w", r.home, err)
	}
	if reply.Type == wire.SignalError {
		c.abort()
		// The home refused the participant the bridge was opened for: its media cannot
		// reach the others, so it must go elsewhere (the others are tried next time).
		first.end(reply.Error)
		return nil, fmt.Errorf("the home refused the bridge: %s: %s", reply.Error.Error, reply.Error.Message)
	}
	if reply.Type != wire.SignalJoined {
		c.abort()
		return nil, fmt.Errorf("bridge to %s: answered %q, want %q", r.home, reply.Type, wire.SignalJoined)
	}
	out, ref := s.newPeer(c, peerBridgeOut, &wire.Claims{Meeting: r.id, Home: r.home}, r)
	if ref != nil {
		c.abort()
		return nil, errors.New(ref.Message)
	}
	out.dc = r.home
	out.withheld = map[string]*wire.Withheld{}
	r.mu.Lock()
	r.out = out
	var rest []*peer
	for p := range r.peers {
		if p.kind == peerParticipant && p != first {
			rest = append(rest, p)
		}
	}
	r.mu.Unlock()
	for _, p := range rest {
		out.sig.send(offerOnBridge(wire.SignalBridgeJoin, p))
	}
	r.addPeer(out)
	s.log.Info("bridge open", "meeting", r.id, "home", r.home, "participants", len(rest)+1)
	return out, nil
}

// fromHome acts on a message the home sends on this datacenter's bridge.
func (p *peer) fromHome(m wire.Signal) error {
	r := p.room
	switch m.Type {
	case wire.SignalParticipantJoined:
		if m.Participant.Context == nil {
			return badMessage("the home announced participant %s without its rule context", m.Participant.Ref)
		}
		info := *m.Participant
		info.Bridged = true
		r.addPublisher(&publisher{info: info, party: admission.Party(*info.Context), via: p})
	case wire.SignalParticipantLeft:
		r.mu.Lock()
		pub := r.pubs[m.Participant.Ref]
		r.mu.Unlock()
		if pub != nil && pub.via == p {
			r.removePublisher(pub)
		}
	case wire.SignalTrackPublished:
		r.mu.Lock()
		r.remoteTracks[m.Track.ID] = *m.Track
		r.mu.Unlock()
	case wire.SignalTrackUnpublished:
		r.mu.Lock()
		delete(r.remoteTracks, m.Track.ID)
		u := r.tracks[m.Track.ID]
		r.mu.Unlock()
		if u != nil && u.source == p {
			r.removeTrack(u)
		}
	case wire.SignalWithheld:
		w := *m.Withheld
		p.mu.Lock()
		p.withheld[w.Track.ID] = &w
		p.mu.Unlock()
		r.s.metrics.withheld.Inc()
		for _, l := range r.locals() {
			l.sig.send(wire.Signal{Type: wire.SignalWithheld, Withheld: &w})
		}
	case wire.SignalLeader:
		r.homeLeader(*m.Leader)
	case wire.SignalKey:
		r.relayKey(p, m)
	case wire.SignalGoaway:
		return &protocolError{code: wire.CodeNoCapacity, msg: "the home is draining"}
	case wire.SignalError:
		if m.Participant == nil {
			return &protocolError{code: m.Error.Error, msg: "the home closed the bridge: " + m.Error.Message}
		}
		for _, l := range r.locals() {
			if l.self.info.Ref == m.Participant.Ref {
				l.end(m.Error)
			}
		}
	}
	return nil
}

// homeWithheld is what the home withheld from this datacenter so far.
func (p *peer) homeWithheld() []*wire.Withheld {
	p.mu.Lock()
	defer p.mu.Unlock()
	ws := make([]*wire.Withheld, 0, len(p.withheld))
	for _, w := range p.withheld {
		ws = append(ws, w)
	}
	return ws
}
