package etcdstore_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/geofence/geofence/directory"
	"github.com/geofence/geofence/directory/configsync"
	"github.com/geofence/geofence/directory/etcdstore"
	"github.com/geofence/geofence/geo"
	"github.com/geofence/geofence/internal/etcdtest"
	"github.com/geofence/geofence/policy"
)

// BenchmarkCoreJoin is one join through the directory core on each store, same run: the
// memory store, and the etcd store on a one-member and a three-member cluster on loopback
// (every join reads the meeting's record from etcd), and on a three-member cluster through the
// watch-kept copy a directory runs with.
func BenchmarkCoreJoin(b *testing.B) {
	m := worldModel(b)
	stores := []struct {
		name  string
		store func(b *testing.B) directory.Store
	}{
		{"memory", func(*testing.B) directory.Store { return directory.NewMemoryStore() }},
		{"etcd-1", func(b *testing.B) directory.Store { return etcdstore.New(etcdtest.Start(b, 1).Client(b), "") }},
		{"etcd-3", func(b *testing.B) directory.Store { return etcdstore.New(etcdtest.Start(b, 3).Client(b), "") }},
		{"etcd-3-cached", func(b *testing.B) directory.Store {
			s, err := etcdstore.NewCached(b.Context(), etcdtest.Start(b, 3).Client(b), etcdstore.CacheConfig{})
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
	}
	us, _ := geo.LookupCountry("US")
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			core, err := directory.New(directory.Config{Model: m, Store: st.store(b), Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			for _, d := range m.DCs {
				core.ReportLoad(d.ID, 0, true)
			}
			ctx := context.Background()
			rec, err := core.CreateMeeting(ctx, directory.CreateMeeting{HostAccount: "acme"})
			if err != nil {
				b.Fatal(err)
			}
			req := directory.JoinRequest{Meeting: rec.ID, Account: "acme", Participant: "p1",
				Where: directory.Where{Country: us, Location: us.Centroid(), Located: true}}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := core.Join(ctx, req); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkCreateMeeting is one meeting's creation through the directory core on a
// three-member etcd cluster (a create-if-absent transaction with the account's counter), and
// reports the p50 and p99 latencies.
func BenchmarkCreateMeeting(b *testing.B) {
	m := worldModel(b)
	s, err := etcdstore.NewCached(b.Context(), etcdtest.Start(b, 3).Client(b), etcdstore.CacheConfig{})
	if err != nil {
		b.Fatal(err)
	}
	core, err := directory.New(directory.Config{Model: m, Store: s, MaxMeetingsPerAccount: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var lat []time.Duration
	for b.Loop() {
		t0 := time.Now()
		if _, err := core.CreateMeeting(ctx, directory.CreateMeeting{HostAccount: "acme"}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkConfigPush is the time from `geofence config push` storing a config to a second
// directory serving it (its watch delivered it, it verified it and swapped its model in).
func BenchmarkConfigPush(b *testing.B) {
	cluster := etcdtest.Start(b, 3)
	store := etcdstore.New(cluster.Client(b), "")
	world := mustRead(b, "../../examples/world.yaml")
	swapped := make(chan struct{}, 1)
	sync, err := configsync.New(store, modelFunc(func(*policy.Model) { swapped <- struct{}{} }), nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	go sync.Run(b.Context())
	ctx := context.Background()
	var prev int64
	i := 0
	for b.Loop() {
		i++
		// A different comment each time: a new digest, the same rules.
		yaml := append(append([]byte{}, world...), fmt.Sprintf("\n# push %d\n", i)...)
		rec, err := store.PushConfig(ctx, etcdstore.ConfigRecord{Name: "world.yaml", YAML: yaml}, prev)
		if err != nil {
			b.Fatal(err)
		}
		prev = rec.Revision
		<-swapped
	}
}

type modelFunc func(*policy.Model)

func (f modelFunc) SetModel(m *policy.Model) { f(m) }
