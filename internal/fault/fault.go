// Package fault simulates datacenter failures on a server's listener, for failover tests and
// `geofence dev`: a black-holed server accepts connections and never answers, a refusing one
// resets them at once. Faults act on the listener and its connections, below HTTP, so they
// look the same to a client whatever the protocol served (the DC agent's HTTP API today, the
// media server's WebRTC signalling later), and they hit connections opened before the fault
// was set too.
//
// It is not a network simulator (no latency, loss or partitions between two given peers:
// those belong to an in-memory network such as Pion's vnet), and it is never enabled by
// default: a server simulates a fault only when told to.
package fault

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
)

// Mode is a failure a server simulates.
type Mode int32

const (
	// None serves normally.
	None Mode = iota
	// Blackhole accepts connections and never answers: nothing is read from a new
	// connection, data arriving on an open one is held, and nothing is written. Clients see a
	// connect that succeeds and a request that times out. When the mode changes or the server
	// stops, the held connections are dropped, their data unread: what a client sent into the
	// black hole is lost. An idle connection that sent nothing meanwhile may go on.
	Blackhole
	// Refuse resets every new connection as soon as it is accepted, and every open one at its
	// next read or write, so that clients get an error at once.
	Refuse
)

var names = [...]string{None: "none", Blackhole: "blackhole", Refuse: "refuse"}

func (m Mode) String() string {
	if m >= 0 && int(m) < len(names) {
		return names[m]
	}
	return fmt.Sprintf("fault.Mode(%d)", int32(m))
}

// Parse parses a mode's name: "none" (or ""), "blackhole" or "refuse", in any case.
func Parse(s string) (Mode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "none":
		return None, nil
	case "blackhole":
		return Blackhole, nil
	case "refuse":
		return Refuse, nil
	}
	return None, fmt.Errorf("parse fault %q: want none, blackhole or refuse", s)
}

// Injector is the fault one server simulates, and the listener that applies it. Its zero
// value simulates none. It is safe for concurrent use.
type Injector struct {
	mu      sync.Mutex
	mode    Mode
	changed chan struct{} // closed when mode changes
	held    atomic.Int64  // reads and writes blocked in a black hole
}

// Set sets the mode from now on; None clears it. Connections held in a black hole are
// dropped when the mode changes.
func (in *Injector) Set(m Mode) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if m == in.mode {
		return
	}
	in.mode = m
	if in.changed != nil {
		close(in.changed)
	}
	in.changed = make(chan struct{})
}

// Mode returns the mode in force.
func (in *Injector) Mode() Mode {
	m, _ := in.get()
	return m
}

// Held is the number of reads and writes blocked in a black hole now: a test waits for it to
// know that a connection reached the black hole.
func (in *Injector) Held() int { return int(in.held.Load()) }

func (in *Injector) get() (Mode, <-chan struct{}) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.changed == nil {
		in.changed = make(chan struct{})
	}
	return in.mode, in.changed
}

// Listener returns ln with the injector's faults applied to what it accepts. When done is
// closed (the server stops) the connections held in a black hole are closed, so that a
// server's drain does not wait for them.
func (in *Injector) Listener(ln net.Listener, done <-chan struct{}) net.Listener {
	return &listener{Listener: ln, in: in, done: done}
}

// errReset is what a refused connection's Read or Write returns.
var errReset = errors.New("connection reset by simulated fault")

type listener struct {
	net.Listener
	in   *Injector
	done <-chan struct{}
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.in.Mode() == Refuse {
			reset(c)
			continue
		}
		// A black-holed connection is handed on too: its first Read blocks in gate before
		// reading anything, which holds it open without answering.
		return &conn{Conn: c, in: l.in, done: l.done, closed: make(chan struct{})}, nil
	}
}

// conn applies the fault to an accepted connection at every Read and Write, so that a fault
// set while a client holds a keep-alive connection hits that client too.
type conn struct {
	net.Conn
	in        *Injector
	done      <-chan struct{}
	closeOnce sync.Once
	closed    chan struct{}
}

func (c *conn) Read(b []byte) (int, error) {
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

func (c *conn) Write(b []byte) (int, error) {
	if err := c.gate(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

func (c *conn) Close() error {
	err := net.ErrClosed
	c.closeOnce.Do(func() {
		close(c.closed)
		err = c.Conn.Close()
	})
	return err
}

// gate returns at once when there is no fault, and resets the connection under Refuse. Under
// Blackhole it blocks until the mode changes, the connection is closed or the server stops,
// and then drops the connection: deadlines do not apply while it blocks (a black hole never
// answers, not even with a timeout), and what was sent into it is lost, as it is when a
// client gives up on a partitioned datacenter. Serving it once the fault clears would admit
// participants whose clients left long ago.
func (c *conn) gate() error {
	mode, changed := c.in.get()
	switch mode {
	case None:
		return nil
	case Blackhole:
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

func (c *conn) hold(changed <-chan struct{}) error {
	c.in.held.Add(1)
	defer c.in.held.Add(-1)
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
