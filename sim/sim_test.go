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
	rep, m, err := verify.File(configPath, verify.Options{})
	if err != nil || m == nil {
		t.Fatalf("load %s: %v", configPath, err)
	}
	_ = rep
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

func TestCycleByHand(t *testing.T) {
	res := run(t, "testdata/two-dc.yaml", "testdata/cycle.yaml", 1)
	s := res.Summary
	t.Logf("%+v", s)
}
