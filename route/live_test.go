package route_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/geofence/geofence/config"
	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/route"
)

func liveModel(t *testing.T, src string) *policy.Model {
	t.Helper()
	c, errs := config.Parse("live.yaml", []byte(src))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	m, err := policy.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

const liveWorld = `version: 1
default_region: na
regions:
  na: {countries: [US, CA]}
plans:
  basic: {}
datacenters:
  a: {country: US, location: [40, -100], capacity: 10, services: [media, kms]}
  b: {country: US, location: [41, -100], capacity: 10, services: [media, kms]}
  c: {country: CA, location: [45, -75], capacity: 10, services: [media, kms]}
routing:
  regions:
    na: {primary: [a, b], secondary: [c], kms: [a, b]}
residency: {}
`

// TestLiveScenario is a time-stepped scenario of section 4's live state and home rule:
// staleness, health, placements counted between reports, re-homing when the home is down,
// and a config change that keeps state by DC id.
func TestLiveScenario(t *testing.T) {
	m := liveModel(t, liveWorld)
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	l := route.NewLive(m, 10*time.Second)
	id := func(name string) policy.DCID { d, _ := m.DC(name); return d }
	na, _ := m.Region("na")
	basic, _ := m.Plan("basic")
	p := route.Participant{Region: na, Plan: basic}
	mt := route.Meeting{Region: na, HostPlan: basic, Home: policy.None}
	var pl route.Placement

	type step struct {
		name      string
		at        time.Duration
		do        func()
		wantHome  string
		wantFirst string
		rehomed   bool
		wantErr   bool
	}
	report := func(name string, n int64, healthy bool, at time.Duration) func() {
		return func() { l.Report(id(name), n, healthy, t0.Add(at)) }
	}
	steps := []step{
		{name: "nothing reported: every DC down", at: 0, wantErr: true},
		{name: "a, b, c report: a is nearest (list order on a tie)", at: time.Second, do: func() {
			report("a", 0, true, time.Second)()
			report("b", 0, true, time.Second)()
			report("c", 0, true, time.Second)()
		}, wantHome: "a", wantFirst: "a"},
		{name: "eight placements push a to the watermark: as the home it stays first", at: 2 * time.Second, do: func() {
			for range 8 {
				l.Place(id("a"))
			}
		}, wantHome: "a", wantFirst: "a"},
		{name: "a reports unhealthy: re-homed to b", at: 3 * time.Second, do: report("a", 0, false, 3*time.Second), wantHome: "b", wantFirst: "b", rehomed: true},
		{name: "a is back: b stays home", at: 4 * time.Second, do: report("a", 0, true, 4*time.Second), wantHome: "b", wantFirst: "b"},
		{name: "b goes stale (no report for 10 s) while a reports: re-homed to a", at: 15 * time.Second, do: func() {
			report("a", 0, true, 15*time.Second)()
			report("c", 0, true, 15*time.Second)()
		}, wantHome: "a", wantFirst: "a", rehomed: true},
		{name: "a and b full: only the secondary c", at: 16 * time.Second, do: func() {
			report("a", 10, true, 16*time.Second)()
			report("b", 10, true, 16*time.Second)()
			report("c", 0, true, 16*time.Second)()
		}, wantHome: "a", wantFirst: "c", wantErr: true}, // key servers a and b are full too: no_capacity
	}
	for _, s := range steps {
		if s.do != nil {
			s.do()
		}
		st := l.State(t0.Add(s.at))
		err := route.Join(m, p, mt, st, &pl)
		if (err != nil) != s.wantErr {
			t.Fatalf("%s: err %v, want error %v", s.name, err, s.wantErr)
		}
		if err != nil {
			continue
		}
		if got := m.DCs[pl.Home].ID; got != s.wantHome {
			t.Errorf("%s: home %s, want %s", s.name, got, s.wantHome)
		}
		if got := m.DCs[pl.First].ID; got != s.wantFirst {
			t.Errorf("%s: first %s, want %s", s.name, got, s.wantFirst)
		}
		if pl.Rehomed != s.rehomed {
			t.Errorf("%s: rehomed %v, want %v", s.name, pl.Rehomed, s.rehomed)
		}
		mt.Home = pl.Home
	}
	if got := l.DC(id("a")); got.Reported != 10 || got.Placed != 0 {
		t.Errorf("a after its last report: %+v, want 10 reported, placements reset", got)
	}

	// A config change that adds a DC before the others keeps each DC's state by id.
	m2 := liveModel(t, "version: 1\ndefault_region: na\nregions:\n  na: {countries: [US, CA]}\nplans:\n  basic: {}\ndatacenters:\n  z: {country: US, location: [30, -90], capacity: 5, services: [media]}\n"+liveWorld[len("version: 1\ndefault_region: na\nregions:\n  na: {countries: [US, CA]}\nplans:\n  basic: {}\ndatacenters:\n"):])
	l.Rebase(m2)
	a2, _ := m2.DC("a")
	z, _ := m2.DC("z")
	if got := l.DC(a2); got.Reported != 10 || !got.Healthy {
		t.Errorf("a after the config change: %+v, want its report kept", got)
	}
	if got := l.DC(z); !got.LastReport.IsZero() {
		t.Errorf("new DC z: %+v, want never reported", got)
	}
	if l.Model() != m2 {
		t.Error("live state not indexed by the new model")
	}
}

// The live state's view is kept up to date by reports and placements, and staleness is
// checked only when a deadline passes: after any sequence of reports, placements, time
// passing and rebases, State must equal the view computed from scratch (DESIGN.md section 4).
func TestLiveViewMatchesFromScratch(t *testing.T) {
	m := liveModel(t, liveWorld)
	const stale = 30 * time.Second
	r := rand.New(rand.NewPCG(7, 11))
	for run := range 200 {
		l := route.NewLive(m, stale)
		now := time.Date(2020, 4, 1, 0, 0, 0, 0, time.UTC)
		for step := range 200 {
			d := policy.DCID(r.IntN(len(m.DCs)))
			switch k := r.IntN(10); {
			case k < 3:
				l.Report(d, r.Int64N(12), r.IntN(5) > 0, now)
			case k < 7:
				l.Place(d)
			case k < 9:
				now = now.Add(time.Duration(r.Int64N(int64(2 * stale))))
			default:
				l.Rebase(m)
			}
			st := l.State(now)
			for i := range m.DCs {
				dc := l.DC(policy.DCID(i))
				down := dc.LastReport.IsZero() || !dc.Healthy || now.Sub(dc.LastReport) > stale
				util := float64(dc.Reported+dc.Placed) / float64(m.DCs[i].Capacity)
				if st.Down[i] != down || st.Utilization[i] != util {
					t.Fatalf("run %d step %d, DC %s: down %v util %v, from scratch down %v util %v",
						run, step, m.DCs[i].ID, st.Down[i], st.Utilization[i], down, util)
				}
			}
		}
	}
}
