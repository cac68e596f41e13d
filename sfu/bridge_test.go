package sfu_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/geofence/geofence/internal/leaktest"
	"github.com/geofence/geofence/sfu"
	"github.com/geofence/geofence/wire"
)

// A meeting across three datacenters on a WAN with latency and loss: anna at the home
// (de-fra), felix at fr-par (a primary of his), nora at nl-ams as a secondary of hers. The two
// who are not at the home are bridged to it, and everyone receives everyone.
func TestBridgesAcrossThreeDatacenters(t *testing.T) {
	leaktest.Check(t)
	w := newWorld(t)
	net := newWAN(t, 15*time.Millisecond, 1)
	w.clientNet = net.host
	for _, dc := range []string{"de-fra", "fr-par", "nl-ams"} {
		w.start(dc, net.host())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := w.join(anna, "de-fra", []string{"de-fra"}, nil)
	f := w.join(felix, "fr-par", []string{"fr-par"}, nil)
	n := w.join(nora, "nl-ams", []string{"fr-par"}, []string{"nl-ams"})
	if j := f.conn.Joined(); !j.Bridged || j.Home != "de-fra" {
		t.Errorf("felix joined %+v, want bridged to home de-fra", j)
	}
	for _, m := range []*member{a, f, n} {
		m.publish(ctx)
	}
	for _, m := range []*member{a, f, n} {
		for _, from := range []string{"anna", "felix", "nora"} {
			if from == m.who.id {
				continue
			}
			for _, kind := range []string{"audio", "video"} {
				eventually(t, m.who.id+" receiving "+from+"'s "+kind, 20*time.Second, func() bool { return m.received(from, kind) > 20 })
			}
		}
	}
	// One bridge per (meeting, home): fr-par and nl-ams each hold one, to de-fra.
	for dc, want := range map[string]string{"fr-par": "out", "nl-ams": "out"} {
		l := w.servers[dc].Load()
		if len(l.Bridges) != 1 || l.Bridges[0].Datacenter != "de-fra" || l.Bridges[0].Direction != want || l.Bridges[0].Meetings != 1 {
			t.Errorf("%s bridges = %+v, want one %s bridge to de-fra", dc, l.Bridges, want)
		}
	}
	if l := w.servers["de-fra"].Load(); len(l.Bridges) != 2 {
		t.Errorf("de-fra bridges = %+v, want two in", l.Bridges)
	}
	// A bridge closes with the last participant it carries.
	f.conn.Close()
	n.conn.Close()
	for _, dc := range []string{"de-fra", "fr-par", "nl-ams"} {
		eventually(t, "no bridge left at "+dc, 10*time.Second, func() bool { return len(w.servers[dc].Load().Bridges) == 0 })
	}
	if l := w.servers["de-fra"].Load(); l.Sessions != 1 || l.Meetings != 1 {
		t.Errorf("de-fra = %+v, want anna's one session in one meeting", l)
	}
}

// heidi's rules keep her data in Switzerland and Germany: her tracks reach anna at the home
// (de-fra) but never cross the bridge to fr-par, where felix is told they are withheld and by
// which rule. felix's own tracks still reach both.
func TestPublisherRulesWithholdTracksFromABridge(t *testing.T) {
	leaktest.Check(t)
	w := newWorld(t)
	net := newWAN(t, 10*time.Millisecond, 0)
	w.clientNet = net.host
	for _, dc := range []string{"de-fra", "fr-par"} {
		w.start(dc, net.host())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := w.join(anna, "de-fra", []string{"de-fra"}, nil)
	h := w.join(heidi, "de-fra", []string{"de-fra"}, nil)
	h.publish(ctx)
	eventually(t, "anna receiving heidi's video", 15*time.Second, func() bool { return a.received("heidi", "video") > 10 })
	// felix joins after heidi published, and another Paris participant before she does
	// anything more: both hear of the withheld tracks.
	f := w.join(felix, "fr-par", []string{"fr-par"}, nil)
	f.publish(ctx)
	eventually(t, "anna receiving felix's video", 15*time.Second, func() bool { return a.received("felix", "video") > 10 })
	eventually(t, "heidi receiving felix's audio", 15*time.Second, func() bool { return h.received("felix", "audio") > 10 })
	eventually(t, "felix told that heidi's two tracks are withheld", 10*time.Second, func() bool { return len(f.conn.Withheld()) >= 2 })
	for _, wh := range f.conn.Withheld() {
		if wh.Datacenter != "fr-par" || wh.Code != wire.CodeResidencyConflict || wh.Rule != "swiss-data-in-ch-and-de" {
			t.Errorf("withheld = %+v, want fr-par, residency_conflict, swiss-data-in-ch-and-de", wh)
		}
	}
	time.Sleep(500 * time.Millisecond) // let anything that wrongly crossed the bridge arrive
	for _, kind := range []string{"audio", "video"} {
		if n := f.received("heidi", kind); n != 0 {
			t.Errorf("felix at fr-par received %d packets of heidi's %s; her rules forbid France", n, kind)
		}
	}
}

// A datacenter dies mid-meeting: felix's connection to fr-par ends, and he joins again at his
// secondary (nl-ams), which bridges him back to the meeting.
func TestFailoverWhenADatacenterDies(t *testing.T) {
	leaktest.Check(t)
	w := newWorld(t)
	net := newWAN(t, 10*time.Millisecond, 0)
	w.clientNet = net.host
	for _, dc := range []string{"de-fra", "fr-par", "nl-ams"} {
		w.start(dc, net.host())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := w.join(anna, "de-fra", []string{"de-fra"}, nil)
	a.publish(ctx)
	tok := w.ticketFor(felix, []string{"fr-par"}, []string{"nl-ams"})
	f, err := w.tryJoin(felix, "fr-par", tok)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "felix receiving anna's video at fr-par", 15*time.Second, func() bool { return f.received("anna", "video") > 10 })
	w.kill("fr-par")
	select {
	case <-f.conn.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("felix's connection outlived fr-par")
	}
	f2, err := w.tryJoin(felix, "nl-ams", tok)
	if err != nil {
		t.Fatalf("felix at his secondary: %v", err)
	}
	f2.publish(ctx)
	eventually(t, "felix receiving anna's video at nl-ams", 15*time.Second, func() bool { return f2.received("anna", "video") > 10 })
	eventually(t, "anna receiving felix's video from nl-ams", 15*time.Second, func() bool { return a.received("felix", "video") > 10 })
	if l := w.servers["de-fra"].Load(); len(l.Bridges) != 1 || l.Bridges[0].Datacenter != "nl-ams" {
		t.Errorf("de-fra bridges = %+v, want only the one from nl-ams (fr-par's closed with it)", l.Bridges)
	}
}

// Media servers that carry every PeerConnection on one UDP port (a UDP mux, as in
// production) still bridge: the bridge's own PeerConnections take ports of their own, so the
// home's mux tells them apart.
func TestBridgeBetweenSinglePortServers(t *testing.T) {
	leaktest.Check(t)
	w := newWorld(t)
	for _, dc := range []string{"de-fra", "fr-par"} {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pc.Close() })
		w.start(dc, sfu.Network{Loopback: true, UDP: pc})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := w.join(anna, "de-fra", []string{"de-fra"}, nil)
	f := w.join(felix, "fr-par", []string{"fr-par"}, nil)
	a.publish(ctx)
	f.publish(ctx)
	eventually(t, "felix receiving anna's video over the bridge", 15*time.Second, func() bool { return f.received("anna", "video") > 10 })
	eventually(t, "anna receiving felix's video over the bridge", 15*time.Second, func() bool { return a.received("felix", "video") > 10 })
}
