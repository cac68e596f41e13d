package agent

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
)

// Fault is a failure the agent simulates on its listener, for failover tests and
// `geofence dev`. Faults act below HTTP, on the listener and its connections, so they look to
// a client like a datacenter failing, whatever the protocol.
//
// A fault does not stop the load reports: the directory keeps listing the datacenter, which is
// the gray failure a client's staggered attempts and secondaries exist for (DESIGN.md
// section 4). To take a datacenter out of the directory's answers, stop its agent.
type Fault int32

const (
	// FaultNone serves normally.
	FaultNone Fault = iota
	// FaultBlackhole accepts connections and never answers: nothing is read from a new
	// connection, data arriving on an open one is held, and nothing is written. Clients see a
	// connect that succeeds and a request that times out. When the fault changes or the agent
	// stops, the held connections are dropped, their data unread: what a client sent into the
	// black hole is lost. An idle connection that sent nothing meanwhile may go on.
	FaultBlackhole
	// FaultRefuse resets every new connection as soon as it is accepted, and every open one at
	// its next read or write, so that clients get an error at once.
	FaultRefuse
)

var faultNames = [...]string{FaultNone: "none", FaultBlackhole: "blackhole", FaultRefuse: "refuse"}

func (f Fault) String() string {
	if f >= 0 && int(f) < len(faultNames) {
		return faultNames[f]
	}
	return fmt.Sprintf("Fault(%d)", int32(f))
}

// ParseFault parses a fault's name: "none" (or ""), "blackhole" or "refuse".
func ParseFault(s string) (Fault, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "none":
		return FaultNone, nil
	case "blackhole":
		return FaultBlackhole, nil
	case "refuse":
		return FaultRefuse, nil
	}
	return FaultNone, fmt.Errorf("parse fault %q: want none, blackhole or refuse", s)
}

// faultState is the current fault and a channel closed when it changes.
type faultState struct {
	mu      sync.Mutex
	mode    Fault
	changed chan struct{}
	held    atomic.Int64 // reads and writes blocked in a black hole, for tests
}

func (s *faultState) get() (Fault, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changed == nil {
		s.changed = make(chan struct{})
	}
	return s.mode, s.changed
}

func (s *faultState) set(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f == s.mode {
		return
	}
	s.mode = f
	if s.changed != nil {
		close(s.changed)
	}
	s.changed = make(chan struct{})
}

// errReset is what a refused connection's Read or Write returns.
var errReset = errors.New("connection reset by simulated fault")

// faultListener applies the agent's fault to what it accepts. done is closed when the agent
// stops: held connections are then closed.
type faultListener struct {
	net.Listener
	faults *faultState
	done   <-chan struct{}
}

func (l *faultListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if mode, _ := l.faults.get(); mode == FaultRefuse {
			reset(c)
			continue
		}
		// A black-holed connection is handed on too: its first Read blocks in gate before
		// reading anything, which holds it open without answering.
		return &faultConn{Conn: c, faults: l.faults, done: l.done, closed: make(chan struct{})}, nil
	}
}

// faultConn applies the agent's fault to an accepted connection at every Read and Write, so
// that a fault set while a client holds a keep-alive connection hits that client too.
type faultConn struct {
	net.Conn
	faults    *faultState
	done      <-chan struct{}
	closeOnce sync.Once
	closed    chan struct{}
}

func (c *faultConn) Read(b []byte) (int, error) {
	if err := c.gate(); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(b)
	if n > 0 {
		// The read may have been waiting in the kernel when the fault was set: what arrived
		// into the black hole is held until it clears.
		if gerr := c.gate(); gerr != nil {
			return 0, gerr
		}
	}
	return n, err
}

func (c *faultConn) Write(b []byte) (int, error) {
	if err := c.gate(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

func (c *faultConn) Close() error {
	err := net.ErrClosed
	c.closeOnce.Do(func() {
		close(c.closed)
		err = c.Conn.Close()
	})
	return err
}

// gate returns at once when there is no fault, and resets the connection under FaultRefuse.
// Under FaultBlackhole it blocks until the fault changes, the connection is closed or the
// agent stops, and then drops the connection: deadlines do not apply while it blocks (a black
// hole never answers, not even with a timeout), and what was sent into it is lost, as it is
// when a client gives up on a partitioned datacenter. Serving it once the fault clears would
// admit participants whose clients left long ago.
func (c *faultConn) gate() error {
	mode, changed := c.faults.get()
	switch mode {
	case FaultNone:
		return nil
	case FaultBlackhole:
		if err := c.hold(changed); err != nil {
			return err
		}
	}
	c.closeOnce.Do(func() {
		close(c.closed)
		reset(c.Conn)
	})
	return errReset
}

func (c *faultConn) hold(changed <-chan struct{}) error {
	c.faults.held.Add(1)
	defer c.faults.held.Add(-1)
	select {
	case <-changed:
		return nil
	case <-c.closed:
		return net.ErrClosed
	case <-c.done:
		c.Close()
		return net.ErrClosed
	}
}

// reset closes c so that the peer gets a TCP RST rather than an orderly FIN: the error a
// client sees at once when a server process is gone.
func reset(c net.Conn) {
	if l, ok := c.(interface{ SetLinger(sec int) error }); ok {
		l.SetLinger(0)
	}
	c.Close()
}
