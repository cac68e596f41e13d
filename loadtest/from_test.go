package loadtest

import (
	"net/netip"
	"testing"

	"github.com/geofence/geofence/geo/geoip"
	"github.com/geofence/geofence/internal/sharedtest"
)

func TestResolveFrom(t *testing.T) {
	path := sharedtest.Path(t, "geoip/GeoLite2-Country-Test.mmdb")
	got, err := ResolveFrom([]string{"gb", "8.8.8.8", "SE", "GB"}, path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || got[1] != "8.8.8.8" || got[0] != got[3] {
		t.Fatalf("got %q", got)
	}
	db, err := geoip.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i, want := range map[int]string{0: "GB", 2: "SE"} {
		res, err := db.Lookup(netip.MustParseAddr(got[i]))
		if err != nil || res.Country != want {
			t.Errorf("%s is in %q (%v), want %s", got[i], res.Country, err, want)
		}
	}
	for _, bad := range [][]string{{"XX"}, {"not-an-address"}, {"FR"}} {
		if _, err := ResolveFrom(bad, path); err == nil {
			t.Errorf("%q: got no error", bad)
		}
	}
	if got, err := ResolveFrom([]string{"::1"}, "/nonexistent"); err != nil || got[0] != "::1" {
		t.Errorf("an address needs no database: got %q, %v", got, err)
	}
}
