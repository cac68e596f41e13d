package policy_test

import (
	"testing"

	"github.com/geofence/geofence/config"
	"github.com/geofence/geofence/policy"
)

// accountsWorld is a small world whose accounts show every optional part of an account.
const accountsWorld = `version: 1
default_region: row
regions:
  na: {countries: [US, CA]}
  eu: {countries: [DE]}
  row: {countries: []}
plans:
  basic: {}
datacenters:
  us-a: {country: US, location: [37.3, -121.9], capacity: 100, services: [media, kms]}
  de-a: {country: DE, location: [50.1, 8.7], capacity: 100, services: [media, kms]}
routing:
  regions:
    na: {primary: [us-a], kms: [us-a]}
    eu: {primary: [de-a], kms: [de-a]}
    row: {primary: [de-a], kms: [de-a]}
accounts:
  homed: {plan: basic, home_region: eu}
  nomad: {plan: basic}
  narrowed: {plan: basic, data_regions: [na]}
  nowhere: {plan: basic, home_region: na, data_regions: []}
`

func accountsModel(t *testing.T, src string) *policy.Model {
	t.Helper()
	c, errs := config.Parse("accounts.yaml", []byte(src))
	if len(errs) > 0 {
		t.Fatalf("config: %v", errs)
	}
	m, err := policy.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestNewAccounts(t *testing.T) {
	m := accountsModel(t, accountsWorld)
	region := func(id string) policy.RegionID {
		r, ok := m.Region(id)
		if !ok {
			t.Fatalf("no region %s", id)
		}
		return r
	}
	usA, _ := m.DC("us-a")
	deA, _ := m.DC("de-a")
	tests := []struct {
		id         string
		wantHome   policy.RegionID
		wantNarrow bool // Narrowing is non-nil
		wantDCs    []policy.DCID
	}{
		{"homed", region("eu"), false, nil},
		// Without home_region the account is still built, with no home region.
		{"nomad", policy.None, false, nil},
		{"narrowed", policy.None, true, []policy.DCID{usA}},
		// data_regions: [] reaches the model as an empty, non-nil narrowing: no DC at all.
		{"nowhere", region("na"), true, []policy.DCID{}},
	}
	if len(m.Accounts) != len(tests) {
		t.Errorf("got %d accounts, want %d", len(m.Accounts), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			a := m.Accounts[tt.id]
			if a == nil {
				t.Fatalf("got no account %s, want one", tt.id)
			}
			if a.HomeRegion != tt.wantHome {
				t.Errorf("got home region %d, want %d", a.HomeRegion, tt.wantHome)
			}
			n := a.Narrowing()
			if (n != nil) != tt.wantNarrow {
				t.Fatalf("got narrowing %v, want non-nil %v", n, tt.wantNarrow)
			}
			if n == nil {
				return
			}
			if (a.DataRegions == nil) || n.Len() != len(tt.wantDCs) {
				t.Errorf("got data regions %v and %d DCs in the narrowing, want non-nil and %d", a.DataRegions, n.Len(), len(tt.wantDCs))
			}
			for _, d := range tt.wantDCs {
				if !n.Has(int(d)) {
					t.Errorf("got narrowing without DC %d, want it", d)
				}
			}
			// The narrowing is what the one residency check applies.
			s := policy.Sides{ParticipantRegion: region("na"), MeetingRegion: region("na"), Narrow: n}
			if got, want := m.AllowsSides(&s, usA), n.Has(int(usA)); got != want {
				t.Errorf("got AllowsSides(us-a) %v, want %v", got, want)
			}
			if m.AllowsSides(&s, deA) {
				t.Errorf("got AllowsSides(de-a) true, want false outside the narrowing")
			}
		})
	}
}
