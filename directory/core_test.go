package directory_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geofence/geofence/config"
	"github.com/geofence/geofence/directory"
	"github.com/geofence/geofence/geo"
	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/wire"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func loadModel(t testing.TB, src string) *policy.Model {
	t.Helper()
	c, errs := config.Parse("test.yaml", []byte(src))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	m, err := policy.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func world(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile("../examples/world.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func newCore(t testing.TB, m *policy.Model, tweak func(*directory.Config)) (*directory.Core, *clock) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	cfg := directory.Config{Model: m, Now: clk.Now, Logger: slog.New(slog.DiscardHandler)}
	if tweak != nil {
		tweak(&cfg)
	}
	c, err := directory.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, clk
}

func reportAll(t testing.TB, c *directory.Core, participants int64, healthy bool) {
	t.Helper()
	for _, d := range c.Model().DCs {
		if err := c.ReportLoad(d.ID, participants, healthy); err != nil {
			t.Fatal(err)
		}
	}
}

func where(cc string) directory.Where {
	k, _ := geo.LookupCountry(cc)
	return directory.Where{Country: k, Location: k.Centroid(), Located: true}
}

func code(err error) string {
	var e *directory.Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err == nil {
		return ""
	}
	return "not a directory error: " + err.Error()
}

func TestMeetingLifecycle(t *testing.T) {
	ctx := context.Background()
	c, clk := newCore(t, loadModel(t, world(t)), func(cfg *directory.Config) { cfg.MeetingIdle = time.Hour })
	reportAll(t, c, 0, true)
	rec, err := c.CreateMeeting(ctx, directory.CreateMeeting{HostAccount: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Region != "na" || rec.Mode != wire.ModeManaged || rec.Revision == 0 {
		t.Fatalf("created %+v, want region na, managed, a revision", rec)
	}
	join := func() error {
		_, err := c.Join(ctx, directory.JoinRequest{Meeting: rec.ID, Account: "acme", Where: where("US")})
		return err
	}
	if err := join(); err != nil {
		t.Fatal(err)
	}
	// A join keeps the meeting alive: 50 minutes later, then 50 more, it is still there.
	clk.Add(50 * time.Minute)
	reportAll(t, c, 0, true)
	if err := join(); err != nil {
		t.Fatalf("join before the idle timeout: %v", err)
	}
	clk.Add(50 * time.Minute)
	reportAll(t, c, 0, true)
	if err := join(); err != nil {
		t.Fatalf("join 100 min after creation, 50 after the last join: %v", err)
	}
	// An hour and a bit without a join: it has expired, swept or not.
	clk.Add(61 * time.Minute)
	if got := code(join()); got != wire.CodeUnknownMeeting {
		t.Fatalf("join after the idle timeout: %q, want %s", got, wire.CodeUnknownMeeting)
	}
	if n, err := c.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("sweep: %d %v, want 1 meeting expired", n, err)
	}

	// Ending a meeting: later joins are refused, a second end says there is none.
	rec2, err := c.CreateMeeting(ctx, directory.CreateMeeting{HostAccount: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.EndMeeting(ctx, rec2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Join(ctx, directory.JoinRequest{Meeting: rec2.ID, Account: "acme", Where: where("US")}); code(err) != wire.CodeUnknownMeeting {
		t.Fatalf("join of an ended meeting: %v", err)
	}
	if got := code(c.EndMeeting(ctx, rec2.ID)); got != wire.CodeUnknownMeeting {
		t.Fatalf("second end: %q", got)
	}
}

func TestMeetingsPerAccountBound(t *testing.T) {
	ctx := context.Background()
	store := directory.NewMemoryStore()
	c, _ := newCore(t, loadModel(t, world(t)), func(cfg *directory.Config) { cfg.MaxMeetingsPerAccount = 3; cfg.Store = store })
	var ids []string
	for i := range 3 {
		rec, err := c.CreateMeeting(ctx, directory.CreateMeeting{HostAccount: "acme"})
		if err != nil {
			t.Fatalf("meeting %d: %v", i, err)
		}
		ids = append(ids, rec.ID)
	}
	if _, err := c.CreateMeeting(ctx, directory.CreateMeeting{HostAccount: "acme"}); code(err) != wire.CodeLimit {
		t.Fatalf("fourth meeting: %v, want %s", err, wire.CodeLimit)
	}
	// Another account is not affected; ending one frees a place.
	if _, err := c.CreateMeeting(ctx, directory.CreateMeeting{HostAccount: "globex"}); err != nil {
		t.Fatalf("other account: %v", err)
	}
	if err := c.EndMeeting(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateMeeting(ctx, directory.CreateMeeting{HostAccount: "acme"}); err != nil {
		t.Fatalf("after ending one: %v", err)
	}
	if store.Len() != 4 {
		t.Errorf("store holds %d meetings, want 4", store.Len())
	}
}

// TestHomeCompareAndSwap: two cores on one store (two directories) race first joins of one
// meeting; the store's compare-and-swap lets one home win, and every ticket names that home.
func TestHomeCompareAndSwap(t *testing.T) {
	ctx := context.Background()
	store := directory.NewMemoryStore()
	m := loadModel(t, world(t))
	a, _ := newCore(t, m, func(cfg *directory.Config) { cfg.Store = store })
	b, _ := newCore(t, m, func(cfg *directory.Config) { cfg.Store = store })
	reportAll(t, a, 0, true)
	reportAll(t, b, 0, true)
	// Directory b believes us-den is down, so it would home the meeting elsewhere.
	if err := b.ReportLoad("us-den", 0, false); err != nil {
		t.Fatal(err)
	}
	rec, err := a.CreateMeeting(ctx, directory.CreateMeeting{HostAccount: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	homes := make(chan string, 40)
	var wg sync.WaitGroup
	for i := range 40 {
		c := a
		if i%2 == 1 {
			c = b
		}
		wg.Go(func() {
			res, err := c.Join(ctx, directory.JoinRequest{Meeting: rec.ID, Account: "acme", Where: where("US")})
			if err != nil {
				t.Error(err)
				return
			}
			homes <- res.Claims.Home + fmt.Sprintf("@%d", res.Claims.Revision)
		})
	}
	wg.Wait()
	close(homes)
	final, err := store.Meeting(ctx, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	// Directory b re-homes when it sees the home down: so a ticket's home is either the
	// record's home at the ticket's revision, or an older one at an older revision. No two
	// tickets share a revision with different homes.
	byRev := map[string]string{}
	for h := range homes {
		home, rev, _ := strings.Cut(h, "@")
		if prev, ok := byRev[rev]; ok && prev != home {
			t.Fatalf("revision %s names homes %s and %s", rev, prev, home)
		}
		byRev[rev] = home
	}
	if final.Home == "" {
		t.Fatal("no home recorded")
	}
}

// TestSetModelRacesJoins swaps configs while joins run (go test -race): no join panics, none
// names a DC of a model it was not selected on, and the live state follows the swap.
func TestSetModelRacesJoins(t *testing.T) {
	ctx := context.Background()
	src := world(t)
	m1 := loadModel(t, src)
	shifted := strings.Replace(src, "datacenters:\n", "datacenters:\n  aa-first:\n    country: FR\n    location: [48.85, 2.35]\n    capacity: 1000\n    services: [media]\n", 1)
	m2 := loadModel(t, shifted)
	c, _ := newCore(t, m1, nil)
	reportAll(t, c, 0, true)
	rec, err := c.CreateMeeting(ctx, directory.CreateMeeting{HostAccount: "initech"})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			m := m1
			if i%2 == 1 {
				m = m2
			}
			c.SetModel(m)
			for _, d := range m.DCs {
				c.ReportMediaLoad(d.ID, 0, true, &wire.MediaLoad{Sessions: int64(i), Bridges: []wire.BridgeLoad{{Datacenter: "us-sjc", Direction: "out"}}})
			}
		}
	})
	for w := range 4 {
		wg.Go(func() {
			for range 300 {
				res, err := c.Join(ctx, directory.JoinRequest{Meeting: rec.ID, Account: "initech", Where: where([]string{"US", "DE", "JP", "BR"}[w])})
				if err != nil {
					if code(err) != wire.CodeNoCapacity {
						t.Error(err)
					}
					continue
				}
				for _, d := range append(res.Placement.Primary, res.Placement.Secondary...) {
					if int(d) >= len(res.Model.DCs) {
						t.Errorf("placement names DC index %d outside its model", d)
					}
				}
			}
		})
	}
	for range 50 {
		for _, d := range c.Datacenters() {
			if d.Media != nil && (d.Media.Sessions < 0 || len(d.Media.Bridges) != 1) {
				t.Errorf("%s: media %+v", d.ID, d.Media)
			}
		}
		c.LiveState()
	}
	close(stop)
	wg.Wait()
}

func TestJoinChecksItsInput(t *testing.T) {
	ctx := context.Background()
	c, _ := newCore(t, loadModel(t, world(t)), nil)
	reportAll(t, c, 0, true)
	rec, err := c.CreateMeeting(ctx, directory.CreateMeeting{HostAccount: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		req  directory.JoinRequest
		want string
	}{
		{"garbage public key", directory.JoinRequest{Account: "acme", PublicKey: "garbage"}, wire.CodeBadRequest},
		{"bad participant id", directory.JoinRequest{Account: "acme", Participant: "a b"}, wire.CodeBadRequest},
		{"unknown account", directory.JoinRequest{Account: "nobody"}, wire.CodeUnknownAccount},
		{"ok", directory.JoinRequest{Account: "acme"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Meeting, tt.req.Where = rec.ID, where("US")
			_, err := c.Join(ctx, tt.req)
			if got := code(err); got != tt.want {
				t.Errorf("got %q (%v), want %q", got, err, tt.want)
			}
		})
	}
}

func TestSecondariesOnlyTicketHasArrays(t *testing.T) {
	ctx := context.Background()
	c, _ := newCore(t, loadModel(t, world(t)), nil)
	reportAll(t, c, 0, true)
	m := c.Model()
	// E2EE: no key server is needed, so downing the primaries (which also serve keys) leaves
	// a ticket of secondaries only.
	rec, err := c.CreateMeeting(ctx, directory.CreateMeeting{HostAccount: "initech", Mode: wire.ModeE2EE, Host: where("JP")})
	if err != nil {
		t.Fatal(err)
	}
	// Every primary of the meeting's region down: only secondaries are usable.
	r, _ := m.Region(rec.Region)
	for _, e := range m.Routes[r].Primary {
		if !slices.ContainsFunc(m.Routes[r].Secondary, func(s policy.Entry) bool { return s.DC == e.DC }) {
			c.ReportLoad(m.DCs[e.DC].ID, 0, false)
		}
	}
	res, err := c.Join(ctx, directory.JoinRequest{Meeting: rec.ID, Account: "initech", Where: where("JP")})
	if err != nil {
		t.Fatalf("join: %v", err)
	}
	if res.Claims.Primary == nil || len(res.Claims.Primary) != 0 || len(res.Claims.Secondary) == 0 {
		t.Fatalf("primary %#v secondary %v, want an empty array and secondaries", res.Claims.Primary, res.Claims.Secondary)
	}
}

// TestMeetingsGoToTheirRegionsStore: a meeting's record goes only to the store of its region
// (China's to the store in China), is found and ended there; a region whose store this
// directory lacks is refused, never written elsewhere; a store in a country the meeting's
// rules forbid is refused even when the config says so (served unverified).
func TestMeetingsGoToTheirRegionsStore(t *testing.T) {
	ctx := context.Background()
	global, china := directory.NewMemoryStore(), directory.NewMemoryStore()
	c, _ := newCore(t, loadModel(t, world(t)), func(cfg *directory.Config) {
		cfg.Store = global
		cfg.Stores = map[string]directory.Store{"global": global, "cn": china}
	})
	reportAll(t, c, 0, true)
	cn, err := c.CreateMeeting(ctx, directory.CreateMeeting{HostAccount: "tsinghua-media"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateMeeting(ctx, directory.CreateMeeting{HostAccount: "acme"}); err != nil {
		t.Fatal(err)
	}
	if cn.Store != "cn" || china.Len() != 1 || global.Len() != 1 {
		t.Fatalf("China's meeting in store %q; stores hold %d (cn) and %d (global), want 1 and 1", cn.Store, china.Len(), global.Len())
	}
	if _, err := global.Meeting(ctx, cn.ID); err == nil {
		t.Fatal("China's meeting is in the global store")
	}
	if _, err := c.Join(ctx, directory.JoinRequest{Meeting: cn.ID, Account: "tsinghua-media", Where: where("CN")}); err != nil {
		t.Fatalf("join China's meeting: %v", err)
	}
	if got, _ := china.Meeting(ctx, cn.ID); got.Home == "" {
		t.Error("the home of China's meeting was not recorded in China's store")
	}
	if err := c.EndMeeting(ctx, cn.ID); err != nil || china.Len() != 0 {
		t.Fatalf("end China's meeting: %v, %d left in its store", err, china.Len())
	}

	// A directory without China's store refuses China's meetings.
	noCN, _ := newCore(t, loadModel(t, world(t)), func(cfg *directory.Config) {
		cfg.Store = global
		cfg.Stores = map[string]directory.Store{"global": global}
	})
	if _, err := noCN.CreateMeeting(ctx, directory.CreateMeeting{HostAccount: "tsinghua-media"}); code(err) != wire.CodeStoreUnavailable {
		t.Fatalf("China's meeting without China's store: %v, want store_unavailable", err)
	}

	// A config (served unverified) that keeps China's meetings in the US is refused at run
	// time too.
	wrong := strings.Replace(world(t), "cn: {country: CN, regions: [cn]}", "cn: {country: US, regions: [cn]}", 1)
	us, _ := newCore(t, loadModel(t, wrong), func(cfg *directory.Config) {
		cfg.Store = global
		cfg.Stores = map[string]directory.Store{"global": global, "cn": china}
	})
	if _, err := us.CreateMeeting(ctx, directory.CreateMeeting{HostAccount: "tsinghua-media"}); code(err) != wire.CodeResidencyConflict {
		t.Fatalf("China's meeting in a US store: %v, want residency_conflict", err)
	}
	if china.Len() != 0 {
		t.Errorf("a refused meeting reached a store: %d", china.Len())
	}
}

// A caller may name its meetings; a bad or taken name is refused as a bad request, and
// JoinInto answers as Join does while reusing the result's storage.
func TestChosenMeetingIDsAndJoinInto(t *testing.T) {
	ctx := context.Background()
	c, _ := newCore(t, loadModel(t, world(t)), nil)
	reportAll(t, c, 0, true)
	rec, err := c.CreateMeeting(ctx, directory.CreateMeeting{ID: "m1-1", HostAccount: "acme"})
	if err != nil || rec.ID != "m1-1" {
		t.Fatalf("create m1-1 = %+v, %v", rec, err)
	}
	if _, err := c.CreateMeeting(ctx, directory.CreateMeeting{ID: "m1-1", HostAccount: "acme"}); code(err) != wire.CodeBadRequest {
		t.Errorf("second create of m1-1: %v, want %s", err, wire.CodeBadRequest)
	}
	if _, err := c.CreateMeeting(ctx, directory.CreateMeeting{ID: "no spaces", HostAccount: "acme"}); code(err) != wire.CodeBadRequest {
		t.Errorf("create with an invalid id: %v, want %s", err, wire.CodeBadRequest)
	}
	want, err := c.Join(ctx, directory.JoinRequest{Meeting: rec.ID, Account: "acme", Participant: "p1", Where: where("US")})
	if err != nil {
		t.Fatal(err)
	}
	var res directory.JoinResult
	for i := range 3 {
		if err := c.JoinInto(ctx, directory.JoinRequest{Meeting: rec.ID, Account: "acme", Participant: "p1", Where: where("US")}, &res); err != nil {
			t.Fatal(err)
		}
		res.Claims.Revision, want.Claims.Revision = 0, 0
		if !reflect.DeepEqual(res.Claims, want.Claims) || res.Placement.First != want.Placement.First {
			t.Fatalf("JoinInto #%d = %+v, want Join's %+v", i, res.Claims, want.Claims)
		}
	}
	if err := c.JoinInto(ctx, directory.JoinRequest{Meeting: "m9-9", Account: "acme", Where: where("US")}, &res); code(err) != wire.CodeUnknownMeeting {
		t.Errorf("JoinInto an unknown meeting: %v", err)
	}
}
