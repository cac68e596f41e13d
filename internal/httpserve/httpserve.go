// Package httpserve builds and runs the HTTP server of every Geofence server (directory, DC
// agent, key server, later the media server) with the bounds DESIGN.md section 7 asks for:
// deadlines on request headers, whole requests (a slow body is cut off) and responses, an idle
// timeout, a cap on header size and a cap on concurrent connections, each with a documented
// default and a metric when it was hit (STYLE.md habit 18). Bodies are bounded by the
// handlers, which know their sizes (http.MaxBytesReader).
//
// The connection cap refuses fast: a connection beyond it is accepted and closed at once, so
// that a flood fails loudly, is counted, and does not sit in the kernel's accept queue where
// it would delay the connections the server can serve (golang.org/x/net/netutil's
// LimitListener queues instead).
//
// It is not a router, a middleware stack or a TLS terminator; handlers are the packages'.
package httpserve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Options. The deadlines suit Geofence's small JSON bodies (a ticket is at most
// 32 KB): a participant on a slow link sends one within ReadTimeout, a client that trickles
// bytes to hold the connection is cut off by it.
const (
	// DefaultReadHeaderTimeout bounds the time to read a request's headers.
	DefaultReadHeaderTimeout = 5 * time.Second
	// DefaultReadTimeout bounds the time to read a whole request, body included, from its
	// first byte: a body trickled byte by byte is cut off when it passes.
	DefaultReadTimeout = 10 * time.Second
	// DefaultWriteTimeout bounds the time from the end of a request's headers to the end of
	// its response: reading the body, the handler and writing the answer.
	DefaultWriteTimeout = 20 * time.Second
	// DefaultIdleTimeout is how long a keep-alive connection waits for its next request.
	DefaultIdleTimeout = 60 * time.Second
	// DefaultMaxHeaderBytes bounds a request's headers (net/http allows 4 KB more for its own
	// bookkeeping); bigger ones get 431.
	DefaultMaxHeaderBytes = 16 << 10
	// DefaultMaxConns is the number of connections a server holds at once; those beyond it
	// are closed as soon as they are accepted. A held connection costs up to some tens of KB
	// (buffers and a goroutine), so the default bounds that at a few hundred MB.
	DefaultMaxConns = 10_000
	// DefaultDrainTimeout bounds how long Serve waits, once its context is done, for the
	// requests in flight.
	DefaultDrainTimeout = 10 * time.Second
)

// Options are the bounds and wiring of one server. Every field's zero value is its default.
type Options struct {
	// Name names the server in the metrics' "server" label and in logs, for example
	// "directory", "dc/us-sjc" or "kms/us-sjc". Empty means "http".
	Name string
	// ReadHeaderTimeout: zero means DefaultReadHeaderTimeout; negative means none.
	ReadHeaderTimeout time.Duration
	// ReadTimeout: zero means DefaultReadTimeout; negative means none.
	ReadTimeout time.Duration
	// WriteTimeout: zero means DefaultWriteTimeout; negative means none. A handler that
	// streams (signalling over a WebSocket) extends its own with http.ResponseController.
	WriteTimeout time.Duration
	// IdleTimeout: zero means DefaultIdleTimeout; negative means none.
	IdleTimeout time.Duration
	// MaxHeaderBytes: zero means DefaultMaxHeaderBytes; negative means net/http's own 1 MB.
	MaxHeaderBytes int
	// MaxConns caps the connections held at once: zero means DefaultMaxConns; negative means
	// no cap.
	MaxConns int
	// DrainTimeout: zero (or negative) means DefaultDrainTimeout.
	DrainTimeout time.Duration
	// Logger receives net/http's own errors (at debug level) and a warning when the
	// connection cap refuses connections; nil means none.
	Logger *slog.Logger
	// Metrics counts connections and bounds hit; nil means metrics registered nowhere.
	Metrics *Metrics
}

// WithDefaults returns o with every zero field set to its default and negative durations set
// to zero (none), as the server is built with.
func (o Options) WithDefaults() Options {
	dur := func(d *time.Duration, def time.Duration) {
		switch {
		case *d == 0:
			*d = def
		case *d < 0:
			*d = 0
		}
	}
	if o.Name == "" {
		o.Name = "http"
	}
	dur(&o.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	dur(&o.ReadTimeout, DefaultReadTimeout)
	dur(&o.WriteTimeout, DefaultWriteTimeout)
	dur(&o.IdleTimeout, DefaultIdleTimeout)
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = DefaultDrainTimeout
	}
	switch {
	case o.MaxHeaderBytes == 0:
		o.MaxHeaderBytes = DefaultMaxHeaderBytes
	case o.MaxHeaderBytes < 0:
		o.MaxHeaderBytes = 0 // net/http's DefaultMaxHeaderBytes
	}
	switch {
	case o.MaxConns == 0:
		o.MaxConns = DefaultMaxConns
	case o.MaxConns < 0:
		o.MaxConns = 0 // no cap
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = newMetrics()
	}
	return o
}

// NewServer returns an *http.Server for h with o's deadlines and header cap. Serve it on
// [Listener] (or call [Serve]) to cap its connections too.
func NewServer(h http.Handler, o Options) *http.Server {
	o = o.WithDefaults()
	// A ReadHeaderTimeout longer than ReadTimeout would never apply.
	rh := o.ReadHeaderTimeout
	if o.ReadTimeout > 0 && (rh == 0 || rh > o.ReadTimeout) {
		rh = o.ReadTimeout
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: rh,
		ReadTimeout:       o.ReadTimeout,
		WriteTimeout:      o.WriteTimeout,
		IdleTimeout:       o.IdleTimeout,
		MaxHeaderBytes:    o.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(o.Logger.With("server", o.Name).Handler(), slog.LevelDebug),
	}
}

// Listener returns ln capped at o.MaxConns connections held at once: a connection beyond the
// cap is closed as soon as it is accepted and counted in geofence_http_connections_refused_total.
// Every connection is counted in geofence_http_connections_open while it is open, and the
// deadlines that end one are counted in geofence_http_timeouts_total.
func Listener(ln net.Listener, o Options) net.Listener {
	o = o.WithDefaults()
	return &limitListener{Listener: ln, max: int64(o.MaxConns), name: o.Name, log: o.Logger, m: o.Metrics.server(o.Name)}
}

// Serve serves h on ln, bounded by o, until ctx is done; then it drains: it stops accepting,
// waits up to o.DrainTimeout for the requests in flight, closes every connection and returns
// nil. It returns earlier, with an error, when ln fails. Serve closes ln.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, o Options) error {
	o = o.WithDefaults()
	srv := NewServer(h, o)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(Listener(ln, o)) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve %s: %w", o.Name, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.DrainTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		o.Logger.Warn("drain timed out; closing the connections in flight", "server", o.Name, "timeout", o.DrainTimeout)
		srv.Close()
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve %s: %w", o.Name, err)
	}
	return nil
}

// refusalLogInterval spaces the warnings about refused connections: a flood is one warning a
// minute, with its count, not one log line per connection.
const refusalLogInterval = time.Minute

type limitListener struct {
	net.Listener
	max  int64 // 0: no cap
	name string
	log  *slog.Logger
	m    *serverMetrics

	open atomic.Int64

	mu           sync.Mutex
	lastWarning  time.Time
	refusedSince int64
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.m.accepted.Inc()
		if n := l.open.Add(1); l.max > 0 && n > l.max {
			l.open.Add(-1)
			// Counted before the reset, so a client that sees the reset sees the count.
			l.m.refused.Inc()
			reset(c)
			l.refused()
			continue
		}
		l.m.open.Inc()
		return &conn{Conn: c, l: l}, nil
	}
}

// refused logs a warning for the first refusal of a minute, with the count since the last.
func (l *limitListener) refused() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refusedSince++
	now := time.Now()
	if now.Sub(l.lastWarning) < refusalLogInterval {
		return
	}
	l.log.Warn("connection cap reached: refusing connections", "server", l.name,
		"max_conns", l.max, "refused", l.refusedSince)
	l.lastWarning, l.refusedSince = now, 0
}

// conn is a connection the cap counts. It tells a deadline that cut off a request from one
// that ended an idle keep-alive connection: pending is true from the first byte of a request
// (or the connection's start) until the response's first write.
type conn struct {
	net.Conn
	l        *limitListener
	pending  atomic.Bool
	started  atomic.Bool // a first byte or write happened
	timedOut atomic.Bool // a deadline was counted: net/http may read again after one
	once     sync.Once
}

func (c *conn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.pending.Store(true)
		c.started.Store(true)
	}
	if err != nil && isTimeout(err) && c.timedOut.CompareAndSwap(false, true) {
		phase := "idle"
		if c.pending.Load() || !c.started.Load() {
			// A request began and did not arrive in time, or the connection never sent one.
			phase = "request"
		}
		c.l.m.timeouts.WithLabelValues(c.l.name, phase).Inc()
	}
	return n, err
}

func (c *conn) Write(b []byte) (int, error) {
	c.pending.Store(false)
	c.started.Store(true)
	n, err := c.Conn.Write(b)
	if err != nil && isTimeout(err) && c.timedOut.CompareAndSwap(false, true) {
		c.l.m.timeouts.WithLabelValues(c.l.name, "write").Inc()
	}
	return n, err
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.open.Add(-1)
		c.l.m.open.Dec()
	})
	return err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// reset closes c so that the peer gets a TCP RST at once, and the server keeps no TIME_WAIT
// state for a connection it refused.
func reset(c net.Conn) {
	if l, ok := c.(interface{ SetLinger(sec int) error }); ok {
		l.SetLinger(0)
	}
	c.Close()
}

// Static serves the embedded files of a page (files, an http.FileServer) to GET and HEAD
// only, confined by the Content-Security-Policy csp, with no MIME sniffing, no referrer and
// revalidation on every load (a new binary serves new files under the same names).
func Static(csp string, files http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
