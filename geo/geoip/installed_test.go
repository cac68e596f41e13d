package geoip

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

// installedPath is where scripts/install-geoip.sh puts the real country database, relative
// to this package's directory (the working directory of its tests).
var installedPath = filepath.Join("..", "var", "geoip", "country.mmdb")

// TestInstalledDatabase checks the real database installed by scripts/install-geoip.sh
// against addresses whose country is not in doubt. Nothing else depends on that database, so
// the test skips when it is not installed.
func TestInstalledDatabase(t *testing.T) {
	if _, err := os.Stat(installedPath); err != nil {
		t.Skipf("skipping: %s is not installed (run scripts/install-geoip.sh): %v", installedPath, err)
	}
	db, err := Open(installedPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m := db.Metadata()
	t.Logf("installed database: %s", m)
	if m.IPVersion != 6 {
		t.Errorf("Metadata().IPVersion = %d, want 6 (the IPv4+IPv6 file)", m.IPVersion)
	}
	tests := []struct {
		name string
		addr string
		want string
	}{
		{name: "Google DNS", addr: "8.8.8.8", want: "US"},
		{name: "Google DNS ipv4-mapped", addr: "::ffff:8.8.8.8", want: "US"},
		{name: "Google DNS ipv6", addr: "2001:4860:4860::8888", want: "US"},
		{name: "RIPE NCC", addr: "193.0.6.139", want: "NL"},
		{name: "RIPE NCC ipv6", addr: "2001:67c:2e8:22::c100:68b", want: "NL"},
		{name: "MaxMind's GB example", addr: "81.2.69.142", want: "GB"},
		{name: "Osaka University", addr: "133.1.0.1", want: "JP"},
		{name: "NIC.br", addr: "200.160.0.8", want: "BR"},
		{name: "private", addr: "10.0.0.1", want: ""},
		{name: "loopback", addr: "::1", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := db.Lookup(netip.MustParseAddr(tt.addr))
			if err != nil {
				t.Fatalf("Lookup(%s): %v", tt.addr, err)
			}
			if got.Country != tt.want || got.Found != (tt.want != "") || got.HasLocation {
				t.Errorf("Lookup(%s) = %+v, want country %q and no location", tt.addr, got, tt.want)
			}
		})
	}
}

// BenchmarkLookupInstalled measures Lookup on the real database, where the search tree is
// deep; it skips like TestInstalledDatabase.
func BenchmarkLookupInstalled(b *testing.B) {
	if _, err := os.Stat(installedPath); err != nil {
		b.Skipf("skipping: %s is not installed (run scripts/install-geoip.sh)", installedPath)
	}
	db, err := Open(installedPath)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for _, a := range []string{"8.8.8.8", "2001:67c:2e8:22::c100:68b", "10.0.0.1"} {
		addr := netip.MustParseAddr(a)
		b.Run(a, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := db.Lookup(addr); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
