package verify_test

import (
	"math/rand/v2"
	"testing"

	"github.com/geofence/geofence/config"
	"github.com/geofence/geofence/internal/worldgen"
	"github.com/geofence/geofence/verify"
)

// BenchmarkLoadVerifyLarge is config load plus verify of a generated world with 1,000 DCs,
// every ISO country, 20 regions and 10 plans, at --failures 2 (issue target: under 1 s for the
// whole process).
func BenchmarkLoadVerifyLarge(b *testing.B) {
	data := worldgen.World(rand.New(rand.NewPCG(1, 0)), worldgen.Options{
		Regions: 20, Plans: 10, Datacenters: 1000, Rules: 10, Accounts: 100, ListLen: 50, Clean: true,
	})
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		c, errs := config.Parse("big.yaml", data)
		if len(errs) > 0 {
			b.Fatal(errs)
		}
		rep, _ := verify.Config(c, errs, verify.Options{Failures: 2})
		for _, f := range rep.Findings {
			if f.Code == verify.CodeResidency {
				b.Fatalf("generated clean world has a residency error: %v", f.String())
			}
		}
	}
}
