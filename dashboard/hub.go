package dashboard

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Defaults of the event stream's bounds.
const (
	// DefaultMaxStreams caps the event streams open at once.
	DefaultMaxStreams = 32
	// DefaultStreamBuffer is how many events a stream holds for a reader that has not taken
	// them yet; a reader that falls further behind is disconnected (its browser reconnects
	// and starts again from a full state).
	DefaultStreamBuffer = 16
	// streamWriteTimeout bounds one write to a stream: a reader that takes no bytes for that
	// long is cut off.
	streamWriteTimeout = 10 * time.Second
	// heartbeatEvery sends an SSE comment on a quiet stream, so that proxies and the
	// browser see it alive.
	heartbeatEvery = 15 * time.Second
	// retryMillis is the reconnection delay the stream asks the browser for.
	retryMillis = 1000
)

// event is one encoded server-sent event (HTML Living Standard, section 9.2).
type event []byte

func encodeEvent(name string, data []byte) event {
	var b bytes.Buffer
	b.Grow(len(name) + len(data) + 16)
	b.WriteString("event: ")
	b.WriteString(name)
	b.WriteByte('\n')
	// JSON has no raw newlines, but a data line may never carry one: split to be safe.
	for line := range bytes.SplitSeq(data, []byte{'\n'}) {
		b.WriteString("data: ")
		b.Write(line)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	return b.Bytes()
}

// hub fans events out to the open streams. A broadcast never blocks: each stream has a
// bounded buffer, and a stream whose buffer is full is closed and counted, so a slow reader
// costs the directory one buffer and nothing else.
type hub struct {
	max, buffer int
	metrics     *metrics

	mu      sync.Mutex
	streams map[*stream]struct{}
	closed  bool
	// initial gives a new stream the events that bring it up to date (model, state).
	initial func() []event
}

type stream struct {
	ch   chan event
	gone chan struct{} // closed when the hub drops the stream
	once sync.Once
}

func (s *stream) drop() { s.once.Do(func() { close(s.gone) }) }

func newHub(maxStreams, buffer int, m *metrics, initial func() []event) *hub {
	return &hub{max: maxStreams, buffer: buffer, metrics: m, streams: map[*stream]struct{}{}, initial: initial}
}

// join registers a stream, or reports false when the cap is reached or the hub is closed.
// The initial events are queued under the hub's lock, so that no broadcast slips in before
// them.
func (h *hub) join() (*stream, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || len(h.streams) >= h.max {
		return nil, false
	}
	init := h.initial()
	s := &stream{ch: make(chan event, max(h.buffer, len(init))), gone: make(chan struct{})}
	for _, e := range init {
		s.ch <- e
	}
	h.streams[s] = struct{}{}
	h.metrics.streams.Set(float64(len(h.streams)))
	return s, true
}

func (h *hub) leave(s *stream) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.streams[s]; ok {
		delete(h.streams, s)
		h.metrics.streams.Set(float64(len(h.streams)))
	}
}

// broadcast queues e on every stream; a stream with a full buffer is dropped.
func (h *hub) broadcast(name string, e event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.metrics.events.WithLabelValues(name).Inc()
	for s := range h.streams {
		select {
		case s.ch <- e:
		default:
			delete(h.streams, s)
			s.drop()
			h.metrics.dropped.Inc()
		}
	}
	h.metrics.streams.Set(float64(len(h.streams)))
}

// close drops every stream and refuses new ones (the server is shutting down: an open
// stream would hold its drain until the timeout).
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.streams {
		delete(h.streams, s)
		s.drop()
	}
	h.metrics.streams.Set(0)
}

// serve is GET /v1/dashboard/events: a text/event-stream of "model", "state" and "refusal"
// events until the client goes, falls behind, or the server stops.
func (h *hub) serve(w http.ResponseWriter, r *http.Request) {
	s, ok := h.join()
	if !ok {
		h.metrics.refused.Inc()
		w.Header().Set("Retry-After", "5")
		http.Error(w, fmt.Sprintf("too many dashboard streams are open (at most %d); close one or retry shortly", h.max), http.StatusServiceUnavailable)
		return
	}
	defer h.leave(s)
	rc := http.NewResponseController(w)
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	write := func(b []byte) bool {
		// A stream outlives the server's write timeout: each write gets its own deadline.
		rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write([]byte("retry: " + strconv.Itoa(retryMillis) + "\n\n")) {
		return
	}
	beat := time.NewTicker(heartbeatEvery)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.gone:
			return
		case e := <-s.ch:
			if !write(e) {
				return
			}
		case <-beat.C:
			if !write([]byte(": alive\n\n")) {
				return
			}
		}
	}
}

// run closes the hub when ctx is done.
func (h *hub) run(ctx context.Context) {
	<-ctx.Done()
	h.close()
}
