package config_test

import (
	"strings"
	"testing"

	"github.com/geofence/geofence/config"
)

// withStores is testdata/valid.yaml with a stores section appended (its lines start at 21).
func withStores(t *testing.T, stores string) []byte {
	t.Helper()
	return []byte(strings.TrimRight(string(valid(t)), "\n") + "\nstores:\n" + stores)
}

func TestStores(t *testing.T) {
	c, errs := config.Parse(testFile, withStores(t, "  global: {country: US}\n  eu: {country: DE, regions: [row]}\n"))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(c.Stores) != 2 || c.Stores[0].ID != "global" || c.Stores[0].Country.Value != "US" || len(c.Stores[0].Regions) != 0 ||
		c.Stores[1].Regions[0].Value != "row" {
		t.Fatalf("stores %+v %+v", c.Stores[0], c.Stores[1])
	}
	if c, _ := config.Parse(testFile, valid(t)); c.Stores != nil {
		t.Errorf("a config without stores has %v, want nil", c.Stores)
	}
}

func TestStoreErrors(t *testing.T) {
	const structure, reference = config.CodeStructure, config.CodeReference
	tests := []struct {
		name   string
		stores string
		want   []wantErr
	}{
		{"unknown key", "  global: {country: US, endpoint: x}\n",
			[]wantErr{{22, 25, "stores.global.endpoint", structure, `unknown key "endpoint"`}}},
		{"no country", "  global: {regions: [na]}\n  rest: {country: US}\n",
			[]wantErr{{22, 11, "stores.global.country", structure, `missing required key "country"`}}},
		{"bad country", "  global: {country: USA}\n",
			[]wantErr{{22, 21, "stores.global.country", structure, `"USA" is not an assigned ISO 3166-1 alpha-2 country code`}}},
		{"unknown region", "  global: {country: US}\n  mars: {country: US, regions: [mars]}\n",
			[]wantErr{{23, 33, "stores.mars.regions[0]", reference, `unknown region "mars"`}}},
		{"region in two stores", "  global: {country: US}\n  a: {country: US, regions: [na]}\n  b: {country: CA, regions: [na]}\n",
			[]wantErr{{24, 30, "stores.b.regions[0]", structure, "region na is already in store a"}}},
		{"two defaults", "  a: {country: US}\n  b: {country: CA}\n",
			[]wantErr{{23, 3, "stores.b", structure, "stores a and b both list no regions"}}},
		{"a region in no store", "  a: {country: US, regions: [na]}\n",
			[]wantErr{{5, 3, "regions.row", structure, "region row is in no store and no store is the default"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errs := config.Parse(testFile, withStores(t, tt.stores))
			checkErrs(t, errs, tt.want)
		})
	}
}
