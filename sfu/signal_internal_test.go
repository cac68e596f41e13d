package sfu

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/geofence/geofence/wire"
)

// A burst larger than a connection's queue, sent with sendWait to a peer slow to read, waits
// for the peer and arrives whole; send would have dropped the connection as stuck.
func TestSendWaitHoldsABurst(t *testing.T) {
	conns := make(chan *sigConn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		c := newSigConn(ws)
		conns <- c
		<-c.done
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	ws.SetReadLimit(wire.MaxSignalSize)
	c := <-conns
	defer c.abort()
	const n = 4 * sendQueue
	// Messages large enough that the socket's buffers fill and the queue with them.
	env := wire.KeyEnvelope{Meeting: "m-1", Epoch: 2, Participant: "p1", Wrapped: strings.Repeat("A", 64<<10)}
	sent := make(chan int, 1)
	go func() {
		k := 0
		for range n {
			if c.sendWait(wire.Signal{Type: wire.SignalKey, From: "p0", Participant: &wire.Participant{Ref: "p1"}, Key: &env}) {
				k++
			}
		}
		sent <- k
	}()
	// The peer reads nothing until the queue is full: the rest of the burst waits.
	deadline := time.Now().Add(10 * time.Second)
	for len(c.out) < cap(c.out) {
		if time.Now().After(deadline) {
			t.Fatal("the queue never filled")
		}
		time.Sleep(10 * time.Millisecond)
	}
	got := 0
	for got < n {
		if _, _, err := ws.Read(ctx); err != nil {
			t.Fatalf("after %d of %d messages: %v", got, n, err)
		}
		got++
	}
	if k := <-sent; k != n {
		t.Errorf("sendWait queued %d of %d", k, n)
	}
}
