package fault

import (
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/geofence/geofence/internal/leaktest"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    Mode
		wantErr bool
	}{
		{"", None, false},
		{"none", None, false},
		{"blackhole", Blackhole, false},
		{" Refuse ", Refuse, false},
		{"BLACKHOLE", Blackhole, false},
		{"crash", None, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("Parse(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
			if err == nil {
				if back, _ := Parse(got.String()); back != got {
					t.Errorf("Parse(%q.String()) = %v", got, back)
				}
			}
		})
	}
	if got := Mode(7).String(); got != "fault.Mode(7)" {
		t.Errorf("got %q for an unknown mode", got)
	}
}

// echoServer echoes every connection the injector's listener accepts, until the test ends.
func echoServer(t *testing.T, in *Injector) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	fl := in.Listener(ln, done)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := fl.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { io.Copy(c, c); c.Close() })
		}
	})
	t.Cleanup(func() {
		close(done)
		fl.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// A bound on a broken test, never reached by a passing one: every read below ends by
	// itself, with data or with the connection dropped.
	c.SetDeadline(time.Now().Add(time.Minute))
	return c
}

// ping writes a byte and reads its echo.
func ping(c net.Conn) error {
	if _, err := c.Write([]byte{'x'}); err != nil {
		return err
	}
	var b [1]byte
	_, err := io.ReadFull(c, b[:])
	return err
}

// waitHeld waits until n reads or writes are held in the black hole.
func waitHeld(t *testing.T, in *Injector, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for in.Held() < n {
		if time.Now().After(deadline) {
			t.Fatalf("got %d held, want %d", in.Held(), n)
		}
		runtime.Gosched()
	}
}

// TestModes steps one listener through its modes, with a connection opened before each
// fault and one opened under it.
func TestModes(t *testing.T) {
	leaktest.Check(t)
	in := &Injector{}
	addr := echoServer(t, in)

	healthy := dial(t, addr)
	if err := ping(healthy); err != nil {
		t.Fatalf("healthy: %v", err)
	}

	// A black hole holds a new connection without answering; healing drops it.
	in.Set(Blackhole)
	if got := in.Mode(); got != Blackhole {
		t.Fatalf("Mode() = %v, want blackhole", got)
	}
	held := dial(t, addr)
	if _, err := held.Write([]byte{'x'}); err != nil {
		t.Fatal(err)
	}
	waitHeld(t, in, 1)
	in.Set(None)
	if err := ping(held); err == nil {
		t.Errorf("a connection held in the black hole was served after it cleared, want it dropped")
	}
	if got := in.Held(); got != 0 {
		t.Errorf("got %d held after the fault cleared, want 0", got)
	}
	// The connection opened before the black hole and idle during it goes on.
	if err := ping(healthy); err != nil {
		t.Errorf("idle connection after the black hole: %v", err)
	}

	// Refuse resets new connections at once, and open ones at their next read.
	in.Set(Refuse)
	if err := ping(dial(t, addr)); err == nil {
		t.Errorf("a new connection under refuse was served")
	}
	if err := ping(healthy); err == nil {
		t.Errorf("an open connection under refuse was served")
	}

	in.Set(None)
	if err := ping(dial(t, addr)); err != nil {
		t.Errorf("healed: %v", err)
	}
}

// TestDoneDropsHeld: closing done (the server stops) frees the connections held in a black
// hole.
func TestDoneDropsHeld(t *testing.T) {
	leaktest.Check(t)
	in := &Injector{}
	in.Set(Blackhole)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	fl := in.Listener(ln, done)
	defer fl.Close()
	c := dial(t, ln.Addr().String())
	s, err := fl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	readErr := make(chan error, 1)
	go func() {
		_, err := s.Read(make([]byte, 1))
		readErr <- err
	}()
	waitHeld(t, in, 1)
	close(done)
	if err := <-readErr; !errors.Is(err, net.ErrClosed) {
		t.Errorf("held read after done: got %v, want net.ErrClosed", err)
	}
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Errorf("the client's connection is still open after done")
	}
}
