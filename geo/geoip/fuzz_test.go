package geoip

import (
	"bytes"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the seed files in testdata/fuzz")

// fuzzSeeds are small valid databases of each layout, with an address each one knows.
func fuzzSeeds(t testing.TB) map[string][2][]byte {
	v4 := netip.MustParseAddr("192.0.2.1").AsSlice()
	v6 := netip.MustParseAddr("2001:db8::1").AsSlice()
	return map[string][2][]byte{
		"country":         {countryDB(t), v4},
		"city":            {cityDB(t), v6},
		"country_code":    {countryCodeDB(t, 6), v6},
		"country_code_v4": {countryCodeDB(t, 4), v4},
	}
}

// FuzzFromBytes feeds damaged databases to FromBytes and Lookup: every outcome is fine but a
// panic, and a Result is always well formed. Its seeds, in testdata/fuzz/FuzzFromBytes, are
// the fuzzSeeds databases (kept in step by TestFuzzSeedCorpus).
func FuzzFromBytes(f *testing.F) {
	f.Fuzz(func(t *testing.T, data, ip []byte) {
		db, err := FromBytes(data)
		if err != nil {
			return
		}
		defer db.Close()
		_ = db.Metadata().String()
		addrs := []netip.Addr{
			netip.MustParseAddr("192.0.2.1"),
			netip.MustParseAddr("::ffff:198.51.100.1"),
			netip.MustParseAddr("2001:db8::1"),
		}
		if a, ok := netip.AddrFromSlice(ip); ok {
			addrs = append(addrs, a)
		}
		for _, a := range addrs {
			res, err := db.Lookup(a)
			if err != nil {
				continue
			}
			if res.Found != (res.Country != "") {
				t.Errorf("Lookup(%s) = %+v: Found disagrees with Country", a, res)
			}
			if _, ok := normalizeCode(res.Country); res.Found && (!ok || res.Country != string(bytes.ToUpper([]byte(res.Country)))) {
				t.Errorf("Lookup(%s).Country = %q, want two upper-case letters", a, res.Country)
			}
			if res.HasLocation && (!res.Found || res.Location.Lat < -90 || res.Location.Lat > 90 ||
				res.Location.Lon < -180 || res.Location.Lon > 180) {
				t.Errorf("Lookup(%s) = %+v: location out of range or without a country", a, res)
			}
		}
	})
}

// TestFuzzSeedCorpus keeps testdata/fuzz/FuzzFromBytes/seed-* equal to fuzzSeeds; run with
// -update to rewrite them after changing the test databases.
func TestFuzzSeedCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzFromBytes")
	for name, s := range fuzzSeeds(t) {
		path := filepath.Join(dir, "seed-"+name)
		want := fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n[]byte(%q)\n", s[0], s[1])
		if *update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("read seed: %v (run go test ./geoip -run TestFuzzSeedCorpus -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run go test ./geoip -run TestFuzzSeedCorpus -update", path)
		}
	}
}
