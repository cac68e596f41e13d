package policy_test

import (
	"bytes"
	"encoding/base64"
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
  homed:
    plan: basic
    home_region: eu
    keys:
      - {kid: homed-2026, x: B7vtJlwrqvWOWeqRJJ93EqnWNOCXOyjxpq0f8WMJ0MA}
      - {kid: homed-2027, x: yjQc4egtgdUgdVXHJ_6ThuYrBU71-Hc1I5MmQGFOceg}
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

func TestAccountKey(t *testing.T) {
	m := accountsModel(t, accountsWorld)
	key := func(s string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name    string
		account string
		kid     string
		want    []byte // nil: no such key
	}{
		{"first key", "homed", "homed-2026", key("B7vtJlwrqvWOWeqRJJ93EqnWNOCXOyjxpq0f8WMJ0MA")},
		{"second key", "homed", "homed-2027", key("yjQc4egtgdUgdVXHJ_6ThuYrBU71-Hc1I5MmQGFOceg")},
		{"unknown kid", "homed", "homed-2028", nil},
		{"kids are case-sensitive", "homed", "HOMED-2026", nil},
		{"empty kid", "homed", "", nil},
		{"account without keys", "nomad", "homed-2026", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := m.Accounts[tt.account]
			got, ok := a.Key(tt.kid)
			if ok != (tt.want != nil) || !bytes.Equal(got, tt.want) {
				t.Errorf("got Key(%q) %x, %v; want %x, %v", tt.kid, got, ok, tt.want, tt.want != nil)
			}
		})
	}
	if got := len(m.Accounts["homed"].Keys); got != 2 {
		t.Errorf("got %d keys for homed, want 2", got)
	}
	if keys := m.Accounts["nomad"].Keys; keys != nil {
		t.Errorf("got keys %v for nomad, want nil", keys)
	}
}

// TestNewAccountKeysFromHandBuiltConfig: a config not made by Parse cannot put a malformed or
// duplicate key in the model.
func TestNewAccountKeysFromHandBuiltConfig(t *testing.T) {
	c, errs := config.Parse("accounts.yaml", []byte(accountsWorld))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	for _, a := range c.Accounts {
		if a.ID == "nomad" {
			a.Keys = []config.AccountKey{
				{KID: "short", X: "AAAA"},
				{KID: "padded", X: "B7vtJlwrqvWOWeqRJJ93EqnWNOCXOyjxpq0f8WMJ0MA="},
				{KID: "", X: "B7vtJlwrqvWOWeqRJJ93EqnWNOCXOyjxpq0f8WMJ0MA"},
				{KID: "ok", X: "B7vtJlwrqvWOWeqRJJ93EqnWNOCXOyjxpq0f8WMJ0MA"},
				{KID: "ok", X: "yjQc4egtgdUgdVXHJ_6ThuYrBU71-Hc1I5MmQGFOceg"},
			}
		}
	}
	m, err := policy.New(c)
	if err != nil {
		t.Fatal(err)
	}
	keys := m.Accounts["nomad"].Keys
	if len(keys) != 1 || keys[0].KID != "ok" || base64.RawURLEncoding.EncodeToString(keys[0].Public) != "B7vtJlwrqvWOWeqRJJ93EqnWNOCXOyjxpq0f8WMJ0MA" {
		t.Errorf("got keys %v, want only the first well-formed key ok", keys)
	}
}

// TestWorldAccountKey: the example world registers a public key for acme, so that the real
// token path can be tried on it.
func TestWorldAccountKey(t *testing.T) {
	_, m := exampleWorld(t)
	if pub, ok := m.Accounts["acme"].Key("acme-2026"); !ok || len(pub) != 32 {
		t.Errorf("got acme key acme-2026 %x, %v; want a 32-byte Ed25519 key", pub, ok)
	}
}
