package sim_test

import (
	"context"
	"testing"

	"github.com/geofence/geofence/sim"
	"github.com/geofence/geofence/sim/scenario"
	"github.com/geofence/geofence/verify"
)

func run(t *testing.T, configPath, scenarioPath string, seed uint64) *sim.Result {
	t.Helper()
	_, m, err := verify.File(configPath, verify.Options{})
	if err != nil || m == nil {
		t.Fatalf("load %s: %v", configPath, err)
	}
	sc, err := scenario.Load(scenarioPath)
	if err != nil {
		t.Fatal(err)
	}
	res, err := sim.Run(context.Background(), sim.Options{Model: m, Scenario: sc, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestCycleByHand checks testdata/cycle.yaml on testdata/two-dc.yaml by arithmetic. A
// one-person meeting starts every 3 s (at 1.5 s, 4.5 s, ...) and stays 9 min 58 s.
// DC a (primary, 100) takes the first 100 joins, minutes 0-5; then b (secondary, 50) the next
// 50, minutes 5-7.5; joins are refused until a's first participants leave at minute 10. A
// leave comes 2 s before a join and is seen at the 2 s report in between, so from minute 10
// every freed seat is taken again: each 10-minute cycle places 100 at a, 50 at b and refuses
// 50 (no_capacity). Three cycles: 300, 150, 150. Tickets name b as a secondary while b is not
// full: 100 (minutes 0-5) + 50 + 50 + 50 (b's own joins) = 250.
func TestCycleByHand(t *testing.T) {
	res := run(t, "testdata/two-dc.yaml", "testdata/cycle.yaml", 1)
	s := res.Summary
	for _, c := range []struct {
		name      string
		got, want int64
	}{
		{"joins", s.Joins, 600},
		{"placed", s.Placed, 450},
		{"refused", s.Refused, 150},
		{"no_capacity", s.RefusedByCode["no_capacity"], 150},
		{"placements at a", s.Datacenters[0].Placements, 300},
		{"placements at b", s.Datacenters[1].Placements, 150},
		{"spill a->b", spill(s, "a", "b"), 150},
		{"spilled", s.Spilled, 150},
		{"secondaries", s.Secondaries, 250},
		{"rehomes", s.Rehomes, 0},
		{"violations", s.Violations, 0},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %d, want %d", c.name, c.got, c.want)
		}
	}
	// Minute by minute: a full from minute 5 to 10 (its seats all taken), refusals only in
	// minutes 7.5-10, 17.5-20 and 27.5-30.
	for _, m := range res.Series {
		want := int64(0)
		switch m.Minute % 10 {
		case 7:
			want = 10 // half of the minute
		case 8, 9:
			want = 20
		}
		if got := m.Refused["no_capacity"]; got != want {
			t.Errorf("minute %d: got %d refused, want %d", m.Minute, got, want)
		}
	}
	if got := s.Datacenters[0].PeakUtilization; got != 1 {
		t.Errorf("peak utilization of a: got %g, want 1", got)
	}
}

func spill(s sim.Summary, from, to string) int64 {
	for _, c := range s.Spill {
		if c.From == from && c.To == to {
			return c.Participants
		}
	}
	return 0
}
