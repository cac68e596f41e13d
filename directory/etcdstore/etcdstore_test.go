package etcdstore_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geofence/geofence/config"
	"github.com/geofence/geofence/directory"
	"github.com/geofence/geofence/directory/etcdstore"
	"github.com/geofence/geofence/directory/storetest"
	"github.com/geofence/geofence/geo"
	"github.com/geofence/geofence/internal/etcdtest"
	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/wire"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

func TestMain(m *testing.M) { etcdtest.Main(m) }

// TestConformance runs the store conformance cases against a real etcd member, each case
// under a prefix of its own.
func TestConformance(t *testing.T) {
	cluster := etcdtest.Start(t, 1)
	cli := cluster.Client(t)
	n := 0
	t.Run("direct", func(t *testing.T) {
		storetest.Run(t, func(*testing.T) directory.Store {
			n++
			return etcdstore.New(cli, fmt.Sprintf("/test/%d/", n))
		})
	})
	t.Run("cached", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) directory.Store {
			n++
			s, err := etcdstore.NewCached(t.Context(), cli, etcdstore.CacheConfig{Prefix: fmt.Sprintf("/test/%d/", n)})
			if err != nil {
				t.Fatal(err)
			}
			return s
		})
	})
}

// TestCacheFollowsOtherWriters: a cached store sees what another store on the same prefix
// wrote (another directory), and a compare-and-swap against its stale copy loses cleanly.
func TestCacheFollowsOtherWriters(t *testing.T) {
	cluster := etcdtest.Start(t, 1)
	cli := cluster.Client(t)
	a, err := etcdstore.NewCached(t.Context(), cli, etcdstore.CacheConfig{Prefix: "/c/"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := etcdstore.NewCached(t.Context(), cli, etcdstore.CacheConfig{Prefix: "/c/"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	rec, err := a.CreateMeeting(ctx, directory.MeetingRecord{ID: "m1", HostAccount: "acme", Region: "na", Mode: "managed", Expires: time.Now().Add(time.Hour)}, 0)
	if err != nil {
		t.Fatal(err)
	}
	stale := rec
	rec.Home = "us-den"
	moved, err := a.UpdateMeeting(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	// b may not have seen the move yet; its compare-and-swap from the stale revision loses,
	// and after it b's copy has the winner.
	stale.Home = "eu-fra"
	if _, err := b.UpdateMeeting(ctx, stale); !errors.Is(err, directory.ErrConflict) {
		t.Fatalf("b's stale swap: %v, want ErrConflict", err)
	}
	got, err := b.Meeting(ctx, "m1")
	if err != nil || got.Home != "us-den" || got.Revision != moved.Revision {
		t.Fatalf("b reads %+v %v after losing, want a's home at revision %d", got, err, moved.Revision)
	}
	if b.Revision() < moved.Revision {
		t.Errorf("b's copy at revision %d, want at least %d", b.Revision(), moved.Revision)
	}
}

// TestDirectoriesRaceToHome is the linearizability-style test of the cluster: three directory
// cores on one three-member etcd cluster, one of them believing the usual home is down, race
// the first joins of many meetings. For each meeting exactly one home is recorded, and every
// ticket names the home recorded at its revision: no meeting ever has two homes at once.
func TestDirectoriesRaceToHome(t *testing.T) {
	cluster := etcdtest.Start(t, 3)
	cli := cluster.Client(t)
	store := etcdstore.New(cli, "") // the auditor's view: straight from etcd
	m := worldModel(t)
	var cores []*directory.Core
	for i := range 3 {
		core := newCachedCore(t, cluster, m, nil) // each directory its own copy of the store
		for _, d := range m.DCs {
			core.ReportLoad(d.ID, 0, !(i == 2 && d.ID == "us-den"))
		}
		cores = append(cores, core)
	}
	us, _ := geo.LookupCountry("US")
	where := directory.Where{Country: us, Location: us.Centroid(), Located: true}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for round := range 10 {
		rec, err := cores[round%3].CreateMeeting(ctx, directory.CreateMeeting{HostAccount: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		type seen struct {
			home string
			rev  int64
		}
		var (
			mu      sync.Mutex
			tickets []seen
			wg      sync.WaitGroup
		)
		for i := range 12 {
			wg.Go(func() {
				res, err := cores[i%3].Join(ctx, directory.JoinRequest{Meeting: rec.ID, Account: "acme", Where: where})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				tickets = append(tickets, seen{res.Claims.Home, res.Claims.Revision})
				mu.Unlock()
			})
		}
		wg.Wait()
		byRev := map[int64]string{}
		for _, tk := range tickets {
			if h, ok := byRev[tk.rev]; ok && h != tk.home {
				t.Fatalf("meeting %s: revision %d names homes %s and %s", rec.ID, tk.rev, h, tk.home)
			}
			byRev[tk.rev] = tk.home
		}
		final, err := store.Meeting(ctx, rec.ID)
		if err != nil {
			t.Fatal(err)
		}
		if h, ok := byRev[final.Revision]; ok && h != final.Home {
			t.Fatalf("meeting %s: stored home %s at revision %d, a ticket says %s", rec.ID, final.Home, final.Revision, h)
		}
		if final.Home == "" {
			t.Fatalf("meeting %s has no home after 12 joins", rec.ID)
		}
	}
}

// TestLeaderKilledDuringJoins kills the etcd leader of a three-member cluster while two
// directories answer joins: joins fail for at most the election, then succeed again; every
// meeting and account stored before the kill is still there; no ticket names two homes at one
// revision.
func TestLeaderKilledDuringJoins(t *testing.T) {
	cluster := etcdtest.Start(t, 3)
	cli := cluster.Client(t)
	store := etcdstore.New(cli, "")
	m := worldModel(t)
	var cores []*directory.Core
	for range 2 {
		core := newCachedCore(t, cluster, m, nil) // each directory its own copy of the store
		for _, d := range m.DCs {
			core.ReportLoad(d.ID, 0, true)
		}
		cores = append(cores, core)
	}
	ctx := context.Background()
	if _, _, err := store.PutAccount(ctx, directory.AccountRecord{ID: "hooli", Plan: "pro", HomeRegion: "eu"}); err != nil {
		t.Fatal(err)
	}
	var meetings []string
	for range 5 {
		rec, err := cores[0].CreateMeeting(ctx, directory.CreateMeeting{HostAccount: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		meetings = append(meetings, rec.ID)
	}
	us, _ := geo.LookupCountry("US")
	where := directory.Where{Country: us, Location: us.Centroid(), Located: true}
	leader := cluster.Leader(t)
	if leader == nil {
		t.Fatal("no leader")
	}
	var (
		mu       sync.Mutex
		byRev    = map[string]string{}
		ok, fail int
		killed   bool
		okAfter  int // joins answered after the leader was killed
	)
	stop := time.Now().Add(4 * time.Second)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; time.Now().Before(stop); i++ {
				jctx, cancel := context.WithTimeout(ctx, time.Second)
				id := meetings[(w+i)%len(meetings)]
				res, err := cores[w%2].Join(jctx, directory.JoinRequest{Meeting: id, Account: "acme", Where: where})
				cancel()
				mu.Lock()
				if err != nil {
					fail++
				} else {
					ok++
					if killed {
						okAfter++
					}
					key := fmt.Sprintf("%s@%d", id, res.Claims.Revision)
					if h, seen := byRev[key]; seen && h != res.Claims.Home {
						t.Errorf("%s names homes %s and %s", key, h, res.Claims.Home)
					}
					byRev[key] = res.Claims.Home
				}
				mu.Unlock()
			}
		})
	}
	time.Sleep(time.Second)
	leader.Kill()
	mu.Lock()
	killed = true
	mu.Unlock()
	wg.Wait()
	t.Logf("joins: %d answered (%d after the leader was killed), %d failed", ok, okAfter, fail)
	if okAfter == 0 {
		t.Fatal("no join was answered after the leader was killed")
	}
	for _, id := range meetings {
		if _, err := store.Meeting(ctx, id); err != nil {
			t.Errorf("meeting %s lost: %v", id, err)
		}
	}
	if _, err := store.Account(ctx, "hooli"); err != nil {
		t.Errorf("account lost: %v", err)
	}
}

// newCachedCore is a directory core on its own watched copy of the cluster's store, as each
// directory of a deployment runs.
func newCachedCore(t *testing.T, cluster *etcdtest.Cluster, m *policy.Model, tweak func(*directory.Config)) *directory.Core {
	t.Helper()
	own, err := etcdstore.NewCached(t.Context(), cluster.Client(t), etcdstore.CacheConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := directory.Config{Model: m, Store: own, Logger: slog.New(slog.DiscardHandler)}
	if tweak != nil {
		tweak(&cfg)
	}
	core, err := directory.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return core
}

// worldModel is the model of examples/world.yaml.
func worldModel(t testing.TB) *policy.Model {
	t.Helper()
	c, errs := config.Parse("world.yaml", mustRead(t, "../../examples/world.yaml"))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	m, err := policy.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLoadReportsAreShared: DCs report to directory A only; directory B learns their load,
// health and media load through the store, so it routes (and its dashboard shows) as A does; a
// DC that reports unhealthy to A is down at B too.
func TestLoadReportsAreShared(t *testing.T) {
	cluster := etcdtest.Start(t, 1)
	m := worldModel(t)
	var cores []*directory.Core
	for range 2 {
		core := newCachedCore(t, cluster, m, nil) // each directory its own copy of the store
		go core.Run(t.Context())
		cores = append(cores, core)
	}
	a, b := cores[0], cores[1]
	media := &wire.MediaLoad{Sessions: 100, Meetings: 9, TracksIn: 150, TracksOut: 400, BitsOutPerSecond: 1e8,
		Bridges: []wire.BridgeLoad{{Datacenter: "us-iad", Direction: "in", Meetings: 2, TracksIn: 3, TracksOut: 5}}}
	for _, d := range m.DCs {
		var ml *wire.MediaLoad
		if d.ID == "us-sjc" {
			ml = media
		}
		if err := a.ReportMediaLoad(d.ID, 100, d.ID != "us-den", ml); err != nil {
			t.Fatal(err)
		}
	}
	up := func(core *directory.Core, id string) (bool, int64, *wire.MediaLoad) {
		for _, d := range core.Datacenters() {
			if d.ID == id {
				return !d.Down, d.Participants, d.Media
			}
		}
		return false, 0, nil
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		sjc, n, ml := up(b, "us-sjc")
		den, _, _ := up(b, "us-den")
		if sjc && n == 100 && !den && ml != nil && ml.Sessions == 100 && len(ml.Bridges) == 1 && ml.Bridges[0].Datacenter == "us-iad" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("directory B: us-sjc up %v with %d participants and media %+v, us-den up %v; want A's reports", sjc, n, ml, den)
		}
		time.Sleep(20 * time.Millisecond)
	}
	rec, err := a.CreateMeeting(t.Context(), directory.CreateMeeting{HostAccount: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	us, _ := geo.LookupCountry("US")
	res, err := b.Join(t.Context(), directory.JoinRequest{Meeting: rec.ID, Account: "acme", Where: directory.Where{Country: us, Location: us.Centroid(), Located: true}})
	if err != nil {
		t.Fatalf("join through B, which received no report itself: %v", err)
	}
	for _, d := range res.Claims.Primary {
		if d.ID == "us-den" {
			t.Errorf("B listed us-den, which reported unhealthy to A")
		}
	}
}

// TestCutOffFromEtcd is static stability (DESIGN.md section 9): a directory cut off from etcd
// keeps answering joins of meetings it knows whose home stands, and refuses, with 503 and a
// retry hint, what needs the store (a new meeting, a first home); it never decides a home
// without the store. When etcd is back it catches up with what others wrote meanwhile.
func TestCutOffFromEtcd(t *testing.T) {
	cluster := etcdtest.Start(t, 1)
	proxy := etcdtest.NewProxy(t, cluster.Endpoints()[0])
	m := worldModel(t)
	newCore := func(endpoint string) *directory.Core {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: time.Second, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cli.Close() })
		own, err := etcdstore.NewCached(t.Context(), cli, etcdstore.CacheConfig{})
		if err != nil {
			t.Fatal(err)
		}
		core, err := directory.New(directory.Config{Model: m, Store: own, StoreTimeout: 500 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range m.DCs {
			core.ReportLoad(d.ID, 0, true)
		}
		return core
	}
	a := newCore(proxy.URL)              // the directory that will be cut off
	b := newCore(cluster.Endpoints()[0]) // another directory, still connected
	ctx := t.Context()
	us, _ := geo.LookupCountry("US")
	where := directory.Where{Country: us, Location: us.Centroid(), Located: true}
	join := func(core *directory.Core, id string) (*directory.JoinResult, error) {
		return core.Join(ctx, directory.JoinRequest{Meeting: id, Account: "acme", Where: where})
	}
	joined, err := a.CreateMeeting(ctx, directory.CreateMeeting{HostAccount: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	first, err := join(a, joined.ID)
	if err != nil {
		t.Fatal(err)
	}
	unjoined, err := a.CreateMeeting(ctx, directory.CreateMeeting{HostAccount: "acme"})
	if err != nil {
		t.Fatal(err)
	}

	proxy.Cut()
	res, err := join(a, joined.ID)
	if err != nil {
		t.Fatalf("join of a known meeting while cut off: %v", err)
	}
	if res.Claims.Home != first.Claims.Home {
		t.Errorf("home %s while cut off, want %s", res.Claims.Home, first.Claims.Home)
	}
	storeDown := func(what string, err error) {
		t.Helper()
		var e *directory.Error
		if !errors.As(err, &e) || e.Code != wire.CodeStoreUnavailable || e.RetryAfter <= 0 {
			t.Fatalf("%s while cut off: %v, want store_unavailable with a retry hint", what, err)
		}
	}
	_, err = a.CreateMeeting(ctx, directory.CreateMeeting{HostAccount: "acme"})
	storeDown("a new meeting", err)
	_, err = join(a, unjoined.ID)
	storeDown("a meeting's first join (its home)", err)
	// Meanwhile the other directory creates a meeting.
	later, err := b.CreateMeeting(ctx, directory.CreateMeeting{HostAccount: "acme"})
	if err != nil {
		t.Fatal(err)
	}

	proxy.Restore()
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err1 := join(a, unjoined.ID)
		_, err2 := join(a, later.ID)
		if err1 == nil && err2 == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after etcd came back: %v / %v", err1, err2)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRestartDuringOutage: a directory persists its copy of the state; restarted while etcd
// is unreachable it serves the meetings it knew from that file, and refuses what needs etcd.
func TestRestartDuringOutage(t *testing.T) {
	cluster := etcdtest.Start(t, 1)
	proxy := etcdtest.NewProxy(t, cluster.Endpoints()[0])
	m := worldModel(t)
	stateFile := filepath.Join(t.TempDir(), "state.json")
	start := func(ctx context.Context) *directory.Core {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{proxy.URL}, DialTimeout: time.Second, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cli.Close() })
		own, err := etcdstore.NewCached(ctx, cli, etcdstore.CacheConfig{StateFile: stateFile, LoadTimeout: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		core, err := directory.New(directory.Config{Model: m, Store: own, StoreTimeout: 500 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range m.DCs {
			core.ReportLoad(d.ID, 0, true)
		}
		return core
	}
	us, _ := geo.LookupCountry("US")
	where := directory.Where{Country: us, Location: us.Centroid(), Located: true}
	ctx1, stop1 := context.WithCancel(t.Context())
	a := start(ctx1)
	rec, err := a.CreateMeeting(ctx1, directory.CreateMeeting{HostAccount: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	first, err := a.Join(ctx1, directory.JoinRequest{Meeting: rec.ID, Account: "acme", Where: where})
	if err != nil {
		t.Fatal(err)
	}
	// Wait until the home is persisted.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		b, _ := os.ReadFile(stateFile)
		if strings.Contains(string(b), `"home":"`+first.Claims.Home+`"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("state file never held the home: %s", b)
		}
	}
	stop1() // the directory stops; etcd becomes unreachable; it starts again

	proxy.Cut()
	a2 := start(t.Context())
	res, err := a2.Join(t.Context(), directory.JoinRequest{Meeting: rec.ID, Account: "acme", Where: where})
	if err != nil {
		t.Fatalf("join after a restart during the outage: %v", err)
	}
	if res.Claims.Home != first.Claims.Home {
		t.Errorf("home %s after the restart, want %s", res.Claims.Home, first.Claims.Home)
	}
	if _, err := a2.CreateMeeting(t.Context(), directory.CreateMeeting{HostAccount: "acme"}); err == nil {
		t.Error("a new meeting was created without etcd")
	}
}

// TestPlacementOvershootIsBounded: each directory counts only its own placements between two
// load reports (DESIGN.md section 9), so a burst through N directories can place up to N times
// a DC's free capacity before the next report, never more; the figure is in
// docs/benchmarks.md.
func TestPlacementOvershootIsBounded(t *testing.T) {
	const src = `version: 1
default_region: na
regions:
  na: {countries: [US]}
plans:
  basic: {}
datacenters:
  small: {country: US, location: [40, -100], capacity: 100, services: [media, kms]}
routing:
  regions:
    na: {primary: [small], secondary: [], kms: [small]}
residency: {}
accounts:
  acme: {plan: basic}
`
	c, errs := config.Parse("small.yaml", []byte(src))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	m, err := policy.New(c)
	if err != nil {
		t.Fatal(err)
	}
	cluster := etcdtest.Start(t, 1)
	const directories = 2
	var cores []*directory.Core
	for range directories {
		core := newCachedCore(t, cluster, m, func(cfg *directory.Config) { cfg.MaxMeetingsPerAccount = -1 })
		core.ReportLoad("small", 0, true)
		cores = append(cores, core)
	}
	rec, err := cores[0].CreateMeeting(t.Context(), directory.CreateMeeting{HostAccount: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	placed := 0
	for i := range 400 {
		if _, err := cores[i%directories].Join(t.Context(), directory.JoinRequest{Meeting: rec.ID, Account: "acme"}); err == nil {
			placed++
		}
	}
	t.Logf("%d directories placed %d participants on a DC of capacity 100 between two reports (overshoot %d)", directories, placed, placed-100)
	if placed > directories*100 || placed < 100 {
		t.Fatalf("placed %d, want between 100 and %d", placed, directories*100)
	}
}
