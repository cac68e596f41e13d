package client

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/geofence/geofence/agent"
	"github.com/geofence/geofence/internal/leaktest"
)

// TestHeartbeats steps the heartbeat loop in virtual time: its interval, what ends it, and
// what it survives.
func TestHeartbeats(t *testing.T) {
	const s = time.Second
	tests := []struct {
		name        string
		ttl         time.Duration
		interval    time.Duration // Config.HeartbeatInterval
		answers     []string      // per heartbeat: ok, lost, error, hang; ok after the last
		run         time.Duration // then Disconnect
		wantBeats   []time.Duration
		wantLost    bool
		wantRequest bool // Disconnect sends a disconnect
	}{
		{name: "a third of the TTL", ttl: 30 * s, run: 65 * s,
			wantBeats: []time.Duration{10 * s, 20 * s, 30 * s, 40 * s, 50 * s, 60 * s}, wantRequest: true},
		{name: "a shorter interval configured", ttl: 30 * s, interval: 4 * s, run: 21 * s,
			wantBeats: []time.Duration{4 * s, 8 * s, 12 * s, 16 * s, 20 * s}, wantRequest: true},
		{name: "a longer interval configured is capped at a third", ttl: 30 * s, interval: time.Minute, run: 25 * s,
			wantBeats: []time.Duration{10 * s, 20 * s}, wantRequest: true},
		{name: "the datacenter forgot the session", ttl: 30 * s, answers: []string{"ok", "ok", "lost"}, run: 100 * s,
			wantBeats: []time.Duration{10 * s, 20 * s, 30 * s}, wantLost: true},
		{name: "failures in between do not end it", ttl: 30 * s, answers: []string{"error", "error", "ok", "error"}, run: 45 * s,
			wantBeats: []time.Duration{10 * s, 20 * s, 30 * s, 40 * s}, wantRequest: true},
		{name: "a hanging heartbeat is cut at the attempt timeout", ttl: 30 * s, answers: []string{"hang", "hang"}, run: 35 * s,
			wantBeats: []time.Duration{10 * s, 20 * s, 30 * s}, wantRequest: true},
		{name: "no TTL: no heartbeats", ttl: 0, run: time.Hour, wantRequest: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				var mu sync.Mutex
				var beats []time.Duration
				disconnects := 0
				c := &Client{cfg: Config{AttemptTimeout: 3 * s, HeartbeatInterval: tt.interval}}
				c.heartbeat = func(ctx context.Context, r *Result) error {
					mu.Lock()
					n := len(beats)
					beats = append(beats, time.Since(start))
					mu.Unlock()
					if r.Session != "s-1" {
						t.Errorf("heartbeat for session %q, want s-1", r.Session)
					}
					answer := "ok"
					if n < len(tt.answers) {
						answer = tt.answers[n]
					}
					switch answer {
					case "lost":
						return ErrSessionLost
					case "error":
						return errors.New("connection reset")
					case "hang":
						<-ctx.Done()
						if time.Since(start)-beats[n] != 3*s {
							t.Errorf("a hanging heartbeat was cut after %v, want the attempt timeout", time.Since(start)-beats[n])
						}
						return ctx.Err()
					}
					return nil
				}
				c.disconnect = func(context.Context, *Result) error {
					mu.Lock()
					defer mu.Unlock()
					disconnects++
					return nil
				}
				res := &Result{Datacenter: "dc", Session: "s-1", SessionTTL: tt.ttl}
				c.keepAlive(res)
				if tt.ttl == 0 && res.Done() != nil {
					t.Errorf("got a Done channel without a TTL")
				}
				time.Sleep(tt.run)
				synctest.Wait()
				select {
				case <-res.Done():
					if !tt.wantLost {
						t.Errorf("the session ended by itself: %v", res.Err())
					}
				default:
					if tt.wantLost {
						t.Errorf("the session did not end")
					}
				}
				if got := errors.Is(res.Err(), ErrSessionLost); got != tt.wantLost {
					t.Errorf("got Err %v, want lost %v", res.Err(), tt.wantLost)
				}
				if err := c.Disconnect(t.Context(), res); err != nil {
					t.Errorf("Disconnect: %v", err)
				}
				if res.Err() != nil && !tt.wantLost {
					t.Errorf("after Disconnect: got Err %v, want nil", res.Err())
				}
				// Nothing after Disconnect.
				time.Sleep(time.Hour)
				synctest.Wait()
				mu.Lock()
				defer mu.Unlock()
				if !equalDurations(beats, tt.wantBeats) {
					t.Errorf("got heartbeats at %v, want %v", beats, tt.wantBeats)
				}
				if got := disconnects == 1; got != tt.wantRequest {
					t.Errorf("got %d disconnect requests, want one: %v", disconnects, tt.wantRequest)
				}
			})
		})
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// notifyHeartbeats is a RoundTripper that reports every heartbeat answered.
type notifyHeartbeats struct {
	base http.RoundTripper
	ch   chan struct{}
}

func (n notifyHeartbeats) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := n.base.RoundTrip(r)
	if err == nil && r.URL.Path == agent.HeartbeatPath {
		select {
		case n.ch <- struct{}{}:
		default:
		}
	}
	return resp, err
}

// waitBeats waits for n heartbeats answered.
func waitBeats(t *testing.T, ch <-chan struct{}, n int) {
	t.Helper()
	timeout := time.After(time.Minute) // a bound on a broken test only
	for range n {
		select {
		case <-ch:
		case <-timeout:
			t.Fatal("no heartbeat within a minute")
		}
	}
}

// agentClock is a fake clock for the agents.
type agentClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *agentClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *agentClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TestJoinKeepsSessionAlive joins a real agent on loopback whose clock is fake: the agent's
// time moves far past its session TTL while the client's heartbeats keep the session, and
// Disconnect ends it.
func TestJoinKeepsSessionAlive(t *testing.T) {
	leaktest.Check(t)
	clk := &agentClock{now: time.Now()}
	w := newWorldWith(t, func(c *agent.Config) { c.Now = clk.Now }, "us-sjc")
	w.dir.set([]string{"us-sjc"}, nil)
	c := w.client(t, Config{HeartbeatInterval: 5 * time.Millisecond})
	beats := make(chan struct{}, 1)
	c.http = &http.Client{Transport: notifyHeartbeats{base: w.http.Transport, ch: beats}}
	res, err := c.Join(t.Context(), "m-1", "globex", "alice", "pk-alice")
	if err != nil {
		t.Fatal(err)
	}
	if res.SessionTTL != agent.DefaultSessionTTL {
		t.Errorf("got session TTL %v, want the agent's %v", res.SessionTTL, agent.DefaultSessionTTL)
	}
	a := w.agents["us-sjc"]
	for i := range 4 {
		clk.Advance(20 * time.Second) // two thirds of the TTL
		// The second heartbeat answered after the advance was sent after it.
		waitBeats(t, beats, 2)
		if n := a.Participants(); n != 1 {
			t.Fatalf("after %v of agent time: got %d participants, want 1", time.Duration(i+1)*20*time.Second, n)
		}
	}
	if res.Err() != nil {
		t.Errorf("got Err %v, want nil", res.Err())
	}
	if err := c.Disconnect(t.Context(), res); err != nil {
		t.Fatal(err)
	}
	if n := a.Participants(); n != 0 {
		t.Errorf("after Disconnect: got %d participants, want 0", n)
	}
}

// TestJoinReplacedSessionIsLost: a second join of the same participant replaces the first
// session at the agent; the first one's heartbeats learn it and end.
func TestJoinReplacedSessionIsLost(t *testing.T) {
	leaktest.Check(t)
	w := newWorld(t, "us-sjc")
	w.dir.set([]string{"us-sjc"}, nil)
	c := w.client(t, Config{HeartbeatInterval: 5 * time.Millisecond})
	first, err := c.Join(t.Context(), "m-1", "globex", "alice", "pk-alice")
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.Join(t.Context(), "m-1", "globex", "alice", "pk-alice")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-first.Done():
	case <-time.After(time.Minute): // a bound on a broken test only
		t.Fatal("the replaced session's heartbeats did not end")
	}
	if !errors.Is(first.Err(), ErrSessionLost) {
		t.Errorf("got Err %v, want ErrSessionLost", first.Err())
	}
	if n := w.agents["us-sjc"].Participants(); n != 1 {
		t.Errorf("got %d participants, want 1", n)
	}
	if err := c.Disconnect(t.Context(), first); err != nil {
		t.Errorf("Disconnect of the lost session: %v", err)
	}
	if second.Err() != nil {
		t.Errorf("the new session: got Err %v", second.Err())
	}
	if err := c.Disconnect(t.Context(), second); err != nil {
		t.Errorf("Disconnect: %v", err)
	}
	if n := w.agents["us-sjc"].Participants(); n != 0 {
		t.Errorf("after Disconnect: got %d participants, want 0", n)
	}
}
