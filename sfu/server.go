package sfu

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/geofence/geofence/admission"
	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/wire"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of Config.
const (
	DefaultJoinTimeout  = 10 * time.Second
	DefaultPingInterval = 10 * time.Second
)

// Sessions holds the one media session of each participant in a meeting (DESIGN.md section
// 8) and the datacenter's capacity: the DC agent is one. Hold registers a session for the
// participant of claims c; when the participant already holds one, that one is replaced and
// its end is called (outside any lock of the holder). Hold refuses with no_capacity when the
// datacenter is full. release ends the session; it is idempotent.
type Sessions interface {
	Hold(c *wire.Claims, end func()) (release func(), ref *admission.Refusal)
}

// Config configures a Server. ID, Model and Keys are required; every other field's zero value
// is its default. The Server keeps a copy.
type Config struct {
	// ID is this datacenter's id in the policy. Required.
	ID string
	// Model returns the policy in force here (the DC's own copy, swapped when a config is
	// pushed). Required.
	Model func() *policy.Model
	// Keys verifies tickets. Required.
	Keys admission.TicketVerifier
	// Sessions holds sessions and capacity; nil holds them in the server, without a
	// capacity limit.
	Sessions Sessions
	// Network is where WebRTC runs.
	Network Network

	// Credential is this datacenter's credential, presented on the bridges it opens.
	Credential string
	// PeerCredentials are the credentials of the datacenters that may open bridges here, by
	// datacenter id. A datacenter without one cannot bridge to this one.
	PeerCredentials map[string]string
	// Peers returns the base URL (http or https) of another datacenter's media server, to
	// open bridges to; nil opens none, and participants whose meeting's home is elsewhere
	// are served without the others.
	Peers func(dc string) (string, bool)
	// HTTPClient dials bridges; nil means http.DefaultClient.
	HTTPClient *http.Client

	// JoinTimeout is how long a new connection may take to send its first message; zero
	// means DefaultJoinTimeout.
	JoinTimeout time.Duration
	// PingInterval is the time between WebSocket pings; a connection that does not answer
	// within three is closed. Zero means DefaultPingInterval.
	PingInterval time.Duration

	// RecordPayload, when set, is called with the SHA-256 of every RTP payload this server
	// receives (and forwards unchanged): development only, so that a test can show that no
	// payload is a plaintext (the server is payload-blind).
	RecordPayload func(digest [sha256.Size]byte)

	// Logger receives the server's logs; nil means none.
	Logger *slog.Logger
	// Registry, when set, gets the server's metrics.
	Registry prometheus.Registerer
}

// Server is the media server of one datacenter. It serves the signalling WebSocket (as an
// http.Handler for GET /v1/rtc) and forwards media between the participants of each meeting
// and over bridges.
type Server struct {
	cfg Config
	api *webrtc.API
	// bridgeAPI makes the PeerConnections of the bridges this server opens. With a UDP mux
	// (Network.UDP) they take ports of their own: a bridge's two PeerConnections go to the
	// same address at the home, and a mux on both ends could not tell them apart.
	bridgeAPI *webrtc.API
	admitter  *admission.Admitter
	log       *slog.Logger
	metrics   *metrics

	mu       sync.Mutex
	rooms    map[string]*room
	peers    map[*peer]struct{}
	draining bool
	local    map[identity]*held // sessions held when Config.Sessions is nil

	wg      sync.WaitGroup // peers' goroutines
	stopped chan struct{}

	lastBytesIn, lastBytesOut atomic.Int64 // at the last Load
	lastLoad                  atomic.Int64 // unix nanoseconds
}

type identity struct{ meeting, account, participant string }

// New returns a Server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.ID == "" || cfg.Model == nil || cfg.Keys == nil {
		return nil, errors.New("new media server: ID, Model and Keys are required")
	}
	if _, ok := cfg.Model().DC(cfg.ID); !ok {
		return nil, fmt.Errorf("new media server: datacenter %q is not in the policy", cfg.ID)
	}
	if cfg.JoinTimeout <= 0 {
		cfg.JoinTimeout = DefaultJoinTimeout
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = DefaultPingInterval
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	api, err := NewAPI(cfg.Network, log.With("datacenter", cfg.ID))
	if err != nil {
		return nil, fmt.Errorf("new media server %s: %w", cfg.ID, err)
	}
	bridgeAPI := api
	if cfg.Network.UDP != nil {
		n := cfg.Network
		n.UDP = nil
		if bridgeAPI, err = NewAPI(n, log.With("datacenter", cfg.ID)); err != nil {
			return nil, fmt.Errorf("new media server %s: %w", cfg.ID, err)
		}
	}
	m, err := newMetrics(cfg.Registry, cfg.ID)
	if err != nil {
		return nil, fmt.Errorf("new media server %s: %w", cfg.ID, err)
	}
	s := &Server{
		cfg: cfg, api: api, bridgeAPI: bridgeAPI, log: log.With("datacenter", cfg.ID), metrics: m,
		admitter: &admission.Admitter{Model: cfg.Model, DC: cfg.ID, Keys: cfg.Keys},
		rooms:    map[string]*room{}, peers: map[*peer]struct{}{}, local: map[identity]*held{},
		stopped: make(chan struct{}),
	}
	s.lastLoad.Store(time.Now().UnixNano())
	return s, nil
}

// ID is the server's datacenter id.
func (s *Server) ID() string { return s.cfg.ID }

// ServeHTTP serves the signalling WebSocket (docs/rtc.md). Anyone may open it; nothing is
// served before the first message carries a ticket that admission accepts.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	draining := s.draining
	s.mu.Unlock()
	if draining {
		w.Header().Set("Retry-After", "2")
		http.Error(w, "media server is draining", http.StatusServiceUnavailable)
		return
	}
	// Authentication is the ticket in the first message, never an ambient credential such
	// as a cookie, so a page from another origin gains nothing a script could not do
	// itself: any origin may connect (the meeting page is served by other DCs too).
	// A signalling connection outlives any HTTP deadline of the server it came through;
	// its own limits (join timeout, pings, write timeout) bound it instead.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	c := newSigConn(ws)
	s.wg.Add(1)
	defer s.wg.Done()
	s.serveConn(r.Context(), c, r.RemoteAddr)
}

// serveConn runs one signalling connection from its first message to its end.
func (s *Server) serveConn(ctx context.Context, c *sigConn, remote string) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	// Drain closes connections itself, after a goaway; cancelling a read would cut it.
	go func() {
		<-c.done
		cancel()
	}()
	// The first message, within the join timeout. The read itself gets no deadline: a
	// WebSocket read that times out closes the connection before the error could be sent.
	type result struct {
		m   wire.Signal
		err error
	}
	got := make(chan result, 1)
	go func() {
		m, err := c.read(ctx)
		got <- result{m, err}
	}()
	timer := time.NewTimer(s.cfg.JoinTimeout)
	defer timer.Stop()
	var first wire.Signal
	select {
	case <-timer.C:
		s.metrics.joins.WithLabelValues(wire.CodeBadRequest).Inc()
		c.fail(wire.Error{Error: wire.CodeBadRequest, Message: "the first message must be \"join\" or \"bridge\", within " + s.cfg.JoinTimeout.String()})
		<-got
		return
	case r := <-got:
		if r.err != nil {
			s.metrics.joins.WithLabelValues(wire.CodeBadRequest).Inc()
			var pe *protocolError
			if errors.As(r.err, &pe) {
				c.fail(wire.Error{Error: pe.code, Message: pe.msg})
			} else {
				c.abort()
			}
			return
		}
		first = r.m
	}
	var p *peer
	switch first.Type {
	case wire.SignalJoin:
		p = s.join(ctx, c, first, remote)
	case wire.SignalBridge:
		p = s.acceptBridge(ctx, c, first, remote)
	default:
		s.metrics.joins.WithLabelValues(wire.CodeBadRequest).Inc()
		c.fail(wire.Error{Error: wire.CodeBadRequest, Message: fmt.Sprintf("the first message must be \"join\" or \"bridge\", got %q", first.Type)})
		return
	}
	if p == nil {
		return
	}
	p.run(ctx)
}

// join admits a participant's connection, or refuses it and returns nil.
func (s *Server) join(ctx context.Context, c *sigConn, m wire.Signal, remote string) *peer {
	claims, ref := s.admitter.Admit(ctx, m.Ticket, admission.Media)
	if ref != nil {
		s.refuse(c, ref, claims, remote)
		return nil
	}
	p, ref := s.newPeer(c, peerParticipant, claims, nil)
	if ref != nil {
		s.refuse(c, ref, claims, remote)
		return nil
	}
	p.ticket = m.Ticket
	s.metrics.joins.WithLabelValues("admitted").Inc()
	s.log.Info("media session admitted", "meeting", claims.Meeting, "account", claims.Account, "participant", claims.Participant,
		"ref", p.self.info.Ref, "home", claims.Home, "ticket", claims.ID)
	return p
}

func (s *Server) refuse(c *sigConn, ref *admission.Refusal, claims *wire.Claims, remote string) {
	s.metrics.joins.WithLabelValues(ref.Code).Inc()
	attrs := []any{"code", ref.Code, "message", ref.Message, "remote", remote}
	if ref.Rule != "" {
		attrs = append(attrs, "rule", ref.Rule)
	}
	if ref.Cause != nil {
		attrs = append(attrs, "err", ref.Cause)
	}
	if claims != nil {
		attrs = append(attrs, "meeting", claims.Meeting, "account", claims.Account, "participant", claims.Participant, "ticket", claims.ID)
	}
	s.log.Warn("media join refused", attrs...)
	c.fail(ref.Body())
}

// held is a session in the server's own table.
type held struct{ end func() }

// hold registers the session of c with Config.Sessions or the server's own table.
func (s *Server) hold(c *wire.Claims, end func()) (func(), *admission.Refusal) {
	if s.cfg.Sessions != nil {
		return s.cfg.Sessions.Hold(c, end)
	}
	id, h := identity{c.Meeting, c.Account, c.Participant}, &held{end}
	s.mu.Lock()
	old := s.local[id]
	s.local[id] = h
	s.mu.Unlock()
	if old != nil {
		old.end()
	}
	return func() {
		s.mu.Lock()
		if s.local[id] == h {
			delete(s.local, id)
		}
		s.mu.Unlock()
	}, nil
}

// roomLocked returns the meeting's room, made if needed. The caller holds s.mu.
func (s *Server) roomLocked(meeting, home, mode string) *room {
	r := s.rooms[meeting]
	if r == nil {
		r = &room{s: s, id: meeting, home: home, mode: mode, peers: map[*peer]struct{}{}, pubs: map[string]*publisher{},
			tracks: map[string]*upTrack{}, remoteTracks: map[string]wire.Track{}}
		s.rooms[meeting] = r
	}
	return r
}

// Drain tells every connection to go elsewhere (goaway), refuses new ones, and closes them
// all; it returns when their goroutines are done or ctx is.
func (s *Server) Drain(ctx context.Context) {
	peers, ok := s.stop()
	if !ok {
		return
	}
	for _, p := range peers {
		if p.kind != peerBridgeOut {
			p.sig.send(wire.Signal{Type: wire.SignalGoaway})
		}
		p.end(nil)
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		for _, p := range peers {
			p.sig.abort()
		}
		<-done
	}
	s.log.Info("media server drained", "sessions", len(peers))
}

// Fail ends every connection at once, without a goaway or a close message, and refuses new
// ones: what participants see when their DC fails. It returns when the connections'
// goroutines are done. (Drain is the orderly end.)
func (s *Server) Fail() {
	peers, ok := s.stop()
	if !ok {
		return
	}
	for _, p := range peers {
		p.sig.abort()
		p.end(nil)
	}
	s.wg.Wait()
	s.log.Warn("media server failed", "sessions", len(peers))
}

// stop refuses new connections and bridges from now on and returns the connections there are;
// false when the server had stopped already (Drain or Fail).
func (s *Server) stop() ([]*peer, bool) {
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		return nil, false
	}
	s.draining = true
	peers := make([]*peer, 0, len(s.peers))
	for p := range s.peers {
		peers = append(peers, p)
	}
	s.mu.Unlock()
	close(s.stopped) // no bridge is opened again
	return peers, true
}

// Load is the media server's load now (wire.MediaLoad), with bit rates over the time since
// the last call.
func (s *Server) Load() wire.MediaLoad {
	s.mu.Lock()
	defer s.mu.Unlock()
	var l wire.MediaLoad
	bridges := map[string]*wire.BridgeLoad{}
	for _, r := range s.rooms {
		r.mu.Lock()
		if len(r.peers) > 0 {
			l.Meetings++
		}
		l.TracksIn += int64(len(r.tracks))
		r.mu.Unlock()
	}
	for p := range s.peers {
		n := int64(p.downCount())
		l.TracksOut += n
		switch p.kind {
		case peerParticipant:
			l.Sessions++
		case peerBridgeIn, peerBridgeOut:
			dir := "in"
			if p.kind == peerBridgeOut {
				dir = "out"
			}
			b := bridges[p.dc+"/"+dir]
			if b == nil {
				b = &wire.BridgeLoad{Datacenter: p.dc, Direction: dir}
				bridges[p.dc+"/"+dir] = b
			}
			b.Meetings++
			b.TracksOut += n
			b.TracksIn += int64(p.upCount())
		}
	}
	for _, b := range bridges {
		l.Bridges = append(l.Bridges, *b)
	}
	now := time.Now().UnixNano()
	in, out := s.metricsBytes()
	dt := float64(now-s.lastLoad.Swap(now)) / 1e9
	if dt > 0 {
		l.BitsInPerSecond = int64(float64(in-s.lastBytesIn.Swap(in)) * 8 / dt)
		l.BitsOutPerSecond = int64(float64(out-s.lastBytesOut.Swap(out)) * 8 / dt)
	}
	return l
}

func (s *Server) metricsBytes() (in, out int64) {
	return s.metrics.bytesIn.Load(), s.metrics.bytesOut.Load()
}

// newRef returns a participant's or track's opaque id: 60 random bits in base32, a valid
// msid token (RFC 8830).
func newRef(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return prefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])[:12])
}

func constantTimeEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// Forward is one track this media server sends somewhere: what the operator, and tests of I1
// per publisher, check against the publisher's rules.
type Forward struct {
	Meeting string
	Track   wire.Track
	// Publisher is the track's publisher, with its rule context.
	Publisher wire.Participant
	// To is the datacenter the track is sent to: this one (a participant here) or the other
	// end of a bridge.
	To string
	// Bridge is true when the track is sent over a bridge.
	Bridge bool
}

// Forwarding is every track this media server sends now, one entry per (track, subscriber).
func (s *Server) Forwarding() []Forward {
	s.mu.Lock()
	rooms := make([]*room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	var out []Forward
	for _, r := range rooms {
		r.mu.Lock()
		for _, u := range r.tracks {
			for _, d := range u.loadDowns() {
				out = append(out, Forward{Meeting: r.id, Track: u.info, Publisher: u.from.info, To: d.to.dc, Bridge: d.to.kind != peerParticipant})
			}
		}
		r.mu.Unlock()
	}
	return out
}
