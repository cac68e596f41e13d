package httpserve

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/geofence/geofence/internal/leaktest"
	"github.com/prometheus/client_golang/prometheus"
)

// echoBody answers 200 with the length of the body it read, or 400 when the body could not
// be read.
func echoBody(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	fmt.Fprintf(w, "%d", len(b))
}

// serve runs Serve with o on a loopback port until the test ends and returns its address and
// metrics registry.
func serve(t *testing.T, h http.Handler, o Options) (string, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	o.Metrics, o.Name = m, "test"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, h, o) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String(), reg
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// A bound on a broken test only: a passing one sees each connection end by itself.
	c.SetDeadline(time.Now().Add(time.Minute))
	return c
}

// readAll reads c until the server closes it and returns what it read.
func readAll(c net.Conn) string {
	b, _ := io.ReadAll(c)
	return string(b)
}

func metric(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for i := 0; i < len(labels); i += 2 {
				if got[labels[i]] != labels[i+1] {
					continue next
				}
			}
			if m.Counter != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return -1
}

// waitFor waits until the metric has the value: the server closes connections on its own
// goroutines.
func waitFor(t *testing.T, reg *prometheus.Registry, want float64, name string, labels ...string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for metric(t, reg, name, labels...) != want {
		if time.Now().After(deadline) {
			t.Fatalf("got %s%v = %v, want %v", name, labels, metric(t, reg, name, labels...), want)
		}
		time.Sleep(time.Millisecond)
	}
}

// trickle writes b one byte every interval until the connection fails; it returns the error.
func trickle(c net.Conn, b string, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for i := 0; ; i = (i + 1) % len(b) {
		if _, err := c.Write([]byte{b[i]}); err != nil {
			return err
		}
		<-t.C
	}
}

// TestSlowClients: a client that trickles its body, or its headers, is cut off once the read
// deadline passes, however steadily it sends; the cut is counted.
func TestSlowClients(t *testing.T) {
	const readTimeout = 300 * time.Millisecond
	tests := []struct {
		name    string
		head    string // sent at once
		trickle string // then one byte every 10 ms
	}{
		{"slow body", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{", `"token":"aaaa`},
		{"slow headers", "POST / HTTP/1.1\r\nHost: x\r\n", "X-Slow: aaaaaaaaaaaaaaaa\r\n"},
		{"silent", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leaktest.Check(t)
			addr, reg := serve(t, http.HandlerFunc(echoBody), Options{ReadTimeout: readTimeout, ReadHeaderTimeout: readTimeout})
			c := dial(t, addr)
			start := time.Now()
			if _, err := io.WriteString(c, tt.head); err != nil {
				t.Fatal(err)
			}
			if tt.trickle != "" {
				go trickle(c, tt.trickle, 10*time.Millisecond)
			}
			got := readAll(c)
			elapsed := time.Since(start)
			if elapsed < readTimeout {
				t.Errorf("cut off after %v, before the read timeout %v", elapsed, readTimeout)
			}
			if strings.Contains(got, "200 OK") {
				t.Errorf("got a 200 answer %q, want the request cut off", got)
			}
			waitFor(t, reg, 1, "geofence_http_timeouts_total", "server", "test", "phase", "request")
			waitFor(t, reg, 0, "geofence_http_connections_open", "server", "test")
		})
	}
}

// TestIdleTimeout: a keep-alive connection is closed after IdleTimeout, counted as idle.
func TestIdleTimeout(t *testing.T) {
	leaktest.Check(t)
	addr, reg := serve(t, http.HandlerFunc(echoBody), Options{IdleTimeout: 100 * time.Millisecond})
	c := dial(t, addr)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("got %d, want 200", resp.StatusCode)
	}
	readAll(c) // the server closes the idle connection
	waitFor(t, reg, 1, "geofence_http_timeouts_total", "server", "test", "phase", "idle")
	if got := metric(t, reg, "geofence_http_timeouts_total", "server", "test", "phase", "request"); got != 0 {
		t.Errorf("got %v request timeouts, want 0", got)
	}
}

// TestMaxConns: connections beyond the cap are closed at once and counted; once one closes,
// a new one is served.
func TestMaxConns(t *testing.T) {
	leaktest.Check(t)
	addr, reg := serve(t, http.HandlerFunc(echoBody), Options{MaxConns: 2})
	request := func(c net.Conn) error {
		if _, err := io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"); err != nil {
			return err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return errors.New(resp.Status)
		}
		return nil
	}
	// Two keep-alive connections, held open after their request.
	held := []net.Conn{dial(t, addr), dial(t, addr)}
	for i, c := range held {
		if err := request(c); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
	}
	waitFor(t, reg, 2, "geofence_http_connections_open", "server", "test")
	// The server closes a connection beyond the cap as it accepts it: the client sees that as
	// a reset, either on the request or, when the reset arrives first, on the dial itself.
	for i := range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			continue
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(time.Minute))
		if err := request(c); err == nil {
			t.Errorf("connection %d beyond the cap was served", i+3)
		}
	}
	if got := metric(t, reg, "geofence_http_connections_refused_total", "server", "test"); got != 3 {
		t.Errorf("got %v refused, want 3", got)
	}
	held[0].Close()
	waitFor(t, reg, 1, "geofence_http_connections_open", "server", "test")
	if err := request(dial(t, addr)); err != nil {
		t.Errorf("after a connection closed: %v", err)
	}
	if got := metric(t, reg, "geofence_http_connections_total", "server", "test"); got != 6 {
		t.Errorf("got %v connections accepted, want 6", got)
	}
}

// TestMaxHeaderBytes: headers beyond the cap get 431.
func TestMaxHeaderBytes(t *testing.T) {
	leaktest.Check(t)
	addr, _ := serve(t, http.HandlerFunc(echoBody), Options{MaxHeaderBytes: 1024})
	c := dial(t, addr)
	// net/http allows 4 KB beyond MaxHeaderBytes.
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", 8<<10))
	if got := readAll(c); !strings.Contains(got, "431") {
		t.Errorf("got %q, want 431", got)
	}
}

// TestServeDrains: when the context ends, a request in flight is finished, new connections
// are refused and Serve returns nil.
func TestServeDrains(t *testing.T) {
	leaktest.Check(t)
	entered, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "done")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, ln, h, Options{}) }()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	answer := make(chan string, 1)
	go func() {
		resp, err := (&http.Client{Transport: tr}).Get("http://" + ln.Addr().String())
		if err != nil {
			answer <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		answer <- string(b)
	}()
	<-entered
	cancel()
	// Serve is draining: it no longer accepts.
	deadline := time.Now().Add(time.Minute)
	for {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting a minute after the context ended")
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	if got := <-answer; got != "done" {
		t.Errorf("the request in flight got %q, want done", got)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: got %v, want nil", err)
	}
}

// TestServeListenerFails: Serve returns an error naming the server when its listener fails.
func TestServeListenerFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	err = Serve(context.Background(), ln, http.NotFoundHandler(), Options{Name: "kms/us-sjc"})
	if err == nil || !strings.HasPrefix(err.Error(), "serve kms/us-sjc: ") {
		t.Errorf("got %v, want an error starting serve kms/us-sjc", err)
	}
}

func TestDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   Options
		want Options
	}{
		{"zero", Options{}, Options{Name: "http", ReadHeaderTimeout: DefaultReadHeaderTimeout, ReadTimeout: DefaultReadTimeout,
			WriteTimeout: DefaultWriteTimeout, IdleTimeout: DefaultIdleTimeout, MaxHeaderBytes: DefaultMaxHeaderBytes,
			MaxConns: DefaultMaxConns, DrainTimeout: DefaultDrainTimeout}},
		{"negative means none", Options{Name: "x", ReadHeaderTimeout: -1, ReadTimeout: -1, WriteTimeout: -1, IdleTimeout: -1,
			MaxHeaderBytes: -1, MaxConns: -1, DrainTimeout: -1},
			Options{Name: "x", DrainTimeout: DefaultDrainTimeout}},
		{"set", Options{Name: "x", ReadHeaderTimeout: 1, ReadTimeout: 2, WriteTimeout: 3, IdleTimeout: 4, MaxHeaderBytes: 5, MaxConns: 6, DrainTimeout: 7},
			Options{Name: "x", ReadHeaderTimeout: 1, ReadTimeout: 2, WriteTimeout: 3, IdleTimeout: 4, MaxHeaderBytes: 5, MaxConns: 6, DrainTimeout: 7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.in.WithDefaults()
			if got.Logger == nil || got.Metrics == nil {
				t.Errorf("got a nil logger or metrics")
			}
			got.Logger, got.Metrics = nil, nil
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	srv := NewServer(http.NotFoundHandler(), Options{ReadTimeout: time.Second})
	if srv.ReadHeaderTimeout != time.Second || srv.ReadTimeout != time.Second || srv.WriteTimeout != DefaultWriteTimeout ||
		srv.IdleTimeout != DefaultIdleTimeout || srv.MaxHeaderBytes != DefaultMaxHeaderBytes {
		t.Errorf("got server %+v, want the header timeout capped at the read timeout and the defaults", srv)
	}
}

// TestMetricsShared: the servers of one process register the metrics once and share them.
func TestMetricsShared(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewMetrics(reg)
	if err != nil {
		t.Fatalf("second NewMetrics on one registry: %v", err)
	}
	a.server("a").refused.Inc()
	b.server("b").refused.Add(2)
	a.server("b").refused.Inc()
	if got := metric(t, reg, "geofence_http_connections_refused_total", "server", "b"); got != 3 {
		t.Errorf("got %v refused for b, counted through both, want 3", got)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^geofence_http_[a-z_]+$`)
	for _, f := range fams {
		name := f.GetName()
		if !re.MatchString(name) {
			t.Errorf("metric %s is not named geofence_http_<name>", name)
		}
		if f.GetType().String() == "COUNTER" && !strings.HasSuffix(name, "_total") {
			t.Errorf("counter %s does not end in _total", name)
		}
	}
}

// Static serves a page's files to GET and HEAD with its policy headers, and refuses writes.
func TestStatic(t *testing.T) {
	h := Static("default-src 'none'", http.FileServerFS(fstest.MapFS{"app.js": {Data: []byte("1")}}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/app.js", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Security-Policy") != "default-src 'none'" ||
		rec.Header().Get("X-Content-Type-Options") != "nosniff" || rec.Header().Get("Cache-Control") != "no-cache" {
		t.Errorf("GET: %d %v", rec.Code, rec.Header())
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/app.js", nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d %v, want 405 with Allow", rec.Code, rec.Header())
	}
}
