package sim

import (
	"context"
	"encoding/json"
	"reflect"
	"runtime"
	"testing"

	"github.com/geofence/geofence/sim/scenario"
	"github.com/geofence/geofence/verify"
)

func islands(t *testing.T) Options {
	t.Helper()
	_, m, err := verify.File("testdata/islands.yaml", verify.Options{})
	if err != nil || m == nil {
		t.Fatal(err)
	}
	sc, err := scenario.Load("testdata/islands-day.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return Options{Model: m, Scenario: sc, Seed: 5}
}

// TestShards: regions whose lists share a DC run together, others apart; cross-region
// participants, config swaps and traces put every region together.
func TestShards(t *testing.T) {
	o := islands(t)
	groups := func(o Options) [][]int {
		s, err := newSim(o)
		if err != nil {
			t.Fatal(err)
		}
		return s.shards()
	}
	if got, want := groups(o), [][]int{{0, 1}, {2}}; !reflect.DeepEqual(got, want) {
		t.Errorf("islands: got groups %v, want %v (na with sa, eu apart)", got, want)
	}
	cross := *o.Scenario
	cross.Meetings.CrossRegion = 0.01
	if got := groups(Options{Model: o.Model, Scenario: &cross}); len(got) != 1 {
		t.Errorf("cross-region participants: got groups %v, want one", got)
	}
	_, world, _ := verify.File("../examples/world.yaml", verify.Options{})
	april, _ := scenario.Load("../examples/april-2020-day.yaml")
	if got := groups(Options{Model: world, Scenario: april}); len(got) != 1 {
		t.Errorf("the April day on the example world: got groups %v, want one (its regions are not independent)", got)
	}
	april0 := *april
	april0.Meetings.CrossRegion = 0
	// Without them, China's meetings (whose lists stay in China) are apart; every other
	// region has secondaries in another.
	if got, want := groups(Options{Model: world, Scenario: &april0}), [][]int{{0, 1, 2, 3, 4, 6}, {5}}; !reflect.DeepEqual(got, want) {
		t.Errorf("the example world without cross-region participants: got groups %v, want %v", got, want)
	}
}

// TestShardedDeterministic: a sharded run's output is the same on one core as on two, and
// each group's regions get what they get when run alone with the group's seed.
func TestShardedDeterministic(t *testing.T) {
	o := islands(t)
	run := func(procs int) []byte {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		res, err := Run(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		if res.Summary.Shards != 2 {
			t.Fatalf("got %d shards, want 2", res.Summary.Shards)
		}
		b, _ := json.Marshal(res)
		return b
	}
	one, two := run(1), run(2)
	if string(one) != string(two) {
		t.Error("the output differs between GOMAXPROCS 1 and 2")
	}
	if again := run(2); string(again) != string(two) {
		t.Error("the output differs between two runs on two cores")
	}

	var merged Result
	json.Unmarshal(two, &merged)
	// eu alone, with the seed of its group: the same joins, placements and refusals.
	alone := *o.Scenario
	alone.Regions = alone.Regions[2:]
	ao := o
	ao.Scenario, ao.Seed = &alone, shardSeed(o.Seed, 1)
	res, err := Run(context.Background(), ao)
	if err != nil {
		t.Fatal(err)
	}
	got, want := merged.Summary.Regions[2], res.Summary.Regions[0]
	if !reflect.DeepEqual(got, want) {
		t.Errorf("eu in the sharded run:\n%+v\nrun alone:\n%+v", got, want)
	}
	for x, d := range res.Summary.Datacenters {
		if d.ID != "de-fra" && d.ID != "fr-par" {
			continue
		}
		if m := merged.Summary.Datacenters[x]; m != d {
			t.Errorf("%s in the sharded run %+v, alone %+v", d.ID, m, d)
		}
	}
	if merged.Summary.Joins != merged.Summary.Regions[0].Joins+merged.Summary.Regions[1].Joins+merged.Summary.Regions[2].Joins || merged.Summary.Joins == 0 {
		t.Errorf("joins %d are not the sum of the regions' %+v", merged.Summary.Joins, merged.Summary.Regions)
	}
}
