package sfu_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/geofence/geofence/internal/leaktest"
	"github.com/geofence/geofence/wire"
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
	_ = wire.RTCPath
}
