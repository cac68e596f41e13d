package client

import (
	"context"
	"github.com/geofence/geofence/wire"
	"slices"
	"testing"
	"time"

	"github.com/geofence/geofence/agent"
)

// BenchmarkConnectAllPrimariesBlackholed is the time to join when the three primaries accept
// connections and never answer (real agents on loopback, the default 250 ms stagger, a 1 s
// attempt timeout): the primaries start at 0, 250 and 500 ms, the last one times out at
// 1.5 s, and the secondaries are started then. Expect about 1.5 s per operation; what is
// above that is the cost of the join, the ticket check and the loopback round trips.
func BenchmarkConnectAllPrimariesBlackholed(b *testing.B) {
	benchmarkJoin(b, naPrimary, wire.ListSecondary, Config{}) // the defaults: Stagger, AttemptTimeout, PrimaryBudget
}

// BenchmarkConnectFirstPrimary is the same join with every datacenter healthy: the baseline.
func BenchmarkConnectFirstPrimary(b *testing.B) {
	benchmarkJoin(b, nil, wire.ListPrimary, Config{})
}

func benchmarkJoin(b *testing.B, blackholed []string, wantList string, cfg Config) {
	w := newWorld(b, slices.Concat(naPrimary, naSecondary)...)
	w.dir.set(naPrimary, naSecondary)
	for _, id := range blackholed {
		w.agents[id].SetFault(agent.FaultBlackhole)
	}
	c := w.client(b, cfg)
	ctx := context.Background()
	var connect time.Duration
	b.ReportAllocs()
	for b.Loop() {
		res, err := c.Join(ctx, "m-1", "globex", "alice", "")
		if err != nil {
			b.Fatal(err)
		}
		if res.List != wantList {
			b.Fatalf("connected to %s (%s), want a %s", res.Datacenter, res.List, wantList)
		}
		connect += res.Elapsed
		if err := c.Disconnect(ctx, res); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(connect.Milliseconds())/float64(b.N), "connect-ms/op")
}
