package route_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/geofence/geofence/config"
	"github.com/geofence/geofence/geo"
	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/route"
)

func loadWorld(t testing.TB, path string) *policy.Model {
	t.Helper()
	c, err := config.Load(path)
	if c == nil {
		t.Fatal(err)
	}
	m, err := policy.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

type fixture struct {
	t testing.TB
	m *policy.Model
}

func (f fixture) region(id string) policy.RegionID {
	r, ok := f.m.Region(id)
	if !ok {
		f.t.Fatalf("no region %s", id)
	}
	return r
}

func (f fixture) plan(id string) policy.PlanID {
	p, ok := f.m.Plan(id)
	if !ok {
		f.t.Fatalf("no plan %s", id)
	}
	return p
}

func (f fixture) dc(id string) policy.DCID {
	d, ok := f.m.DC(id)
	if !ok {
		f.t.Fatalf("no dc %s", id)
	}
	return d
}

func (f fixture) ids(ds []policy.DCID) []string {
	out := []string{}
	for _, d := range ds {
		out = append(out, f.m.DCs[d].ID)
	}
	return out
}

// participant from a country's centroid (or at loc when given).
func (f fixture) participant(cc, plan string, loc *geo.LatLon) route.Participant {
	c, ok := geo.LookupCountry(cc)
	if !ok {
		f.t.Fatalf("no country %s", cc)
	}
	p := route.Participant{Region: f.m.RegionOf(c), Plan: f.plan(plan), Location: c.Centroid(), Located: true}
	if loc != nil {
		p.Location = *loc
	}
	return p
}

func (f fixture) state(down []string, load map[string]float64) route.State {
	st := route.State{Down: make([]bool, len(f.m.DCs)), Utilization: make([]float64, len(f.m.DCs))}
	for _, d := range down {
		st.Down[f.dc(d)] = true
	}
	for d, u := range load {
		st.Utilization[f.dc(d)] = u
	}
	return st
}

// TestSelectWorld pins section 4's order on examples/world.yaml: nearest first under the
// watermark, then most free capacity; the home DC first while usable; secondaries not already
// primaries; key servers nearest the first primary; and the three refusals.
func TestSelectWorld(t *testing.T) {
	f := fixture{t, loadWorld(t, "../examples/world.yaml")}
	sanJose := geo.LatLon{Lat: 37.33, Lon: -121.89}
	nyc := geo.LatLon{Lat: 40.7, Lon: -74.0}
	tests := []struct {
		name          string
		country, plan string
		from          *geo.LatLon
		meetingRegion string
		hostPlan      string
		home          string
		narrow        []string
		down          []string
		load          map[string]float64
		wantPrimary   []string
		wantSecondary []string
		wantKMS       []string
		wantErr       error
	}{
		{
			name: "US participant at the centroid", country: "US", plan: "basic",
			wantPrimary: []string{"us-den", "ca-yyz", "us-iad"}, wantSecondary: []string{"eu-ams", "eu-fra"},
			wantKMS: []string{"us-sjc", "ca-yyz"},
		},
		{
			name: "San Jose participant", country: "US", plan: "basic", from: &sanJose,
			wantPrimary: []string{"us-sjc", "ca-yvr", "us-den"}, wantSecondary: []string{"eu-ams", "eu-fra"},
			wantKMS: []string{"us-sjc", "ca-yyz"},
		},
		{
			name: "nearest over the watermark goes after the ones under it", country: "US", plan: "basic", from: &sanJose,
			load:        map[string]float64{"us-sjc": 0.85},
			wantPrimary: []string{"ca-yvr", "us-den", "ca-yyz"}, wantSecondary: []string{"eu-ams", "eu-fra"},
			wantKMS: []string{"us-sjc", "ca-yyz"},
		},
		{
			name: "all over the watermark: most free capacity first", country: "US", plan: "basic", from: &sanJose,
			load: map[string]float64{"us-sjc": 0.9, "us-den": 0.9, "us-nyc": 0.85, "us-iad": 0.95, "ca-yyz": 0.8, "ca-yvr": 0.99},
			// free: sjc 120k, den 80k, nyc 150k, iad 60k, yyz 100k, yvr 3k
			wantPrimary: []string{"us-nyc", "us-sjc", "ca-yyz"}, wantSecondary: []string{"eu-ams", "eu-fra"},
			wantKMS: []string{"us-nyc", "us-iad"},
		},
		{
			name: "full and down DCs are skipped", country: "US", plan: "basic", from: &nyc,
			down: []string{"us-nyc"}, load: map[string]float64{"us-iad": 1},
			wantPrimary: []string{"ca-yyz", "us-den", "ca-yvr"}, wantSecondary: []string{"eu-ams", "eu-fra"},
			wantKMS: []string{"ca-yyz", "us-sjc"},
		},
		{
			name: "home DC first while usable", country: "US", plan: "basic", from: &nyc, home: "us-sjc",
			wantPrimary: []string{"us-sjc", "us-nyc", "us-iad"}, wantSecondary: []string{"eu-ams", "eu-fra"},
			wantKMS: []string{"us-sjc", "ca-yyz"}, // nearest the first primary, not the participant
		},
		{
			name: "full home DC: others bridge to it", country: "US", plan: "basic", from: &nyc, home: "us-sjc",
			load:        map[string]float64{"us-sjc": 1},
			wantPrimary: []string{"us-nyc", "us-iad", "ca-yyz"}, wantSecondary: []string{"eu-ams", "eu-fra"},
			wantKMS: []string{"us-nyc", "us-iad"},
		},
		{
			name: "every primary down: secondaries and far key servers", country: "US", plan: "basic", from: &nyc,
			down:        []string{"us-sjc", "us-den", "us-nyc", "us-iad", "ca-yyz", "ca-yvr"},
			wantPrimary: []string{}, wantSecondary: []string{"br-gru", "eu-ams"}, wantErr: route.ErrNoCapacity,
		},
		{
			name: "government participant uses only government DCs", country: "US", plan: "government", from: &nyc,
			wantPrimary: []string{"us-gov-east", "us-gov-west"}, wantSecondary: []string{},
			wantKMS: []string{"us-gov-east", "us-gov-west"},
		},
		{
			name: "government participant cannot join a basic meeting", country: "US", plan: "government", hostPlan: "basic",
			wantErr: route.ErrPlanConflict,
		},
		{
			name: "Chinese participant in a North American meeting", country: "CN", plan: "basic", meetingRegion: "na",
			wantErr: route.ErrResidencyConflict,
		},
		{
			name: "Chinese participant in a Chinese meeting", country: "CN", plan: "basic",
			wantPrimary: []string{"cn-pek", "cn-sha"}, wantSecondary: []string{}, wantKMS: []string{"cn-pek", "cn-sha"},
		},
		{
			name: "both Chinese DCs down: no capacity, never a foreign DC", country: "CN", plan: "basic",
			down: []string{"cn-pek", "cn-sha"}, wantErr: route.ErrNoCapacity,
		},
		{
			name: "narrowed to na: no European secondaries", country: "US", plan: "enterprise", narrow: []string{"na"},
			wantPrimary: []string{"us-den", "ca-yyz", "us-iad"}, wantSecondary: []string{},
			wantKMS: []string{"us-sjc", "ca-yyz"},
		},
		{
			name: "home DC the participant may not use", country: "US", plan: "basic", meetingRegion: "eu", home: "eu-ams",
			narrow: []string{"na"}, wantErr: route.ErrResidencyConflict,
		},
		{
			name: "German participant in an EU meeting", country: "DE", plan: "pro",
			wantPrimary: []string{"eu-fra", "eu-ams"}, wantSecondary: []string{"us-nyc", "us-iad"},
			wantKMS: []string{"eu-fra", "eu-ams"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.t = t
			p := f.participant(tt.country, tt.plan, tt.from)
			hp := p.Plan
			if tt.hostPlan != "" {
				hp = f.plan(tt.hostPlan)
			}
			mt := route.Meeting{Region: p.Region, HostPlan: hp, Home: policy.None}
			if tt.meetingRegion != "" {
				mt.Region = f.region(tt.meetingRegion)
			}
			if tt.home != "" {
				mt.Home = f.dc(tt.home)
			}
			if tt.narrow != nil {
				var regs []policy.RegionID
				for _, r := range tt.narrow {
					regs = append(regs, f.region(r))
				}
				mt.Narrow = f.m.NewAccount("a", hp, mt.Region, regs).Narrowing()
			}
			var out route.Selection
			err := route.Select(f.m, p, mt, f.state(tt.down, tt.load), &out)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Select error = %v, want %v", err, tt.wantErr)
				}
				if len(out.Primary)+len(out.Secondary)+len(out.KMS) != 0 {
					t.Fatalf("refusal with a selection: %v", out)
				}
				return
			}
			if err != nil {
				t.Fatalf("Select: %v", err)
			}
			if got := f.ids(out.Primary); !slices.Equal(got, tt.wantPrimary) {
				t.Errorf("primary = %v, want %v", got, tt.wantPrimary)
			}
			if got := f.ids(out.Secondary); !slices.Equal(got, tt.wantSecondary) {
				t.Errorf("secondary = %v, want %v", got, tt.wantSecondary)
			}
			if got := f.ids(out.KMS); !slices.Equal(got, tt.wantKMS) {
				t.Errorf("kms = %v, want %v", got, tt.wantKMS)
			}
		})
	}
}

// TestUnlocatedKeepsListOrder: a participant with no location is equally far from every DC.
func TestUnlocatedKeepsListOrder(t *testing.T) {
	f := fixture{t, loadWorld(t, "../examples/world.yaml")}
	p := f.participant("US", "basic", nil)
	p.Located = false
	var out route.Selection
	if err := route.Select(f.m, p, route.Meeting{Region: p.Region, HostPlan: p.Plan, Home: policy.None}, route.State{}, &out); err != nil {
		t.Fatal(err)
	}
	if got, want := f.ids(out.Primary), []string{"us-sjc", "us-den", "us-nyc"}; !slices.Equal(got, want) {
		t.Errorf("primary = %v, want %v", got, want)
	}
}

// TestExplainReasons checks every exclusion reason Explain gives.
func TestExplainReasons(t *testing.T) {
	f := fixture{t, loadWorld(t, "../examples/april-2020.yaml")}
	p := f.participant("US", "basic", nil)
	mt := route.Meeting{Region: p.Region, HostPlan: p.Plan, Home: policy.None,
		Narrow: f.m.NewAccount("a", p.Plan, p.Region, []policy.RegionID{f.region("na"), f.region("latam")}).Narrowing()}
	st := f.state([]string{"us-den"}, map[string]float64{"us-nyc": 1})
	e := route.Explain(f.m, p, mt, st)
	if e.Refusal != nil {
		t.Fatalf("refused: %v", e.Refusal)
	}
	want := map[string]string{
		"primary/us-den":      "down",
		"primary/us-nyc":      "full",
		"primary/us-gov-east": "dedicated",
		"primary/ca-yvr":      "count",
		"secondary/eu-ams":    "account",
		"secondary/cn-pek":    "rule nothing-else-enters-china",
		"kms/cn-pek":          "rule nothing-else-enters-china",
	}
	got := map[string]string{}
	for _, x := range e.Excluded {
		why := string(x.Reason)
		if x.Rule != "" {
			why += " " + x.Rule
		}
		got[string(x.List)+"/"+f.m.DCs[x.DC].ID] = why
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s excluded for %q, want %q", k, got[k], w)
		}
	}
	// What Explain selects is what Select selects.
	var out route.Selection
	if err := route.Select(f.m, p, mt, st, &out); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(out.Primary, e.Primary) || !slices.Equal(out.Secondary, e.Secondary) || !slices.Equal(out.KMS, e.KMS) {
		t.Errorf("Select %v differs from Explain %v", out, e.Selection)
	}
}

// TestSelectAllocs: in steady state a selection does not allocate.
func TestSelectAllocs(t *testing.T) {
	f := fixture{t, loadWorld(t, "../examples/world.yaml")}
	p := f.participant("US", "basic", nil)
	mt := route.Meeting{Region: p.Region, HostPlan: p.Plan, Home: f.dc("us-sjc")}
	st := f.state([]string{"us-den"}, map[string]float64{"us-iad": 0.85})
	var out route.Selection
	allocs := testing.AllocsPerRun(1000, func() {
		if err := route.Select(f.m, p, mt, st, &out); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 0 {
		t.Errorf("Select allocates %.1f times per call, want 0", allocs)
	}
}

func BenchmarkSelect(b *testing.B) {
	f := fixture{b, loadWorld(b, "../examples/world.yaml")}
	p := f.participant("US", "basic", &geo.LatLon{Lat: 40.7, Lon: -74})
	mt := route.Meeting{Region: p.Region, HostPlan: p.Plan, Home: f.dc("us-sjc")}
	st := f.state([]string{"us-den"}, map[string]float64{"us-iad": 0.85, "us-nyc": 0.5})
	var out route.Selection
	b.ReportAllocs()
	for b.Loop() {
		if err := route.Select(f.m, p, mt, st, &out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSelectFresh is one selection into a new Selection, as a caller that keeps none does.
func BenchmarkSelectFresh(b *testing.B) {
	f := fixture{b, loadWorld(b, "../examples/world.yaml")}
	p := f.participant("US", "basic", &geo.LatLon{Lat: 40.7, Lon: -74})
	mt := route.Meeting{Region: p.Region, HostPlan: p.Plan, Home: policy.None}
	st := f.state(nil, nil)
	b.ReportAllocs()
	for b.Loop() {
		var out route.Selection
		if err := route.Select(f.m, p, mt, st, &out); err != nil {
			b.Fatal(err)
		}
	}
}

// TestE2EEMeetingsNeedNoKeyServer: an E2EE meeting's keys come from the leader's client, so no
// key server is selected, and key servers being down does not refuse the join.
func TestE2EEMeetingsNeedNoKeyServer(t *testing.T) {
	f := fixture{t, loadWorld(t, "../examples/world.yaml")}
	p := f.participant("DE", "pro", nil)
	st := f.state([]string{"eu-ams"}, map[string]float64{"eu-fra": 1}) // every eu key server unusable
	var out route.Selection
	mt := route.Meeting{Region: p.Region, HostPlan: p.Plan, Home: policy.None}
	if err := route.Select(f.m, p, mt, st, &out); !errors.Is(err, route.ErrNoCapacity) {
		t.Fatalf("managed meeting: %v, want no_capacity", err)
	}
	mt.E2EE = true
	if err := route.Select(f.m, p, mt, st, &out); err != nil {
		t.Fatalf("e2ee meeting: %v", err)
	}
	if len(out.KMS) != 0 || len(out.Secondary) == 0 {
		t.Errorf("e2ee selection %v: want secondaries and no key server", out)
	}
}
