package configsync_test

import (
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geofence/geofence/directory/configsync"
	"github.com/geofence/geofence/directory/etcdstore"
	"github.com/geofence/geofence/internal/etcdtest"
	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/verify"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMain(m *testing.M) { etcdtest.Main(m) }

type target struct {
	mu     sync.Mutex
	models []*policy.Model
	swaps  chan struct{}
}

func (t *target) SetModel(m *policy.Model) {
	t.mu.Lock()
	t.models = append(t.models, m)
	t.mu.Unlock()
	t.swaps <- struct{}{}
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPushedConfigsAreVerifiedHere: a config pushed to etcd is swapped in only when it
// verifies in this process: the April 2020 world (Chinese DCs on North America's lists) is
// refused and the model in force stays; a clean one after it is applied.
func TestPushedConfigsAreVerifiedHere(t *testing.T) {
	cluster := etcdtest.Start(t, 1)
	store := etcdstore.New(cluster.Client(t), "")
	ctx := t.Context()
	world := read(t, "../../examples/world.yaml")
	rec, err := store.PushConfig(ctx, etcdstore.ConfigRecord{Name: "world.yaml", YAML: world}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.PushConfig(ctx, etcdstore.ConfigRecord{Name: "world.yaml", YAML: world}, 0); err == nil {
		t.Fatal("a push against a stale revision was stored")
	}
	tg := &target{swaps: make(chan struct{}, 8)}
	reg := prometheus.NewRegistry()
	s, err := configsync.New(store, tg, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		applied []string // digests told to OnApply (the evidence log's config changes)
	)
	s.OnApply = func(rec etcdstore.ConfigRecord, _ *policy.Model, rep *verify.Report) {
		mu.Lock()
		defer mu.Unlock()
		if !rep.OK {
			t.Errorf("OnApply told of a config that does not verify")
		}
		applied = append(applied, rec.Digest)
	}
	go s.Run(ctx)
	wait := func(what string) {
		t.Helper()
		select {
		case <-tg.swaps:
		case <-time.After(10 * time.Second):
			t.Fatalf("no model swapped in after %s", what)
		}
	}
	wait("start (the stored config)")

	// Pushed around `geofence config push`, which would have refused it: the process refuses
	// it again.
	april := read(t, "../../examples/april-2020.yaml")
	rec2, err := store.PushConfig(ctx, etcdstore.ConfigRecord{Name: "april-2020.yaml", YAML: april}, rec.Revision)
	if err != nil {
		t.Fatal(err)
	}
	// A clean config with one more DC on the list follows.
	edited := strings.Replace(string(world), "datacenters:\n", "datacenters:\n  fr-par:\n    country: FR\n    location: [48.85, 2.35]\n    capacity: 1000\n    services: [media]\n", 1)
	edited = strings.Replace(edited, "eu:\n      primary: [", "eu:\n      primary: [fr-par, ", 1)
	if _, err := store.PushConfig(ctx, etcdstore.ConfigRecord{Name: "world-paris.yaml", YAML: []byte(edited)}, rec2.Revision); err != nil {
		t.Fatal(err)
	}
	wait("the clean push")
	tg.mu.Lock()
	n, last := len(tg.models), tg.models[len(tg.models)-1]
	tg.mu.Unlock()
	if n != 2 {
		t.Fatalf("%d models swapped in, want 2 (the April world refused)", n)
	}
	if _, ok := last.DC("fr-par"); !ok {
		t.Error("the model in force lacks the pushed DC")
	}
	// OnApply runs just after the swap the target reported.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := len(applied)
		mu.Unlock()
		if n == 2 {
			break
		}
		if n > 2 || time.Now().After(deadline) {
			t.Fatalf("OnApply told of %d configs, want 2 (the April world refused)", n)
		}
	}
	if got := testutil.ToFloat64(s.Metrics().WithLabelValues("rejected")); got != 1 {
		t.Errorf("rejected pushes %v, want 1", got)
	}
}
