package sfu_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/geofence/geofence/internal/leaktest"
	"github.com/geofence/geofence/wire"
	"github.com/pion/rtcp"
)

// Two participants at the home exchange audio and video over loopback only.
func TestTwoParticipantsExchangeMedia(t *testing.T) {
	leaktest.Check(t)
	w := newWorld(t)
	w.start("de-fra", loopback)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := w.join(anna, "de-fra", []string{"de-fra"}, nil)
	f := w.join(felix, "de-fra", []string{"de-fra"}, nil)
	if j := a.conn.Joined(); j.Datacenter != "de-fra" || j.Home != "de-fra" || j.Bridged {
		t.Errorf("joined = %+v, want de-fra, home de-fra, not bridged", j)
	}
	a.publish(ctx)
	f.publish(ctx)
	for _, c := range []struct {
		m    *member
		from string
		kind string
	}{{a, "felix", "video"}, {a, "felix", "audio"}, {f, "anna", "video"}, {f, "anna", "audio"}} {
		eventually(t, c.m.who.id+" receiving "+c.from+"'s "+c.kind, 15*time.Second, func() bool { return c.m.received(c.from, c.kind) > 20 })
	}
	if n := a.received("anna", "video"); n != 0 {
		t.Errorf("anna received %d packets of her own video, want 0", n)
	}
	for _, m := range []*member{a, f} {
		for i, pair := range m.conn.SelectedPairs() {
			if pair == nil {
				t.Errorf("%s: PeerConnection %d has no selected pair", m.who.id, i)
				continue
			}
			for _, addr := range []string{pair.Local.Address, pair.Remote.Address} {
				if ip, err := netip.ParseAddr(addr); err != nil || !ip.IsLoopback() {
					t.Errorf("%s: selected pair %s uses %s, want loopback only", m.who.id, pair, addr)
				}
			}
		}
	}
}

// A media server that fails ends every connection at once, with no goaway, and takes no more.
func TestFailEndsConnectionsWithoutGoaway(t *testing.T) {
	leaktest.Check(t)
	w := newWorld(t)
	s := w.start("de-fra", loopback)
	a := w.join(anna, "de-fra", []string{"de-fra"}, nil)
	go s.Fail()
	timeout := time.After(10 * time.Second)
	for ended := false; !ended; {
		select {
		case m, ok := <-a.conn.Events():
			if !ok {
				ended = true
			} else if m.Type == wire.SignalGoaway {
				t.Error("a failed media server sent a goaway")
			}
		case <-timeout:
			t.Fatal("anna's connection did not end within 10 s of the failure")
		}
	}
	if _, err := w.tryJoin(felix, "de-fra", w.ticketFor(felix, []string{"de-fra"}, nil)); err == nil {
		t.Error("a join to a failed media server succeeded")
	}
}

// The server asks a publisher for a key frame when a subscriber starts its track and when the
// publisher re-keys, and relays subscribers' picture loss requests at most every 500 ms.
func TestKeyFrameRequests(t *testing.T) {
	leaktest.Check(t)
	w := newWorld(t)
	w.start("de-fra", loopback)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := w.join(anna, "de-fra", []string{"de-fra"}, nil)
	a.publish(ctx)
	f := w.join(felix, "de-fra", []string{"de-fra"}, nil)
	eventually(t, "felix receiving anna's video", 10*time.Second, func() bool { return f.received("anna", "video") > 5 })
	eventually(t, "a key frame request when felix subscribed", 5*time.Second, func() bool { return a.plis.Load() >= 1 })

	before := a.plis.Load()
	if err := a.conn.Rekeyed(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a key frame request after anna re-keyed", 5*time.Second, func() bool { return a.plis.Load() > before })

	// felix floods picture loss requests; anna gets at most one per 500 ms of it.
	f.mu.Lock()
	track := f.video["anna"]
	f.mu.Unlock()
	start, before := time.Now(), a.plis.Load()
	for range 50 {
		if err := f.conn.Subscriber().WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(track.SSRC())}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	eventually(t, "a relayed picture loss request", 5*time.Second, func() bool { return a.plis.Load() > before })
	time.Sleep(100 * time.Millisecond)
	elapsed := time.Since(start)
	if got, most := a.plis.Load()-before, int64(elapsed/(500*time.Millisecond))+2; got > most {
		t.Errorf("anna got %d key frame requests in %v for 50 from felix, want at most %d", got, elapsed, most)
	}
}

// A media server that drains tells every participant to go elsewhere, then closes.
func TestDrainSendsGoaway(t *testing.T) {
	leaktest.Check(t)
	w := newWorld(t)
	s := w.start("de-fra", loopback)
	a := w.join(anna, "de-fra", []string{"de-fra"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go s.Drain(ctx)
	var goaway bool
	for m := range a.conn.Events() {
		if m.Type == wire.SignalGoaway {
			goaway = true
		}
	}
	if !goaway {
		t.Error("anna's connection ended without a goaway")
	}
	if _, err := w.tryJoin(felix, "de-fra", w.ticketFor(felix, []string{"de-fra"}, nil)); err == nil {
		t.Error("a join to a draining media server succeeded")
	}
}
