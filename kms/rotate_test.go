package kms

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/geofence/geofence/crypto/keywrap"
	"github.com/geofence/geofence/wire"
)

// TestRotationCoalesced is a time-stepped scenario on the fake clock (DESIGN.md section 8):
// the first leave rotates at once; the leaves within the next RotateInterval are coalesced
// into one rotation at its end, while each leaver's ticket is retired at once; a rotation due
// is made at the first look at the meeting, a sweep included, dated at its scheduled time.
func TestRotationCoalesced(t *testing.T) {
	const interval, retain = 10 * time.Second, 3 * time.Minute
	e := newEnv(t, "us-sjc", func(c *Config) { c.RotateInterval, c.Retain = interval, retain })
	tok := map[string]string{}
	parties := map[string]party{}
	for _, id := range []string{"alice", "bob", "carol", "dave", "erin", "frank"} {
		parties[id] = newParty(t, id, keywrap.X25519)
		tok[id] = e.sign(naClaims("m-1", parties[id]))
	}
	at := func(d time.Duration) time.Time { return t0.Add(d) }

	steps := []struct {
		name         string
		at           time.Duration // since t0; never goes back
		who          string
		op           string // key, leave or sweep
		wantStatus   int
		wantEpoch    uint64
		wantRotateAt time.Duration // 0: none
		wantCode     string
		wantRotated  float64 // geofence_kms_rotations_total after
	}{
		{name: "alice gets epoch 1", who: "alice", op: "key", wantStatus: 200, wantEpoch: 1},
		{name: "bob gets epoch 1", who: "bob", op: "key", wantStatus: 200, wantEpoch: 1},
		{name: "carol gets epoch 1", who: "carol", op: "key", wantStatus: 200, wantEpoch: 1},
		{name: "dave gets epoch 1", who: "dave", op: "key", wantStatus: 200, wantEpoch: 1},
		{name: "bob leaves: the first rotation is at once", at: time.Second, who: "bob", op: "leave", wantStatus: 200, wantEpoch: 2, wantRotated: 1},
		{name: "carol leaves within the interval: coalesced", at: 2 * time.Second, who: "carol", op: "leave", wantStatus: 200, wantEpoch: 2, wantRotateAt: 11 * time.Second, wantRotated: 1},
		{name: "carol's ticket is retired at once", at: 2 * time.Second, who: "carol", op: "key", wantStatus: 403, wantCode: wire.CodeLeft, wantRotated: 1},
		{name: "dave leaves: the same pending rotation", at: 5 * time.Second, who: "dave", op: "leave", wantStatus: 200, wantEpoch: 2, wantRotateAt: 11 * time.Second, wantRotated: 1},
		{name: "dave's leave retried: nothing changes", at: 5 * time.Second, who: "dave", op: "leave", wantStatus: 200, wantEpoch: 2, wantRotateAt: 11 * time.Second, wantRotated: 1},
		{name: "alice is told when the next epoch starts", at: 5 * time.Second, who: "alice", op: "key", wantStatus: 200, wantEpoch: 2, wantRotateAt: 11 * time.Second, wantRotated: 1},
		{name: "alice just before it", at: 11*time.Second - time.Millisecond, who: "alice", op: "key", wantStatus: 200, wantEpoch: 2, wantRotateAt: 11 * time.Second, wantRotated: 1},
		{name: "alice at the rotation time gets epoch 3", at: 11 * time.Second, who: "alice", op: "key", wantStatus: 200, wantEpoch: 3, wantRotated: 2},
		{name: "dave gets no epoch 3", at: 11 * time.Second, who: "dave", op: "key", wantStatus: 403, wantCode: wire.CodeLeft, wantRotated: 2},
		{name: "erin joins at epoch 3", at: 12 * time.Second, who: "erin", op: "key", wantStatus: 200, wantEpoch: 3, wantRotated: 2},
		{name: "erin leaves: rotated at 11 s, so at 21 s", at: 13 * time.Second, who: "erin", op: "leave", wantStatus: 200, wantEpoch: 3, wantRotateAt: 21 * time.Second, wantRotated: 2},
		{name: "a sweep long after makes it", at: 30 * time.Second, op: "sweep", wantRotated: 3},
		{name: "frank joins at epoch 4", at: 30 * time.Second, who: "frank", op: "key", wantStatus: 200, wantEpoch: 4, wantRotated: 3},
		{name: "frank leaves 10 s after the 21 s rotation: at once", at: 31 * time.Second, who: "frank", op: "leave", wantStatus: 200, wantEpoch: 5, wantRotated: 4},
		{name: "alice gets epoch 5", at: 31 * time.Second, who: "alice", op: "key", wantStatus: 200, wantEpoch: 5, wantRotated: 4},
	}
	for _, st := range steps {
		e.clk.mu.Lock()
		if now := at(st.at); now.Before(e.clk.now) {
			t.Fatalf("%s: the clock goes back", st.name)
		} else {
			e.clk.now = now
		}
		e.clk.mu.Unlock()
		var a answer
		var rotateAt time.Time
		switch st.op {
		case "key":
			a = e.key("m-1", wire.KeyRequest{Token: tok[st.who]})
			rotateAt = a.key.RotateAt
			if a.status == http.StatusOK {
				open(t, parties[st.who], a.key)
			}
		case "leave":
			a = e.leave("m-1", tok[st.who])
			rotateAt = a.left.RotateAt
			a.key.Epoch = a.left.Epoch
		case "sweep":
			e.srv.Sweep()
		}
		if st.op != "sweep" {
			if a.status != st.wantStatus || a.err.Error != st.wantCode {
				t.Errorf("%s: got %d %s (%s), want %d %s", st.name, a.status, a.err.Error, a.err.Message, st.wantStatus, st.wantCode)
			}
			if a.status == http.StatusOK && a.key.Epoch != st.wantEpoch {
				t.Errorf("%s: got epoch %d, want %d", st.name, a.key.Epoch, st.wantEpoch)
			}
			var want time.Time
			if st.wantRotateAt != 0 {
				want = at(st.wantRotateAt)
			}
			if !rotateAt.Equal(want) {
				t.Errorf("%s: got rotate_at %v, want %v", st.name, rotateAt, want)
			}
		}
		if got := value(t, e.reg, "geofence_kms_rotations_total", map[string]string{"datacenter": "us-sjc"}); got != st.wantRotated {
			t.Errorf("%s: got %v rotations, want %v", st.name, got, st.wantRotated)
		}
	}
	for outcome, want := range map[string]float64{leaveRotated: 2, leaveCoalesced: 3, leaveRepeated: 1, leaveNoKey: 0} {
		if got := value(t, e.reg, "geofence_kms_leaves_total", map[string]string{"datacenter": "us-sjc", "outcome": outcome}); got != want {
			t.Errorf("leaves %s: got %v, want %v", outcome, got, want)
		}
	}
	// The coalesced rotations are logged with their scheduled time and the leaves they cover.
	var rotations []map[string]any
	for _, rec := range logRecords(t, e.logs) {
		if rec["msg"] == "key rotated" {
			rotations = append(rotations, rec)
		}
	}
	wantLog := []struct {
		epoch  float64
		at     time.Time
		leaves float64
	}{{2, at(time.Second), 1}, {3, at(11 * time.Second), 2}, {4, at(21 * time.Second), 1}, {5, at(31 * time.Second), 1}}
	if len(rotations) != len(wantLog) {
		t.Fatalf("got %d key rotated records, want %d", len(rotations), len(wantLog))
	}
	for i, w := range wantLog {
		r := rotations[i]
		if r["epoch"] != w.epoch || r["at"] != w.at.Format(time.RFC3339Nano) || r["leaves"] != w.leaves {
			t.Errorf("rotation %d: got epoch %v at %v covering %v leaves, want %v at %v covering %v", i, r["epoch"], r["at"], r["leaves"], w.epoch, w.at, w.leaves)
		}
	}
	// Epoch 3 was superseded at 21 s, its scheduled time: retained until 21 s + retain.
	e.clk.Advance(21*time.Second + retain - 31*time.Second - time.Millisecond)
	if a := e.key("m-1", wire.KeyRequest{Token: tok["alice"], Epoch: epochPtr(3)}); a.status != http.StatusOK {
		t.Errorf("epoch 3 just before its retention ends: got %d %s", a.status, a.err.Error)
	}
	e.clk.Advance(time.Millisecond)
	if a := e.key("m-1", wire.KeyRequest{Token: tok["alice"], Epoch: epochPtr(3)}); a.status != http.StatusGone {
		t.Errorf("epoch 3 once its retention ended: got %d %s, want 410", a.status, a.err.Error)
	}
}

// TestRotationRateLimit: participants joining and leaving one meeting in a loop, as fast as
// the fake clock lets them, move it through at most ceil(d/RotateInterval)+1 epochs in d.
func TestRotationRateLimit(t *testing.T) {
	const interval = 10 * time.Second
	tests := []struct {
		name string
		d    time.Duration
		step time.Duration
	}{
		{"5 s", 5 * time.Second, 10 * time.Millisecond},
		{"25 s", 25 * time.Second, 50 * time.Millisecond},
		{"exactly 30 s", 30 * time.Second, 60 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, "us-sjc", func(c *Config) { c.RotateInterval = interval })
			p := newParty(t, "p", keywrap.X25519)
			start := e.clk.Now()
			n := 0
			var epoch uint64 // the latest any participant got within d
			for ; e.clk.Now().Sub(start) < tt.d; n++ {
				c := naClaims("m-1", p)
				c.Participant = fmt.Sprintf("p-%d", n)
				tok := e.sign(c)
				a := e.key("m-1", wire.KeyRequest{Token: tok})
				if a.status != http.StatusOK {
					t.Fatalf("join %d: got %d %s", n, a.status, a.err.Error)
				}
				epoch = max(epoch, a.key.Epoch)
				if a := e.leave("m-1", tok); a.status != http.StatusOK {
					t.Fatalf("leave %d: got %d %s", n, a.status, a.err.Error)
				}
				epoch = max(epoch, a.left.Epoch)
				e.clk.Advance(tt.step)
			}
			limit := uint64((tt.d+interval-1)/interval) + 1
			if epoch > limit {
				t.Errorf("after %d joins and leaves in %v: got epoch %d, want at most %d", n, tt.d, epoch, limit)
			}
			if epoch < 2 {
				t.Errorf("got epoch %d: the leaves rotated nothing", epoch)
			}
		})
	}
}

// TestRotationConcurrent runs joins, leaves and sweeps of one meeting at once while the
// clock moves, under -race in CI: the rate limit holds and every answer is a success.
func TestRotationConcurrent(t *testing.T) {
	const interval = 10 * time.Second
	e := newEnv(t, "us-sjc", func(c *Config) { c.RotateInterval = interval })
	p := newParty(t, "p", keywrap.X25519)
	const workers, each = 4, 25
	toks := make([][]string, workers)
	for w := range workers {
		for i := range each {
			c := naClaims("m-1", p)
			c.Participant = fmt.Sprintf("p-%d-%d", w, i)
			toks[w] = append(toks[w], e.sign(c))
		}
	}
	start := e.clk.Now()
	type raw struct {
		status int
		body   []byte
	}
	answers := make([][]raw, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for _, tok := range toks[w] {
				st, body := e.post(keyPath("m-1"), wire.KeyRequest{Token: tok})
				answers[w] = append(answers[w], raw{st, body})
				st, body = e.post(leavePath("m-1"), wire.LeaveRequest{Token: tok})
				answers[w] = append(answers[w], raw{st, body})
				e.clk.Advance(100 * time.Millisecond)
			}
		})
	}
	done := make(chan struct{})
	var sweeps sync.WaitGroup
	sweeps.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
				e.srv.Sweep()
			}
		}
	})
	wg.Wait()
	close(done)
	sweeps.Wait()
	elapsed := e.clk.Now().Sub(start)
	var epoch uint64
	for _, as := range answers {
		for _, a := range as {
			if a.status != http.StatusOK {
				t.Fatalf("got %d %s, want 200", a.status, a.body)
			}
			var k wire.KeyResponse
			mustDecodeLenient(t, a.body, &k)
			epoch = max(epoch, k.Epoch)
		}
	}
	if limit := uint64((elapsed+interval-1)/interval) + 1; epoch > limit {
		t.Errorf("got epoch %d after %v, want at most %d", epoch, elapsed, limit)
	}
}

// mustDecodeLenient decodes a key or leave answer into a KeyResponse (both have the epoch).
func mustDecodeLenient(t testing.TB, body []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
}
