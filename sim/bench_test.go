package sim_test

import (
	"context"
	"testing"

	"github.com/geofence/geofence/sim"
	"github.com/geofence/geofence/sim/scenario"
	"github.com/geofence/geofence/verify"
)

// BenchmarkAprilDay runs a thousandth of the April 2020 day (about 300 000 joins) on the
// example world; ns/op over joins/op is the cost of a join, events and admission included.
func BenchmarkAprilDay(b *testing.B) {
	_, m, _ := verify.File("../examples/world.yaml", verify.Options{})
	sc, err := scenario.Load("../examples/april-2020-day.yaml")
	if err != nil {
		b.Fatal(err)
	}
	sc.Multiplier = 0.001
	b.ReportAllocs()
	var joins int64
	for b.Loop() {
		res, err := sim.Run(context.Background(), sim.Options{Model: m, Scenario: sc, Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		joins = res.Summary.Joins
	}
	b.ReportMetric(float64(joins), "joins/op")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(joins), "ns/join")
}
