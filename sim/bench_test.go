package sim_test

import (
	"context"
	"os"
	"strconv"
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
	sc.Multiplier = benchScale()
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

func benchScale() float64 {
	if v, err := strconv.ParseFloat(os.Getenv("SIM_BENCH_SCALE"), 64); err == nil && v > 0 {
		return v
	}
	return 0.001
}
