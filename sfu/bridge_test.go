package sfu_test

import (
	"context"
	"testing"
	"time"

	"github.com/geofence/geofence/internal/leaktest"
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
}
