package explain_test

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"slices"
	"testing"

	"github.com/geofence/geofence/config"
	"github.com/geofence/geofence/explain"
	"github.com/geofence/geofence/geo"
	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/route"
)

func world(t *testing.T) *policy.Model {
	t.Helper()
	c, err := config.Load("../examples/world.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m, err := policy.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func ids(dcs []explain.DC) []string {
	out := []string{}
	for _, d := range dcs {
		out = append(out, d.ID)
	}
	return out
}

func TestRunDefaults(t *testing.T) {
	m := world(t)
	from := geo.LatLon{Lat: 52.5, Lon: 13.4}
	tests := []struct {
		name                              string
		q                                 explain.Query
		wantRegion, wantPlan, wantMeeting string
		wantHostPlan                      string
		wantPrimary                       []string
		wantLocation                      [2]float64
		wantRefusal                       string
	}{
		{name: "participant's own region, basic, centroid", q: explain.Query{Country: "us"},
			wantRegion: "na", wantPlan: "basic", wantMeeting: "na", wantHostPlan: "basic",
			wantPrimary: []string{"us-den", "ca-yyz", "us-iad"}, wantLocation: [2]float64{38, -97}},
		{name: "account: its plan, home region and narrowing", q: explain.Query{Country: "DE", Account: "acme"},
			wantRegion: "eu", wantPlan: "enterprise", wantMeeting: "na", wantHostPlan: "enterprise",
			wantPrimary: []string{"us-nyc", "ca-yyz", "us-iad"}, wantLocation: [2]float64{51, 9}},
		{name: "--from and --meeting-region", q: explain.Query{Country: "DE", From: &from, MeetingRegion: "eu", Plan: "pro"},
			wantRegion: "eu", wantPlan: "pro", wantMeeting: "eu", wantHostPlan: "pro",
			wantPrimary: []string{"eu-fra", "eu-ams"}, wantLocation: [2]float64{52.5, 13.4}},
		{name: "down and load overlay", q: explain.Query{Country: "DE", Down: []string{"eu-fra"}, Load: map[string]float64{"eu-ams": 1}},
			wantRegion: "eu", wantPlan: "basic", wantMeeting: "eu", wantHostPlan: "basic",
			wantPrimary: []string{}, wantLocation: [2]float64{51, 9}, wantRefusal: route.CodeNoCapacity},
		{name: "host plan clash", q: explain.Query{Country: "US", Plan: "government", HostPlan: "basic"},
			wantRegion: "na", wantPlan: "government", wantMeeting: "na", wantHostPlan: "basic",
			wantPrimary: []string{}, wantLocation: [2]float64{38, -97}, wantRefusal: route.CodePlanConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := explain.Run(m, tt.q, route.State{})
			if err != nil {
				t.Fatal(err)
			}
			if a.Region != tt.wantRegion || a.Plan != tt.wantPlan || a.MeetingRegion != tt.wantMeeting || a.HostPlan != tt.wantHostPlan {
				t.Errorf("got region %s plan %s meeting %s host plan %s, want %s %s %s %s", a.Region, a.Plan, a.MeetingRegion, a.HostPlan,
					tt.wantRegion, tt.wantPlan, tt.wantMeeting, tt.wantHostPlan)
			}
			if got := ids(a.Primary); !slices.Equal(got, tt.wantPrimary) {
				t.Errorf("primary = %v, want %v", got, tt.wantPrimary)
			}
			if a.Location != tt.wantLocation {
				t.Errorf("location = %v, want %v", a.Location, tt.wantLocation)
			}
			if got := ""; a.Refusal != nil {
				got = a.Refusal.Error
				if got != tt.wantRefusal {
					t.Errorf("refusal %q, want %q", got, tt.wantRefusal)
				}
			} else if tt.wantRefusal != "" {
				t.Errorf("no refusal, want %q", tt.wantRefusal)
			}
		})
	}
}

// TestRunAccountWithoutHomeRegion: an account without home_region has its meetings in its
// host's country's region; explain, which has no host country, uses the participant's.
func TestRunAccountWithoutHomeRegion(t *testing.T) {
	data, err := os.ReadFile("../examples/world.yaml")
	if err != nil {
		t.Fatal(err)
	}
	data = append(data, "  nomad:\n    plan: pro\n"...)
	c, errs := config.Parse("world.yaml", data)
	if len(errs) > 0 {
		t.Fatalf("config: %v", errs)
	}
	m, err := policy.New(c)
	if err != nil {
		t.Fatal(err)
	}
	if a := m.Accounts["nomad"]; a == nil || a.HomeRegion != policy.None {
		t.Fatalf("got account %+v, want nomad without a home region", a)
	}
	tests := []struct {
		name        string
		q           explain.Query
		wantMeeting string
		wantPrimary []string
	}{
		{"participant in eu", explain.Query{Country: "DE", Account: "nomad"}, "eu", []string{"eu-fra", "eu-ams"}},
		{"participant in na", explain.Query{Country: "US", Account: "nomad"}, "na", []string{"us-den", "ca-yyz", "us-iad"}},
		{"meeting region given", explain.Query{Country: "DE", Account: "nomad", MeetingRegion: "na"}, "na", []string{"us-nyc", "ca-yyz", "us-iad"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := explain.Run(m, tt.q, route.State{})
			if err != nil {
				t.Fatal(err)
			}
			if a.MeetingRegion != tt.wantMeeting || a.HostPlan != "pro" || a.Plan != "pro" {
				t.Errorf("got meeting region %s, host plan %s, plan %s; want %s, pro, pro", a.MeetingRegion, a.HostPlan, a.Plan, tt.wantMeeting)
			}
			if got := ids(a.Primary); !slices.Equal(got, tt.wantPrimary) {
				t.Errorf("got primary %v, want %v", got, tt.wantPrimary)
			}
		})
	}
}

func TestRunErrors(t *testing.T) {
	m := world(t)
	for _, q := range []explain.Query{
		{Country: "XK"}, {Country: "US", Plan: "platinum"}, {Country: "US", Account: "nobody"},
		{Country: "US", MeetingRegion: "mars"}, {Country: "US", HostPlan: "x"}, {Country: "US", Down: []string{"nope"}},
		{Country: "US", Load: map[string]float64{"us-sjc": -1}}, {Country: "US", From: &geo.LatLon{Lat: 91}},
	} {
		_, err := explain.Run(m, q, route.State{})
		var qe *explain.QueryError
		if !errors.As(err, &qe) {
			t.Errorf("query %+v: got %v, want a QueryError", q, err)
		}
	}
}

// TestAnswerJSON pins the field names of DESIGN.md section 6.
func TestAnswerJSON(t *testing.T) {
	a, err := explain.Run(world(t), explain.Query{Country: "US"}, route.State{})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(a)
	var got map[string]any
	json.Unmarshal(data, &got)
	for _, k := range []string{"country", "region", "plan", "meeting_region", "primary", "secondary", "kms", "excluded"} {
		if _, ok := got[k]; !ok {
			t.Errorf("answer lacks %q: %s", k, data)
		}
	}
	p := got["primary"].([]any)[0].(map[string]any)
	for _, k := range []string{"id", "country", "distance_km", "utilization"} {
		if _, ok := p[k]; !ok {
			t.Errorf("primary entry lacks %q", k)
		}
	}
	x := got["excluded"].([]any)[0].(map[string]any)
	for _, k := range []string{"id", "list", "reason", "rule"} {
		if _, ok := x[k]; !ok {
			t.Errorf("excluded entry lacks %q", k)
		}
	}
}

func TestParsers(t *testing.T) {
	if l, err := explain.ParseLoad("us-sjc=0.9, us-den=1"); err != nil || l["us-sjc"] != 0.9 || l["us-den"] != 1 {
		t.Errorf("ParseLoad = %v, %v", l, err)
	}
	for _, bad := range []string{"us-sjc", "us-sjc=x"} {
		if _, err := explain.ParseLoad(bad); err == nil {
			t.Errorf("ParseLoad(%q) accepted", bad)
		}
	}
	if p, err := explain.ParseLatLon("37.3,-121.9"); err != nil || p.Lat != 37.3 || p.Lon != -121.9 {
		t.Errorf("ParseLatLon = %v, %v", p, err)
	}
	for _, bad := range []string{"37.3", "a,b", "91,0", "0,181"} {
		if _, err := explain.ParseLatLon(bad); err == nil {
			t.Errorf("ParseLatLon(%q) accepted", bad)
		}
	}
}

// TestKMSDistances: key servers are ranked by distance from the first primary (DESIGN.md
// section 4), and explain reports that distance, so the kms list reads in increasing order.
func TestKMSDistances(t *testing.T) {
	m := world(t)
	a, err := explain.Run(m, explain.Query{Country: "DE", Plan: "pro"}, route.State{})
	if err != nil {
		t.Fatal(err)
	}
	fra, ams := m.DCs[dcID(t, m, "eu-fra")].Location, m.DCs[dcID(t, m, "eu-ams")].Location
	wantAms := math.Round(geo.DistanceKm(fra, ams)*10) / 10
	if a.KMSFrom != "eu-fra" || len(a.KMS) != 2 || a.KMS[0].ID != "eu-fra" || a.KMS[0].DistanceKm != 0 || a.KMS[1].ID != "eu-ams" || a.KMS[1].DistanceKm != wantAms {
		t.Errorf("got kms from %q: %+v; want from eu-fra: eu-fra at 0 km, eu-ams at %g km", a.KMSFrom, a.KMS, wantAms)
	}
	// Primaries and secondaries are still measured from the participant.
	if want := math.Round(geo.DistanceKm(geo.LatLon{Lat: 51, Lon: 9}, fra)*10) / 10; a.Primary[0].DistanceKm != want {
		t.Errorf("got primary eu-fra at %g km, want %g km from the participant", a.Primary[0].DistanceKm, want)
	}

	// Over every country and plan of the world, the reported distances are the ranking.
	checked := 0
	for c := geo.Country(0); int(c) < geo.NumCountries; c++ {
		for _, plan := range m.Plans {
			a, err := explain.Run(m, explain.Query{Country: c.Code(), Plan: plan.ID}, route.State{})
			if err != nil || a.Refusal != nil {
				continue
			}
			checked++
			for i := 1; i < len(a.KMS); i++ {
				if a.KMS[i].DistanceKm < a.KMS[i-1].DistanceKm {
					t.Errorf("%s/%s: got kms %+v from %q, want distances in the order they are ranked", c.Code(), plan.ID, a.KMS, a.KMSFrom)
				}
			}
		}
	}
	if checked < 100 {
		t.Fatalf("checked %d answers; the loop is broken", checked)
	}
}

// TestKMSDistancesWithoutPrimary: with no primary, key servers are ranked, and measured, from
// the participant.
func TestKMSDistancesWithoutPrimary(t *testing.T) {
	c, errs := config.Parse("t.yaml", []byte(`version: 1
default_region: row
regions:
  row: {countries: []}
plans:
  basic: {}
datacenters:
  de-a: {country: DE, location: [50.1, 8.7], capacity: 100, services: [media]}
  fr-a: {country: FR, location: [48.9, 2.4], capacity: 100, services: [media]}
  de-k: {country: DE, location: [52.5, 13.4], capacity: 100, services: [kms]}
routing:
  regions:
    row: {primary: [de-a], secondary: [fr-a], kms: [de-k]}
`))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	m, err := policy.New(c)
	if err != nil {
		t.Fatal(err)
	}
	from := geo.LatLon{Lat: 40, Lon: -3}
	a, err := explain.Run(m, explain.Query{Country: "ES", From: &from, Down: []string{"de-a"}}, route.State{})
	if err != nil {
		t.Fatal(err)
	}
	want := math.Round(geo.DistanceKm(from, geo.LatLon{Lat: 52.5, Lon: 13.4})*10) / 10
	if len(a.Primary) != 0 || a.KMSFrom != "" || len(a.KMS) != 1 || a.KMS[0].DistanceKm != want {
		t.Errorf("got primary %v, kms from %q: %+v; want no primary and de-k at %g km from the participant", a.Primary, a.KMSFrom, a.KMS, want)
	}
}

func dcID(t *testing.T, m *policy.Model, id string) policy.DCID {
	t.Helper()
	d, ok := m.DC(id)
	if !ok {
		t.Fatalf("no datacenter %s", id)
	}
	return d
}
