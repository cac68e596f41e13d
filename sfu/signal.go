package sfu

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/geofence/geofence/wire"
	"golang.org/x/time/rate"
)

// Signalling limits (docs/rtc.md).
const (
	signalRate    = 50  // messages per second, on average
	signalBurst   = 200 // messages at once
	sendQueue     = 256 // messages queued to one connection before it counts as stuck
	writeTimeout  = 10 * time.Second
	pingTimeout   = 30 * time.Second
	closeTimeout  = 2 * time.Second
	maxCandidates = 256 // remote candidates per connection
	// An e2ee leader sends one key envelope per participant when it rotates, and a bridge
	// carries those of all its participants: key messages have a bound of their own, two
	// rotations of the largest meeting at once (1024 participants, loadtest's bound).
	keyRate  = 1024
	keyBurst = 2048
)

// ParseSignal decodes one signalling message: a JSON object with a known "type". Unknown
// members are ignored (wire's rule for participants' bodies); trailing data is an error.
func ParseSignal(b []byte) (wire.Signal, error) {
	var s wire.Signal
	if len(b) > wire.MaxSignalSize {
		return s, fmt.Errorf("message of %d bytes is larger than %d", len(b), wire.MaxSignalSize)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&s); err != nil {
		return wire.Signal{}, fmt.Errorf("malformed message: %w", err)
	}
	if dec.More() {
		return wire.Signal{}, errors.New("malformed message: data after the JSON object")
	}
	switch s.Type {
	case wire.SignalJoin, wire.SignalBridge, wire.SignalBridgeJoin:
		if s.Ticket == "" {
			return wire.Signal{}, fmt.Errorf("%q message has no \"ticket\"", s.Type)
		}
		if s.Type == wire.SignalBridge && s.Datacenter == "" {
			return wire.Signal{}, errors.New(`"bridge" message has no "datacenter"`)
		}
	case wire.SignalBridgeLeave, wire.SignalParticipantJoined, wire.SignalParticipantLeft:
		if s.Participant == nil || s.Participant.Ref == "" {
			return wire.Signal{}, fmt.Errorf("%q message has no \"participant.ref\"", s.Type)
		}
	case wire.SignalOffer, wire.SignalAnswer:
		if s.Target != wire.TargetPublisher && s.Target != wire.TargetSubscriber {
			return wire.Signal{}, fmt.Errorf("%q message has target %q, want %q or %q", s.Type, s.Target, wire.TargetPublisher, wire.TargetSubscriber)
		}
		if s.SDP == "" {
			return wire.Signal{}, fmt.Errorf("%q message has no \"sdp\"", s.Type)
		}
	case wire.SignalCandidate:
		if s.Target != wire.TargetPublisher && s.Target != wire.TargetSubscriber {
			return wire.Signal{}, fmt.Errorf("\"candidate\" message has target %q, want %q or %q", s.Target, wire.TargetPublisher, wire.TargetSubscriber)
		}
	case wire.SignalTrackPublished, wire.SignalTrackUnpublished:
		if s.Track == nil || s.Track.ID == "" {
			return wire.Signal{}, fmt.Errorf("%q message has no \"track.id\"", s.Type)
		}
	case wire.SignalWithheld:
		if s.Withheld == nil || s.Withheld.Track.ID == "" {
			return wire.Signal{}, errors.New(`"withheld" message has no "withheld.track.id"`)
		}
	case wire.SignalJoined:
		if s.Joined == nil {
			return wire.Signal{}, errors.New(`"joined" message has no "joined"`)
		}
	case wire.SignalError:
		if s.Error == nil {
			return wire.Signal{}, errors.New(`"error" message has no "error"`)
		}
	case wire.SignalLeader:
		if s.Leader == nil {
			return wire.Signal{}, errors.New(`"leader" message has no "leader"`)
		}
	case wire.SignalKey:
		if s.Key == nil {
			return wire.Signal{}, errors.New(`"key" message has no "key"`)
		}
		if s.Participant == nil || s.Participant.Ref == "" {
			return wire.Signal{}, errors.New(`"key" message has no "participant.ref"`)
		}
	case wire.SignalRekeyed, wire.SignalLeave, wire.SignalGoaway:
	case "":
		return wire.Signal{}, errors.New(`message has no "type"`)
	default:
		return wire.Signal{}, fmt.Errorf("unknown message type %q", s.Type)
	}
	return s, nil
}

// sigConn is one signalling WebSocket: a reader with the protocol's limits and one writer
// goroutine fed by a bounded queue, so that no caller ever blocks on a slow peer.
type sigConn struct {
	ws      *websocket.Conn
	limiter *rate.Limiter
	keys    *rate.Limiter // key messages (SignalKey)
	out     chan outMsg
	done    chan struct{} // closed once the connection is closed
	once    sync.Once
	wrote   chan struct{} // closed when the writer has stopped
}

func newSigConn(ws *websocket.Conn) *sigConn {
	ws.SetReadLimit(wire.MaxSignalSize)
	c := &sigConn{ws: ws, limiter: rate.NewLimiter(signalRate, signalBurst), keys: rate.NewLimiter(keyRate, keyBurst), out: make(chan outMsg, sendQueue),
		done: make(chan struct{}), wrote: make(chan struct{})}
	go c.writeLoop()
	return c
}

// outMsg is a message to write, or (closing) the close frame that ends the writer.
type outMsg struct {
	b       []byte
	closing bool
	code    websocket.StatusCode
	reason  string
}

func (c *sigConn) writeLoop() {
	defer close(c.wrote)
	for {
		select {
		case <-c.done:
			return
		case m := <-c.out:
			if m.closing {
				c.once.Do(func() { close(c.done) })
				_ = c.ws.Close(m.code, m.reason)
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
			err := c.ws.Write(ctx, websocket.MessageText, m.b)
			cancel()
			if err != nil {
				c.abort()
				return
			}
		}
	}
}

// send queues s. It reports false when the connection is closed or so far behind that it
// was closed now.
func (c *sigConn) send(s wire.Signal) bool {
	b, err := json.Marshal(s)
	if err != nil {
		return false
	}
	select {
	case <-c.done:
		return false
	default:
	}
	select {
	case c.out <- outMsg{b: b}:
		return true
	default:
		// A peer that does not read its signalling is gone or hostile.
		c.abort()
		return false
	}
}

// sendWait queues s like send, but waits while the queue is full, up to writeTimeout, before
// it counts the connection as stuck: for a burst that must not be lost and whose sender can
// wait, a leader's envelopes for all the participants behind a bridge. The caller holds no
// lock.
func (c *sigConn) sendWait(s wire.Signal) bool {
	b, err := json.Marshal(s)
	if err != nil {
		return false
	}
	select {
	case c.out <- outMsg{b: b}:
		return true
	case <-c.done:
		return false
	default:
	}
	t := time.NewTimer(writeTimeout)
	defer t.Stop()
	select {
	case c.out <- outMsg{b: b}:
		return true
	case <-c.done:
		return false
	case <-t.C:
		c.abort()
		return false
	}
}

// read returns the next message, enforcing the rate limit. Errors end the connection.
func (c *sigConn) read(ctx context.Context) (wire.Signal, error) {
	typ, b, err := c.ws.Read(ctx)
	if err != nil {
		return wire.Signal{}, err
	}
	var s wire.Signal
	var perr error
	if typ == websocket.MessageText {
		s, perr = ParseSignal(b)
	}
	if perr == nil && s.Type == wire.SignalKey {
		if !c.keys.Allow() {
			return wire.Signal{}, &protocolError{code: wire.CodeLimit, msg: fmt.Sprintf("more than %d key messages per second", keyRate)}
		}
	} else if !c.limiter.Allow() {
		return wire.Signal{}, &protocolError{code: wire.CodeLimit, msg: fmt.Sprintf("more than %d signalling messages per second", signalRate)}
	}
	if typ != websocket.MessageText {
		return wire.Signal{}, &protocolError{code: wire.CodeBadRequest, msg: "signalling messages are JSON text, got a binary message"}
	}
	if perr != nil {
		return wire.Signal{}, &protocolError{code: wire.CodeBadRequest, msg: perr.Error()}
	}
	return s, nil
}

// fail sends an error message and closes the connection after it.
func (c *sigConn) fail(e wire.Error) {
	c.send(wire.Signal{Type: wire.SignalError, Error: &e})
	c.close(websocket.StatusPolicyViolation, e.Error)
}

// close closes the connection with code once what is queued before it is written; a
// connection too far behind to queue the close is closed at once.
func (c *sigConn) close(code websocket.StatusCode, reason string) {
	select {
	case <-c.done:
		return
	default:
	}
	select {
	case c.out <- outMsg{closing: true, code: code, reason: reason}:
		// The writer closes within writeTimeout plus the close handshake's own bound.
		go func() {
			select {
			case <-c.wrote:
			case <-time.After(writeTimeout + closeTimeout):
				c.abort()
			}
		}()
	default:
		c.abort()
	}
}

// abort closes the connection at once.
func (c *sigConn) abort() {
	c.once.Do(func() {
		close(c.done)
		_ = c.ws.CloseNow()
	})
}

// protocolError is a message the server refuses: the connection is closed with it.
type protocolError struct {
	code, msg string
}

func (e *protocolError) Error() string { return e.code + ": " + e.msg }
