package dashboard_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/geofence/geofence/dashboard"
	"github.com/prometheus/client_golang/prometheus"
)

func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			var v float64
			for _, m := range mf.GetMetric() {
				v += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
			return v
		}
	}
	return 0
}

// TestSlowReadersDoNotBlock attacks the stream: readers that open it and never read, while
// the state changes as fast as the dashboard pushes. The directory keeps answering, the slow
// streams are dropped and counted, and their places are free again.
func TestSlowReadersDoNotBlock(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, dashboard.Config{MaxStreams: 4, StreamBuffer: 4, Interval: time.Millisecond, Registry: reg})
	// Small socket buffers on both sides, so that a reader that reads nothing blocks the
	// server's writes after a few events rather than a few MB.
	srv := httptest.NewUnstartedServer(e.dash.Handler())
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			c.(*net.TCPConn).SetWriteBuffer(4096)
		}
	}
	srv.Start()
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	var conns []net.Conn
	small := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048) })
	}}
	for range 4 {
		c, err := small.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /v1/dashboard/events HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
		conns = append(conns, c) // never read
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // a new state every report
		for i := int64(0); ctx.Err() == nil; i++ {
			e.core.ReportLoad("us-sjc", i, true)
			time.Sleep(100 * time.Microsecond)
		}
	}()
	deadline := time.Now().Add(60 * time.Second)
	for counter(t, reg, "geofence_dashboard_streams_dropped_total") < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("after 60 s, %v of 4 slow streams dropped (streams %v, events %v)", counter(t, reg, "geofence_dashboard_streams_dropped_total"), counter(t, reg, "geofence_dashboard_streams"), counter(t, reg, "geofence_dashboard_events_total"))
		}
		// The directory answers meanwhile.
		if err := e.join("acme", "US", "US"); err != nil {
			t.Fatalf("a join while the streams are stuck: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if n := counter(t, reg, "geofence_dashboard_streams"); n != 0 {
		t.Errorf("%v streams open after the drops, want 0", n)
	}
	// A reader that reads gets a stream again.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /v1/dashboard/events HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.Contains(line, "200") {
		t.Fatalf("a new stream after the drops: %q %v, want 200", line, err)
	}
}

// TestConfigSwapIsAModelEvent: a new model swapped into the core reaches the stream as a model
// event.
func TestConfigSwapIsAModelEvent(t *testing.T) {
	e := newEnv(t, dashboard.Config{Interval: 10 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := newStreamRequest(ctx, e)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	models := 0
	eachEvent(resp.Body, func(name string, data []byte) bool {
		if name == "state" && models == 1 {
			e.core.SetModel(world(t)) // after the first state: the stream is open
		}
		if name == "model" {
			models++
		}
		return models < 2
	})
	if models != 2 {
		t.Fatalf("%d model events, want the first and the swapped one", models)
	}
}
