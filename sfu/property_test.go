package sfu_test

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/geofence/geofence/admission"
	"github.com/geofence/geofence/internal/leaktest"
	"github.com/geofence/geofence/wire"
)

var seed = flag.Uint64("sfu.seed", 0, "seed of the randomized media tests (0: a new one, logged)")

// I1 per publisher, as a property: a random meeting of participants from random regions at
// random datacenters of their tickets, one of them killed midway and its participants joining
// again elsewhere. Once settled, every track every media server sends goes only to a
// datacenter its publisher's rules allow (checked with the policy, independently of the
// server's own check), and every subscriber either receives each other publisher or was told
// why not.
func TestForwardingRespectsEveryPublishersRules(t *testing.T) {
	leaktest.Check(t)
	s := *seed
	if s == 0 {
		s = rand.Uint64()
	}
	t.Logf("seed %d (rerun with -sfu.seed=%d)", s, s)
	rng := rand.New(rand.NewPCG(s, 1))

	w := newWorld(t)
	net := newWAN(t, 5*time.Millisecond, 0)
	w.clientNet = net.host
	dcs := []string{"de-fra", "fr-par", "nl-ams"}
	for _, dc := range dcs {
		w.start(dc, net.host())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	type joined struct {
		m   *member
		tok string
		alt []string // the other datacenters its ticket lists
	}
	var people []*joined
	peopleIn := []person{anna, felix, nora, heidi}
	n := 4 + rng.IntN(3)
	for i := range n {
		p := peopleIn[rng.IntN(len(peopleIn))]
		p.id = fmt.Sprintf("%s%d", p.id, i)
		allowed := dcs
		if p.region == "ch" {
			allowed = []string{"de-fra"} // the only DC its rules and the meeting's both allow
		}
		order := append([]string(nil), allowed...)
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		switch i {
		case 0: // someone whose rules keep its media out of two of the three DCs
			p = heidi
			p.id, order = "heidi0", []string{"de-fra"}
		case 1: // someone bridged, before and after the failure
			p = felix
			p.id, order = "felix1", []string{"fr-par", "nl-ams"}
			if rng.IntN(2) == 0 {
				order[0], order[1] = order[1], order[0]
			}
		}
		tok := w.ticketFor(p, order[:1], order[1:])
		m, err := w.tryJoin(p, order[0], tok)
		if err != nil {
			t.Fatalf("%s at %s: %v", p.id, order[0], err)
		}
		m.publish(ctx)
		people = append(people, &joined{m, tok, order[1:]})
	}
	// A datacenter that is not the home dies; its participants join again at the next one of
	// their tickets, or leave if it lists none.
	victim := dcs[1+rng.IntN(2)]
	t.Logf("%d participants; %s fails", n, victim)
	w.kill(victim)
	live := people[:0]
	for _, j := range people {
		if j.m.dc != victim {
			live = append(live, j)
			continue
		}
		<-j.m.conn.Done()
		var next string
		for _, dc := range j.alt {
			if dc != victim {
				next = dc
				break
			}
		}
		if next == "" {
			continue
		}
		m, err := w.tryJoin(j.m.who, next, j.tok)
		if err != nil {
			t.Fatalf("%s again at %s: %v", j.m.who.id, next, err)
		}
		m.publish(ctx)
		live = append(live, &joined{m, j.tok, nil})
	}

	// Every subscriber receives each publisher its datacenter may carry, and is told of the
	// others.
	model := w.model
	may := func(pub, sub *member) bool {
		dc, _ := model.DC(sub.dc)
		return model.Admit(admission.Party(wire.Context{ParticipantCountry: pub.who.country, ParticipantRegion: pub.who.region,
			ParticipantPlan: "basic", MeetingRegion: "eu", HostAccount: "acme", HostPlan: "basic"}), dc) == nil
	}
	for _, sub := range live {
		for _, pub := range live {
			if pub == sub {
				continue
			}
			if may(pub.m, sub.m) {
				eventually(t, fmt.Sprintf("%s at %s receiving %s's video", sub.m.who.id, sub.m.dc, pub.m.who.id), 20*time.Second,
					func() bool { return sub.m.received(pub.m.who.id, "video") > 5 })
			} else {
				eventually(t, fmt.Sprintf("%s at %s told %s's tracks are withheld", sub.m.who.id, sub.m.dc, pub.m.who.id), 20*time.Second,
					func() bool {
						for _, wh := range sub.m.conn.Withheld() {
							if wh.Datacenter == sub.m.dc {
								return true
							}
						}
						return false
					})
			}
		}
	}
	// And nothing any server sends goes where its publisher's rules forbid.
	forwards := 0
	for _, dc := range dcs {
		if dc == victim {
			continue
		}
		for _, f := range w.servers[dc].Forwarding() {
			forwards++
			to, ok := model.DC(f.To)
			if !ok || f.Publisher.Context == nil {
				t.Errorf("%s sends %s's track to %q, without a known datacenter or rule context", dc, f.Publisher.ID, f.To)
				continue
			}
			if err := model.Admit(admission.Party(*f.Publisher.Context), to); err != nil {
				t.Errorf("%s sends %s's %s track to %s, which the publisher's rules forbid: %v", dc, f.Publisher.ID, f.Track.Kind, f.To, err)
			}
		}
	}
	if forwards == 0 {
		t.Error("no media server forwards anything")
	}
}
