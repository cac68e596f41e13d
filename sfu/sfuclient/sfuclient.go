// Package sfuclient is a Go participant of the media server's signalling protocol
// (docs/rtc.md): it joins with a ticket, publishes tracks on its publisher PeerConnection,
// receives the others' on its subscriber PeerConnection, and reports the events the server
// sends. In an end-to-end encrypted meeting it runs the leader flow (Config.E2EE): it leads
// when the server names it, wrapping the meeting key to the others, or opens the leader's
// envelopes. The load generator and the media server's tests use it; it is also the reference
// for other clients (the meeting page's src/e2ee.js follows it).
//
// It does no media processing: what it publishes and what it does with the tracks it
// receives are the caller's (package loadtest puts the media profile on both).
package sfuclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/geofence/geofence/crypto/e2ee"
	"github.com/geofence/geofence/sfu"
	"github.com/geofence/geofence/wire"
	"github.com/pion/webrtc/v4"
)

// Config configures a connection. URL and Ticket are required.
type Config struct {
	// URL is the media server's base URL (http://host:port, as a ticket's endpoint) or its
	// WebSocket URL (ws://host:port/v1/rtc). Required.
	URL string
	// Ticket is the participant's ticket for this datacenter. Required.
	Ticket string
	// Network is where WebRTC runs: Loopback in development and tests.
	Network sfu.Network
	// OnTrack is called for every track that arrives, with what the server announced of it.
	OnTrack func(remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver, info wire.Track)
	// E2EE, when set, runs the leader flow of an end-to-end encrypted meeting (E2EE); it is
	// ignored in a managed meeting.
	E2EE *E2EE
	// HTTPClient dials the WebSocket; nil means http.DefaultClient.
	HTTPClient *http.Client
	// Logger receives the connection's logs; nil means none.
	Logger *slog.Logger
}

// Timings are how long each setup phase took, from Dial; zero for a phase not reached yet.
type Timings struct {
	Signalling time.Duration // until "joined"
	ICE        time.Duration // until the publisher PeerConnection's ICE connected
	DTLS       time.Duration // until the publisher PeerConnection connected (DTLS done)
	// SubscriberICE and SubscriberDTLS are the same for the subscriber PeerConnection,
	// which a participant that never publishes has alone.
	SubscriberICE  time.Duration
	SubscriberDTLS time.Duration
}

// Conn is a participant's connection to a media server.
type Conn struct {
	cfg    Config
	ws     *websocket.Conn
	joined wire.Joined
	start  time.Time

	pub, sub *webrtc.PeerConnection

	writeMu sync.Mutex
	deliver sync.Mutex // held while the e2ee flow's output goes out, so it goes in order
	events  chan wire.Signal
	done    chan struct{}
	answers chan string // answers to publisher offers

	mu       sync.Mutex
	tracks   map[string]wire.Track // announced, by id
	timings  Timings
	err      error
	closed   bool
	pending  map[string][]webrtc.ICECandidateInit
	withheld []wire.Withheld
	flow     *keyFlow // the e2ee flow, when Config.E2EE is set in an e2ee meeting
}

// Error is the server's refusal or the error it ended the connection with.
type Error struct{ Body wire.Error }

func (e *Error) Error() string { return e.Body.Error + ": " + e.Body.Message }

// Dial opens the signalling connection, joins and waits for "joined" (or the refusal, as an
// *Error).
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	if cfg.URL == "" || cfg.Ticket == "" {
		return nil, errors.New("sfuclient: URL and Ticket are required")
	}
	u := cfg.URL
	if strings.HasPrefix(u, "http") {
		u = "ws" + strings.TrimPrefix(strings.TrimRight(u, "/"), "http") + wire.RTCPath
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	api, err := sfu.NewAPI(cfg.Network, cfg.Logger)
	if err != nil {
		return nil, err
	}
	c := &Conn{cfg: cfg, start: time.Now(), events: make(chan wire.Signal, 1024), done: make(chan struct{}),
		answers: make(chan string, 4), tracks: map[string]wire.Track{}, pending: map[string][]webrtc.ICECandidateInit{}}
	ws, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: cfg.HTTPClient})
	if err != nil {
		return nil, fmt.Errorf("sfuclient: dial %s: %w", u, err)
	}
	ws.SetReadLimit(wire.MaxSignalSize)
	c.ws = ws
	if err := c.write(ctx, wire.Signal{Type: wire.SignalJoin, Ticket: cfg.Ticket}); err != nil {
		ws.CloseNow()
		return nil, err
	}
	m, err := c.read(ctx)
	if err != nil {
		ws.CloseNow()
		return nil, err
	}
	if m.Type == wire.SignalError {
		ws.CloseNow()
		return nil, &Error{Body: *m.Error}
	}
	if m.Type != wire.SignalJoined {
		ws.CloseNow()
		return nil, fmt.Errorf("sfuclient: the server answered %q, want %q", m.Type, wire.SignalJoined)
	}
	c.joined = *m.Joined
	c.timings.Signalling = time.Since(c.start)
	for _, t := range c.joined.Tracks {
		c.tracks[t.ID] = t
	}
	if c.pub, err = api.NewPeerConnection(webrtc.Configuration{}); err != nil {
		ws.CloseNow()
		return nil, err
	}
	if c.sub, err = api.NewPeerConnection(webrtc.Configuration{}); err != nil {
		c.pub.Close()
		ws.CloseNow()
		return nil, err
	}
	c.wirePC(c.pub, wire.TargetPublisher)
	c.wirePC(c.sub, wire.TargetSubscriber)
	c.timePhases(c.pub, &c.timings.ICE, &c.timings.DTLS)
	c.timePhases(c.sub, &c.timings.SubscriberICE, &c.timings.SubscriberDTLS)
	c.sub.OnTrack(func(remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
		c.mu.Lock()
		info, ok := c.tracks[remote.ID()]
		c.mu.Unlock()
		if !ok {
			info = wire.Track{ID: remote.ID(), Stream: remote.StreamID(), Kind: remote.Kind().String()}
		}
		if c.cfg.OnTrack != nil {
			c.cfg.OnTrack(remote, recv, info)
		}
	})
	go c.readLoop()
	return c, nil
}

// timePhases records when pc's ICE and then its DTLS first connected.
func (c *Conn) timePhases(pc *webrtc.PeerConnection, ice, dtls *time.Duration) {
	pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		if s == webrtc.ICEConnectionStateConnected {
			c.mu.Lock()
			if *ice == 0 {
				*ice = time.Since(c.start)
			}
			c.mu.Unlock()
		}
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			c.mu.Lock()
			if *dtls == 0 {
				*dtls = time.Since(c.start)
			}
			c.mu.Unlock()
		}
	})
}

func (c *Conn) wirePC(pc *webrtc.PeerConnection, target string) {
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		_ = c.write(context.Background(), sfu.CandidateSignal(target, cand))
	})
}

func (c *Conn) write(ctx context.Context, m wire.Signal) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		return fmt.Errorf("sfuclient: send %s: %w", m.Type, err)
	}
	return nil
}

func (c *Conn) read(ctx context.Context) (wire.Signal, error) {
	_, b, err := c.ws.Read(ctx)
	if err != nil {
		return wire.Signal{}, fmt.Errorf("sfuclient: read: %w", err)
	}
	m, err := sfu.ParseSignal(b)
	if err != nil {
		return wire.Signal{}, fmt.Errorf("sfuclient: the server sent %w", err)
	}
	return m, nil
}

// readLoop handles the server's messages until the connection ends.
func (c *Conn) readLoop() {
	defer close(c.done)
	defer close(c.events)
	defer c.stopFlow()
	c.mu.Lock()
	sends, keys, err := c.startFlowLocked()
	c.runFlowLocked(sends, keys, err)
	for {
		m, err := c.read(context.Background())
		if err != nil {
			c.finish(err)
			return
		}
		switch m.Type {
		case wire.SignalOffer:
			if err := c.answerSubscriber(m.SDP); err != nil {
				c.finish(err)
				return
			}
		case wire.SignalAnswer:
			select {
			case c.answers <- m.SDP:
			default:
			}
		case wire.SignalCandidate:
			c.addCandidate(m)
		case wire.SignalError:
			if isKeyRefusal(m) {
				c.mu.Lock()
				if c.flow != nil {
					c.flow.errs = append(c.flow.errs, *m.Error)
				}
				c.mu.Unlock()
				c.push(m)
				continue
			}
			c.finish(&Error{Body: *m.Error})
			if m.Participant == nil {
				return
			}
		default:
			if m.Type == wire.SignalTrackPublished {
				c.mu.Lock()
				c.tracks[m.Track.ID] = *m.Track
				c.mu.Unlock()
			}
			if m.Type == wire.SignalWithheld {
				c.mu.Lock()
				c.withheld = append(c.withheld, *m.Withheld)
				c.mu.Unlock()
			}
			c.mu.Lock()
			var (
				sends []wire.Signal
				keys  []e2ee.EpochKey
				err   error
			)
			if c.flow != nil {
				sends, keys, err = c.flow.onSignalLocked(c, m)
			}
			c.runFlowLocked(sends, keys, err)
			c.push(m)
		}
	}
}

// push offers m to Events.
func (c *Conn) push(m wire.Signal) {
	select {
	case c.events <- m:
	default: // a caller that does not read events loses them, not the connection
	}
}

func (c *Conn) finish(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
}

func (c *Conn) answerSubscriber(sdp string) error {
	if err := c.sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return fmt.Errorf("sfuclient: subscriber offer: %w", err)
	}
	ans, err := c.sub.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("sfuclient: subscriber answer: %w", err)
	}
	if err := c.sub.SetLocalDescription(ans); err != nil {
		return fmt.Errorf("sfuclient: subscriber answer: %w", err)
	}
	if err := c.write(context.Background(), wire.Signal{Type: wire.SignalAnswer, Target: wire.TargetSubscriber, SDP: ans.SDP}); err != nil {
		return err
	}
	c.flush(wire.TargetSubscriber, c.sub)
	return nil
}

func (c *Conn) addCandidate(m wire.Signal) {
	init := sfu.RemoteCandidate(m.Candidate)
	if init.Candidate == "" {
		return
	}
	if err := sfu.CheckCandidate(c.cfg.Network, init); err != nil {
		c.cfg.Logger.Debug("server candidate ignored", "err", err)
		return
	}
	pc := c.pub
	if m.Target == wire.TargetSubscriber {
		pc = c.sub
	}
	c.mu.Lock()
	if pc.RemoteDescription() == nil {
		c.pending[m.Target] = append(c.pending[m.Target], init)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	_ = pc.AddICECandidate(init)
}

func (c *Conn) flush(target string, pc *webrtc.PeerConnection) {
	c.mu.Lock()
	held := c.pending[target]
	delete(c.pending, target)
	c.mu.Unlock()
	for _, init := range held {
		_ = pc.AddICECandidate(init)
	}
}

// Joined is the server's answer to the join.
func (c *Conn) Joined() wire.Joined { return c.joined }

// Publish adds tracks to the publisher PeerConnection (send only) and negotiates them; it
// returns once the server answered. It returns the senders, whose RTCP the caller should
// read (picture loss requests arrive there).
func (c *Conn) Publish(ctx context.Context, tracks ...webrtc.TrackLocal) ([]*webrtc.RTPSender, error) {
	var senders []*webrtc.RTPSender
	for _, t := range tracks {
		tr, err := c.pub.AddTransceiverFromTrack(t, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return nil, fmt.Errorf("sfuclient: publish: %w", err)
		}
		senders = append(senders, tr.Sender())
	}
	offer, err := c.pub.CreateOffer(nil)
	if err != nil {
		return nil, fmt.Errorf("sfuclient: publish: %w", err)
	}
	if err := c.pub.SetLocalDescription(offer); err != nil {
		return nil, fmt.Errorf("sfuclient: publish: %w", err)
	}
	if err := c.write(ctx, wire.Signal{Type: wire.SignalOffer, Target: wire.TargetPublisher, SDP: offer.SDP}); err != nil {
		return nil, err
	}
	select {
	case sdp := <-c.answers:
		if err := c.pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
			return nil, fmt.Errorf("sfuclient: publish: the server's answer: %w", err)
		}
		c.flush(wire.TargetPublisher, c.pub)
		return senders, nil
	case <-c.done:
		return nil, c.Err()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Events are the server's events: participant_joined and _left, track_published and
// _unpublished, withheld, goaway, and in an e2ee meeting leader, key and the refusals of keys
// this participant sent. The channel is closed when the connection ends; events
// that do not fit its buffer are dropped.
func (c *Conn) Events() <-chan wire.Signal { return c.events }

// Withheld is every withheld event received so far.
func (c *Conn) Withheld() []wire.Withheld {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]wire.Withheld(nil), c.withheld...)
}

// Rekeyed tells the server this participant changed its sending key.
func (c *Conn) Rekeyed(ctx context.Context) error {
	return c.write(ctx, wire.Signal{Type: wire.SignalRekeyed})
}

// Done is closed when the connection ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err is why the connection ended (an *Error when the server said why), or nil.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Timings are the setup phases measured so far.
func (c *Conn) Timings() Timings {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.timings
}

// SelectedPairs are the ICE candidate pairs in use by the publisher and subscriber
// PeerConnections (nil for one not connected).
func (c *Conn) SelectedPairs() []*webrtc.ICECandidatePair {
	var pairs []*webrtc.ICECandidatePair
	for _, pc := range []*webrtc.PeerConnection{c.pub, c.sub} {
		var pair *webrtc.ICECandidatePair
		for _, tr := range pc.GetTransceivers() {
			if s := tr.Sender(); s != nil && s.Transport() != nil {
				pair, _ = s.Transport().ICETransport().GetSelectedCandidatePair()
				break
			}
			if r := tr.Receiver(); r != nil && r.Transport() != nil {
				pair, _ = r.Transport().ICETransport().GetSelectedCandidatePair()
				break
			}
		}
		pairs = append(pairs, pair)
	}
	return pairs
}

// Publisher and Subscriber are the two PeerConnections, for stats.
func (c *Conn) Publisher() *webrtc.PeerConnection  { return c.pub }
func (c *Conn) Subscriber() *webrtc.PeerConnection { return c.sub }

// Close leaves: it tells the server, closes the PeerConnections and the connection.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.stopFlow()
	_ = c.write(context.Background(), wire.Signal{Type: wire.SignalLeave})
	err := errors.Join(c.pub.Close(), c.sub.Close())
	_ = c.ws.Close(websocket.StatusNormalClosure, "")
	<-c.done
	return err
}
