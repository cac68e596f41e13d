package sfu

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/geofence/geofence/admission"
	"github.com/geofence/geofence/wire"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

type peerKind int

const (
	peerParticipant peerKind = iota // a participant connected here
	peerBridgeIn                    // a bridge another datacenter opened to this one (its home)
	peerBridgeOut                   // the bridge this datacenter opened to a meeting's home
)

// maxTracksPerKind bounds what one participant publishes: one audio and one video track
// (docs/rtc.md). A bridge carries the tracks of all its participants.
const maxTracksPerKind = 1

// peer is one signalling connection and its two PeerConnections: send carries what this
// server forwards to the other side (this side offers), recv what the other side sends
// (the other side offers). For a participant, send is the "subscriber" PeerConnection and
// recv the "publisher" one; for the bridge this server opens, the reverse.
type peer struct {
	s    *Server
	kind peerKind
	sig  *sigConn
	room *room
	dc   string     // the datacenter on the other side: this one for a participant
	self *publisher // the participant itself (peerParticipant)
	// ticket is the participant's ticket, offered on the bridge to the home.
	ticket string

	send, recv             *webrtc.PeerConnection
	sendTarget, recvTarget string
	w                      *writer
	release                func() // the session held (peerParticipant)

	mu          sync.Mutex
	pubs        map[string]*publisher // peerBridgeIn: the participants it carries, by ref
	downs       map[*upTrack]*downTrack
	ups         map[*upTrack]struct{}
	perKind     map[webrtc.RTPCodecType]int
	negotiating bool
	renegotiate bool
	cands       map[string][]webrtc.ICECandidateInit // held until the remote description is set
	ncands      int
	withheld    map[string]*wire.Withheld // peerBridgeOut: what the home withheld from here
	closed      bool
}

// newPeer builds the connection's PeerConnections and holds a session for a participant.
// r, when set, is the room; else it is the claims' meeting's.
func (s *Server) newPeer(c *sigConn, kind peerKind, claims *wire.Claims, r *room) (*peer, *admission.Refusal) {
	p := &peer{s: s, kind: kind, sig: c, dc: s.cfg.ID,
		downs: map[*upTrack]*downTrack{}, ups: map[*upTrack]struct{}{}, perKind: map[webrtc.RTPCodecType]int{},
		cands: map[string][]webrtc.ICECandidateInit{}, pubs: map[string]*publisher{}}
	p.sendTarget, p.recvTarget = wire.TargetSubscriber, wire.TargetPublisher
	if kind == peerBridgeOut {
		p.sendTarget, p.recvTarget = wire.TargetPublisher, wire.TargetSubscriber
	}
	api := s.api
	if kind == peerBridgeOut {
		api = s.bridgeAPI
	}
	var err error
	if p.send, err = api.NewPeerConnection(webrtc.Configuration{}); err != nil {
		return nil, internalRefusal(s.cfg.ID, err)
	}
	if p.recv, err = api.NewPeerConnection(webrtc.Configuration{}); err != nil {
		_ = p.send.Close()
		return nil, internalRefusal(s.cfg.ID, err)
	}
	p.w = newWriter()
	p.wire()
	if kind == peerParticipant {
		p.self = &publisher{via: p, party: admission.Party(claims.Context), info: wire.Participant{
			Ref: newRef("p"), ID: claims.Participant, Account: claims.Account, Datacenter: s.cfg.ID,
			Context: &claims.Context, PublicKey: claims.PublicKey}}
		release, ref := s.hold(claims, func() {
			p.end(&wire.Error{Error: wire.CodeUnknownSession,
				Message: "this session was replaced by a newer connection of the same participant"})
		})
		if ref != nil {
			p.closePCs()
			return nil, ref
		}
		p.release = release
	}
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		p.closePCs()
		if p.release != nil {
			p.release()
		}
		return nil, &admission.Refusal{Status: 503, Code: wire.CodeNoCapacity, Message: "media server " + s.cfg.ID + " is draining"}
	}
	s.peers[p] = struct{}{}
	p.room = r
	if r == nil {
		p.room = s.roomLocked(claims.Meeting, claims.Home, claims.Mode)
	}
	s.mu.Unlock()
	if kind == peerParticipant {
		s.metrics.sessions.Inc()
	}
	return p, nil
}

func internalRefusal(dc string, err error) *admission.Refusal {
	return &admission.Refusal{Status: 500, Code: wire.CodeInternal, Message: "media server " + dc + " could not open a session; try another datacenter", Cause: err}
}

// wire connects the PeerConnections' callbacks.
func (p *peer) wire() {
	for _, pc := range []struct {
		pc     *webrtc.PeerConnection
		target string
	}{{p.send, p.sendTarget}, {p.recv, p.recvTarget}} {
		target := pc.target
		pc.pc.OnICECandidate(func(c *webrtc.ICECandidate) { p.sig.send(CandidateSignal(target, c)) })
		// A session ends with its PeerConnections (DESIGN.md section 8): one that fails (ICE
		// or DTLS gone) or is closed by the other side ends the connection.
		pc.pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
			switch st {
			case webrtc.PeerConnectionStateFailed:
				p.end(&wire.Error{Error: wire.CodeInternal, Message: "the " + target + " PeerConnection failed (ICE or DTLS)"})
			case webrtc.PeerConnectionStateClosed:
				p.end(nil)
			}
		})
	}
	p.recv.OnTrack(p.onTrack)
}

// run reads the connection's messages until it ends, then takes the peer out of its room.
func (p *peer) run(ctx context.Context) {
	defer p.cleanup()
	if p.kind == peerParticipant {
		p.room.addParticipant(p)
		if p.room.home != p.s.cfg.ID {
			p.s.bridgeFor(p.room, p)
		}
	}
	go p.pingLoop(ctx)
	for {
		m, err := p.sig.read(ctx)
		if err != nil {
			var pe *protocolError
			if errors.As(err, &pe) {
				p.end(&wire.Error{Error: pe.code, Message: pe.msg})
			}
			return
		}
		if err := p.handle(ctx, m); err != nil {
			var pe *protocolError
			if errors.As(err, &pe) {
				p.end(&wire.Error{Error: pe.code, Message: pe.msg})
			} else {
				p.end(&wire.Error{Error: wire.CodeInternal, Message: err.Error()})
			}
			return
		}
		if m.Type == wire.SignalLeave {
			p.end(nil)
			return
		}
	}
}

func (p *peer) pingLoop(ctx context.Context) {
	t := time.NewTicker(p.s.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.sig.done:
			return
		case <-t.C:
			pctx, cancel := context.WithTimeout(ctx, pingTimeout)
			err := p.sig.ws.Ping(pctx)
			cancel()
			if err != nil && ctx.Err() == nil {
				p.sig.abort()
				return
			}
		}
	}
}

func badMessage(format string, args ...any) error {
	return &protocolError{code: wire.CodeBadRequest, msg: fmt.Sprintf(format, args...)}
}

// handle acts on one message.
func (p *peer) handle(ctx context.Context, m wire.Signal) error {
	switch m.Type {
	case wire.SignalOffer:
		if m.Target != p.recvTarget {
			return badMessage("offers for the %s PeerConnection come from the server", m.Target)
		}
		return p.answer(m.SDP)
	case wire.SignalAnswer:
		if m.Target != p.sendTarget {
			return badMessage("no offer for the %s PeerConnection is waiting for an answer", m.Target)
		}
		return p.accept(m.SDP)
	case wire.SignalCandidate:
		return p.candidate(m)
	case wire.SignalRekeyed:
		if p.kind != peerParticipant {
			return badMessage("%q is a participant's message", m.Type)
		}
		p.keyFrames()
		return nil
	case wire.SignalLeave:
		return nil
	case wire.SignalKey:
		if p.kind == peerBridgeOut {
			return p.fromHome(m)
		}
		if p.kind == peerBridgeIn && m.From == "" {
			return badMessage("a %q on a bridge names its sender in \"from\"", m.Type)
		}
		p.room.relayKey(p, m)
		return nil
	case wire.SignalBridgeJoin, wire.SignalBridgeLeave:
		if p.kind != peerBridgeIn {
			return badMessage("%q is only sent on a bridge", m.Type)
		}
		if m.Type == wire.SignalBridgeJoin {
			p.bridgeJoin(ctx, m)
		} else {
			p.bridgeLeave(m.Participant.Ref)
		}
		return nil
	case wire.SignalParticipantJoined, wire.SignalParticipantLeft, wire.SignalTrackPublished,
		wire.SignalTrackUnpublished, wire.SignalWithheld, wire.SignalGoaway, wire.SignalError, wire.SignalLeader:
		if p.kind != peerBridgeOut {
			return badMessage("%q is a server's message", m.Type)
		}
		return p.fromHome(m)
	default:
		return badMessage("%q is not expected now", m.Type)
	}
}

// answer answers the other side's offer on recv.
func (p *peer) answer(sdp string) error {
	if err := p.recv.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return badMessage("the %s offer does not apply: %v", p.recvTarget, err)
	}
	ans, err := p.recv.CreateAnswer(nil)
	if err != nil {
		return badMessage("cannot answer the %s offer: %v", p.recvTarget, err)
	}
	if err := p.recv.SetLocalDescription(ans); err != nil {
		return fmt.Errorf("set local description: %w", err)
	}
	p.sig.send(wire.Signal{Type: wire.SignalAnswer, Target: p.recvTarget, SDP: ans.SDP})
	return p.flushCandidates(p.recvTarget, p.recv)
}

// negotiate offers the tracks of send to the other side, one offer at a time: a change while
// an offer waits for its answer is offered once that answer is in.
func (p *peer) negotiate() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	if p.negotiating {
		p.renegotiate = true
		p.mu.Unlock()
		return
	}
	p.negotiating = true
	p.mu.Unlock()
	offer, err := p.send.CreateOffer(nil)
	if err == nil {
		err = p.send.SetLocalDescription(offer)
	}
	if err != nil {
		p.end(&wire.Error{Error: wire.CodeInternal, Message: "cannot offer the " + p.sendTarget + " PeerConnection: " + err.Error()})
		return
	}
	p.sig.send(wire.Signal{Type: wire.SignalOffer, Target: p.sendTarget, SDP: offer.SDP})
}

// accept applies the answer to this side's offer and offers again if something changed.
func (p *peer) accept(sdp string) error {
	p.mu.Lock()
	waiting := p.negotiating
	p.mu.Unlock()
	if !waiting {
		return badMessage("no offer for the %s PeerConnection is waiting for an answer", p.sendTarget)
	}
	if err := p.send.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		return badMessage("the %s answer does not apply: %v", p.sendTarget, err)
	}
	if err := p.flushCandidates(p.sendTarget, p.send); err != nil {
		return err
	}
	p.mu.Lock()
	p.negotiating = false
	again := p.renegotiate
	p.renegotiate = false
	p.mu.Unlock()
	if again {
		go p.negotiate()
	}
	return nil
}

// candidate adds a remote candidate, or holds it until its PeerConnection has a remote
// description.
func (p *peer) candidate(m wire.Signal) error {
	init := RemoteCandidate(m.Candidate)
	if init.Candidate == "" {
		return nil // end of candidates: nothing to do for ICE in Pion
	}
	if err := CheckCandidate(p.s.cfg.Network, init); err != nil {
		// A browser offers every interface it has; on loopback we use none but 127.0.0.1.
		p.s.log.Debug("remote candidate ignored", "err", err)
		return nil
	}
	pc := p.send
	if m.Target == p.recvTarget {
		pc = p.recv
	}
	p.mu.Lock()
	p.ncands++
	if p.ncands > maxCandidates {
		p.mu.Unlock()
		return &protocolError{code: wire.CodeLimit, msg: fmt.Sprintf("more than %d ICE candidates", maxCandidates)}
	}
	if pc.RemoteDescription() == nil {
		p.cands[m.Target] = append(p.cands[m.Target], init)
		p.mu.Unlock()
		return nil
	}
	p.mu.Unlock()
	if err := pc.AddICECandidate(init); err != nil {
		return badMessage("candidate for the %s PeerConnection: %v", m.Target, err)
	}
	return nil
}

func (p *peer) flushCandidates(target string, pc *webrtc.PeerConnection) error {
	p.mu.Lock()
	held := p.cands[target]
	delete(p.cands, target)
	p.mu.Unlock()
	for _, c := range held {
		if err := pc.AddICECandidate(c); err != nil {
			return badMessage("candidate for the %s PeerConnection: %v", target, err)
		}
	}
	return nil
}

// validID is an id a bridge may give a track: an msid token (RFC 8830) of our own shape.
var validID = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// onTrack is a track arriving on recv: a participant's own, a bridged participant's, or
// (on the bridge to the home) one the home announced.
func (p *peer) onTrack(remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	go drainRTCP(recv)
	var from *publisher
	info := wire.Track{Kind: remote.Kind().String(), MimeType: remote.Codec().MimeType, Datacenter: p.dc}
	switch p.kind {
	case peerParticipant:
		p.mu.Lock()
		n := p.perKind[remote.Kind()]
		p.perKind[remote.Kind()] = n + 1
		p.mu.Unlock()
		if n >= maxTracksPerKind {
			p.s.log.Info("extra track ignored", "participant", p.self.info.ID, "kind", info.Kind)
			discard(remote)
			return
		}
		from = p.self
		info.ID, info.Stream, info.Participant = newRef("t"), from.info.Ref, from.info.Ref
	case peerBridgeIn:
		p.mu.Lock()
		from = p.pubs[remote.StreamID()]
		p.mu.Unlock()
		if from == nil || !validID.MatchString(remote.ID()) {
			p.s.log.Warn("bridge track of no admitted participant ignored", "from", p.dc, "stream", remote.StreamID())
			discard(remote)
			return
		}
		info.ID, info.Stream, info.Participant, info.Datacenter = remote.ID(), from.info.Ref, from.info.Ref, from.info.Datacenter
	case peerBridgeOut:
		r := p.room
		r.mu.Lock()
		t, ok := r.remoteTracks[remote.ID()]
		if ok {
			from = r.pubs[t.Participant]
		}
		r.mu.Unlock()
		if from == nil {
			p.s.log.Warn("track from the home that it never announced ignored", "home", p.dc, "track", remote.ID())
			discard(remote)
			return
		}
		info = t
	}
	ext := map[uint8]string{}
	for _, e := range recv.GetParameters().HeaderExtensions {
		ext[uint8(e.ID)] = e.URI
	}
	u := &upTrack{info: info, from: from, source: p, remote: remote, pc: p.recv, kind: remote.Kind(),
		codec: remote.Codec(), extURI: ext, metrics: p.s.metrics}
	if rec := p.s.cfg.RecordPayload; rec != nil {
		u.onRecord = func(b []byte) { rec(sha256.Sum256(b)) }
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.ups[u] = struct{}{}
	p.mu.Unlock()
	if !p.room.addTrack(u) {
		discard(remote)
		return
	}
	u.run()
	p.room.removeTrack(u)
	p.mu.Lock()
	delete(p.ups, u)
	p.mu.Unlock()
}

// drainRTCP reads a receiver's RTCP so that the interceptors see it (sender reports).
func drainRTCP(r *webrtc.RTPReceiver) {
	buf := make([]byte, 1500)
	for {
		if _, _, err := r.Read(buf); err != nil {
			return
		}
	}
}

// discard reads a track nobody may receive until it ends.
func discard(t *webrtc.TrackRemote) {
	go func() {
		buf := make([]byte, 1500)
		for {
			if _, _, err := t.Read(buf); err != nil {
				return
			}
		}
	}()
}

// addDown starts sending u to this peer.
func (p *peer) addDown(u *upTrack) {
	p.mu.Lock()
	if p.closed || p.downs[u] != nil {
		p.mu.Unlock()
		return
	}
	d := &downTrack{up: u, w: p.w, to: p}
	p.downs[u] = d
	p.mu.Unlock()
	tr, err := p.send.AddTransceiverFromTrack(d, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		p.s.log.Error("cannot add a track to a subscriber", "err", err)
		p.mu.Lock()
		delete(p.downs, u)
		p.mu.Unlock()
		return
	}
	d.sender = tr.Sender()
	u.addDown(d)
	p.s.metrics.tracksOut.Inc()
	go p.readRTCP(d)
	go p.negotiate()
}

// removeDown stops sending u to this peer; it reports whether it was sent.
func (p *peer) removeDown(u *upTrack) bool {
	p.mu.Lock()
	d := p.downs[u]
	delete(p.downs, u)
	closed := p.closed
	p.mu.Unlock()
	if d == nil {
		return false
	}
	u.removeDown(d)
	p.s.metrics.tracksOut.Dec()
	if !closed && d.sender != nil {
		_ = p.send.RemoveTrack(d.sender)
		go p.negotiate()
	}
	return true
}

// readRTCP reads a subscriber's RTCP for one track: NACKs are answered by the interceptor
// beneath; picture loss is relayed to the publisher (RFC 4585 section 6.3.1, RFC 5104
// section 3.5.1), rate limited there.
func (p *peer) readRTCP(d *downTrack) {
	for {
		pkts, _, err := d.sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, pkt := range pkts {
			switch pkt.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				d.up.requestKeyFrame()
			}
		}
	}
}

// keyFrames asks for a key frame on every video track the participant publishes, after it
// re-keyed.
func (p *peer) keyFrames() {
	p.mu.Lock()
	ups := make([]*upTrack, 0, len(p.ups))
	for u := range p.ups {
		ups = append(ups, u)
	}
	p.mu.Unlock()
	for _, u := range ups {
		u.lastPLI.Store(0) // a re-key is worth a key frame now
		u.requestKeyFrame()
	}
}

func (p *peer) downCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.downs)
}

func (p *peer) upCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.ups)
}

// end closes the connection, telling the other side why when e is set.
func (p *peer) end(e *wire.Error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	if e != nil {
		p.sig.fail(*e)
	} else {
		p.sig.close(websocket.StatusNormalClosure, "")
	}
}

func (p *peer) closePCs() {
	_ = p.send.Close()
	_ = p.recv.Close()
	p.w.stop()
}

// cleanup runs once the connection's reader stopped.
func (p *peer) cleanup() {
	p.end(nil) // a no-op when the connection is already ending, its last words queued
	noLocal := p.room.removePeer(p)
	p.mu.Lock()
	downs := p.downs
	p.downs = map[*upTrack]*downTrack{}
	p.mu.Unlock()
	for u, d := range downs {
		u.removeDown(d)
		p.s.metrics.tracksOut.Dec()
	}
	p.closePCs()
	if p.release != nil {
		p.release()
	}
	s := p.s
	var out *peer
	s.mu.Lock()
	delete(s.peers, p)
	if r := p.room; noLocal && s.rooms[r.id] == r {
		r.mu.Lock()
		dialing := r.dialing
		out = r.out
		r.mu.Unlock()
		if out == nil && !dialing {
			delete(s.rooms, r.id)
		}
	}
	s.mu.Unlock()
	if out != nil {
		// The bridge closes with its last participant here; its own cleanup removes the room.
		out.end(nil)
	}
	if p.kind == peerParticipant {
		s.metrics.sessions.Dec()
		p.room.bridgeLeave(p)
		s.log.Info("media session ended", "meeting", p.room.id, "participant", p.self.info.ID, "ref", p.self.info.Ref)
	}
}
