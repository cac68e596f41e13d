package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/geofence/geofence/internal/leaktest"
)

// TestParseFault: the agent's names for package fault's modes.
func TestParseFault(t *testing.T) {
	for _, f := range []Fault{FaultNone, FaultBlackhole, FaultRefuse} {
		if got, err := ParseFault(f.String()); err != nil || got != f {
			t.Errorf("ParseFault(%q) = %v, %v; want %v", f, got, err, f)
		}
	}
	if _, err := ParseFault("crash"); err == nil {
		t.Errorf("ParseFault(crash): got no error")
	}
}

// TestFaults steps one agent through its fault modes with one client, whose keep-alive
// connections must be hit by a fault set after they opened.
func TestFaults(t *testing.T) {
	leaktest.Check(t)
	m := loadModel(t, "../examples/world.yaml")
	ks := newKeyServer(t)
	a := newAgent(t, Config{ID: "us-sjc", Model: m, Keys: ks.remoteKeys(t)})
	base := startAgent(t, a)
	hc := testClient(t, 0)
	tok := ks.sign(t, naClaims(m, []string{"us-sjc"}, nil))

	const short = 200 * time.Millisecond // how long the client waits on a black hole
	steps := []struct {
		name  string
		fault Fault
		want  string // "ok", "timeout" or "error" (an error that is not a timeout)
	}{
		{"healthy", FaultNone, "ok"},
		{"black hole", FaultBlackhole, "timeout"},
		{"black hole, again", FaultBlackhole, "timeout"},
		{"healed", FaultNone, "ok"},
		{"refusing", FaultRefuse, "error"},
		{"healed after refusing", FaultNone, "ok"},
		{"black hole after refusing", FaultBlackhole, "timeout"},
		{"healed at last", FaultNone, "ok"},
	}
	for _, s := range steps {
		a.SetFault(s.fault)
		if got := a.Fault(); got != s.fault {
			t.Fatalf("%s: Fault() = %v, want %v", s.name, got, s.fault)
		}
		for _, path := range []string{HealthPath, ConnectPath} {
			// A refused connection must fail on its own, long before this; a black-holed one
			// must still be waiting when it expires.
			timeout := time.Minute
			if s.want == "timeout" {
				timeout = short
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			var req *http.Request
			if path == HealthPath {
				req, _ = http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
			} else {
				req, _ = http.NewRequestWithContext(ctx, http.MethodPost, base+path, strings.NewReader(`{"token":"`+tok+`"}`))
			}
			resp, err := hc.Do(req)
			got := "ok"
			switch {
			case errors.Is(err, context.DeadlineExceeded):
				got = "timeout"
			case err != nil:
				got = "error"
			case resp.StatusCode != http.StatusOK:
				got = resp.Status
			}
			if resp != nil {
				resp.Body.Close()
			}
			cancel()
			if got != s.want {
				t.Errorf("%s: %s: got %s (%v), want %s", s.name, path, got, err, s.want)
			}
		}
	}
}

// TestServeStopsWhileBlackholed: Serve returns, and frees every connection it holds, when its
// context ends during a black hole.
func TestServeStopsWhileBlackholed(t *testing.T) {
	leaktest.Check(t)
	m := loadModel(t, "../examples/world.yaml")
	a := newAgent(t, Config{ID: "us-sjc", Model: m, Keys: staticKeys{}, DrainTimeout: time.Minute})
	a.SetFault(FaultBlackhole)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()

	// Clients that connect and wait; they are not canceled, so only the agent can free them.
	const n = 3
	errs := make(chan error, n)
	hc := testClient(t, 0)
	for range n {
		go func() {
			resp, err := hc.Get("http://" + ln.Addr().String() + HealthPath)
			if err == nil {
				resp.Body.Close()
			}
			errs <- err
		}()
	}
	// And a raw connection with a request.
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"))
	for a.faults.Held() < n+1 {
		time.Sleep(time.Millisecond) // until the agent holds all of them
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: got %v, want nil", err)
	}
	for range n {
		if err := <-errs; err == nil {
			t.Errorf("a black-holed request got an answer")
		}
	}
	// The raw connection was closed by the agent: reading ends.
	buf := make([]byte, 1)
	c.SetReadDeadline(time.Now().Add(time.Minute))
	if _, err := c.Read(buf); err == nil {
		t.Errorf("read from a held connection after Serve returned: got data, want an error")
	}
}

// TestBlackholeDropsHeldRequests: a connect sent into a black hole is not served when the
// fault clears (its client gave up long ago): the connection is dropped, nobody admitted.
func TestBlackholeDropsHeldRequests(t *testing.T) {
	leaktest.Check(t)
	m := loadModel(t, "../examples/world.yaml")
	ks := newKeyServer(t)
	a := newAgent(t, Config{ID: "us-sjc", Model: m, Keys: ks.remoteKeys(t)})
	base := startAgent(t, a)
	tok := ks.sign(t, naClaims(m, []string{"us-sjc"}, nil))
	a.SetFault(FaultBlackhole)

	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body := `{"token":"` + tok + `"}`
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", ConnectPath, len(body), body)
	for a.faults.Held() < 1 {
		time.Sleep(time.Millisecond) // until the agent holds it
	}
	a.SetFault(FaultNone)

	c.SetReadDeadline(time.Now().Add(time.Minute))
	if n, err := c.Read(make([]byte, 512)); err == nil {
		t.Errorf("got %d bytes of answer to a request sent into the black hole, want the connection dropped", n)
	}
	if n := a.Participants(); n != 0 {
		t.Errorf("got %d participants, want 0", n)
	}
	// The agent serves new connections again.
	if got := connect(t, testClient(t, time.Minute), base, tok); got.status != http.StatusOK {
		t.Errorf("after the fault: got %d, want 200", got.status)
	}
}
