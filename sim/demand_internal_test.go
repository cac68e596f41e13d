package sim

import (
	"context"
	"testing"
	"time"

	"github.com/geofence/geofence/sim/scenario"
	"github.com/geofence/geofence/verify"
)

// The demand side reuses a slot only once the directory side is done with it. If it reused
// one early, a reconnecting participant's state would be overwritten by a newcomer's and the
// DCs' counts would drift from the participants they hold. Over failovers with reconnection
// delays from none to longer than most stays, every DC's count must equal the participants
// placed there at the end, and every meeting still open must wait for as many participants
// as are not gone.
func TestSlotsReusedOnlyWhenDone(t *testing.T) {
	_, m, err := verify.File("testdata/two-dc.yaml", verify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, delay := range []time.Duration{0, time.Second, 2 * time.Minute, 20 * time.Minute} {
		sc, err := scenario.Load("testdata/failover.yaml")
		if err != nil {
			t.Fatal(err)
		}
		sc.Meetings.RejoinDelay = delay
		s, err := newSim(Options{Model: m, Scenario: sc, Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.run(context.Background()); err != nil {
			t.Fatal(err)
		}
		if s.acc.dropped == 0 {
			t.Fatalf("delay %s: nobody was dropped; the test needs failovers", delay)
		}
		count := make([]int64, len(s.count))
		pending := map[int32]int32{}
		for i := range s.parts {
			p := &s.parts[i]
			if p.alive && p.dc >= 0 {
				count[p.dc]++
			}
			if p.alive {
				pending[p.meeting]++
			}
		}
		for x := range count {
			if count[x] != s.count[x] {
				t.Errorf("delay %s: DC %s counts %d participants, %d are placed there", delay, s.dcs[x].ID, s.count[x], count[x])
			}
		}
		for i := range s.table.slots {
			if x := &s.table.slots[i]; x.open && x.sim.pending != pending[int32(i)] {
				t.Errorf("delay %s: meeting slot %d waits for %d participants, %d are not gone", delay, i, x.sim.pending, pending[int32(i)])
			}
		}
	}
}
