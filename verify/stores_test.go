package verify_test

import (
	"os"
	"strings"
	"testing"

	"github.com/geofence/geofence/config"
	"github.com/geofence/geofence/verify"
)

// TestStoreFindings: a store is a location. The example world with one store in the US for
// every region is refused for China (china-stays-in-china allows only CN) and names the
// store's line; giving China its own store in China verifies.
func TestStoreFindings(t *testing.T) {
	src, err := os.ReadFile("../examples/world.yaml")
	if err != nil {
		t.Fatal(err)
	}
	base := string(src)
	if i := strings.Index(base, "\nstores:"); i >= 0 {
		base = base[:i+1] // the example's own stores are replaced below
	}
	tests := []struct {
		name      string
		stores    string
		wantOK    bool
		wantStore []string // regions with a store finding
	}{
		{"one store in the US", "stores:\n  global: {country: US}\n", false, []string{"cn"}},
		{"china in china", "stores:\n  global: {country: US}\n  cn: {country: CN, regions: [cn]}\n", true, nil},
		{"one store in China", "stores:\n  global: {country: CN}\n", false, nil}, // every region but cn
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, errs := config.Parse("world.yaml", []byte(strings.TrimRight(base, "\n")+"\n"+tt.stores))
			rep, _ := verify.Config(c, errs, verify.Options{})
			if rep.OK != tt.wantOK {
				t.Fatalf("ok %v, want %v: %+v", rep.OK, tt.wantOK, rep.Findings)
			}
			var regions []string
			for _, f := range rep.Findings {
				if f.Code == verify.CodeStore {
					regions = append(regions, f.Region)
					if f.Line == 0 || f.Rule == "" || !strings.Contains(f.Message, "stores.") {
						t.Errorf("finding %+v: want a position, a rule and the store's path", f)
					}
				}
			}
			if tt.wantStore != nil && strings.Join(regions, ",") != strings.Join(tt.wantStore, ",") {
				t.Errorf("store findings for %v, want %v", regions, tt.wantStore)
			}
			if tt.name == "one store in China" && (len(regions) == 0 || strings.Contains(strings.Join(regions, ","), "cn")) {
				t.Errorf("store findings for %v, want every region but cn", regions)
			}
		})
	}
}
