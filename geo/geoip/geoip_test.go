package geoip

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/geofence/geofence/internal/sharedtest"
)

// testBuildTime is the build time of every database the tests write, so they are reproducible.
var testBuildTime = time.Date(2026, 6, 17, 12, 0, 0, 0, time.UTC)

// network is one record of a database built by buildDB.
type network struct {
	cidr  string
	value mmdbtype.DataType
}

// buildDB writes a MaxMind DB of the given type holding nets. Like the @ip-location-db files
// it does not alias IPv4 into ::ffff:0:0/96, so lookups of IPv4-mapped addresses only work
// if Lookup unmaps them. The documentation ranges used by the tests are reserved networks,
// hence IncludeReservedNetworks.
func buildDB(t testing.TB, dbType string, ipVersion int, nets ...network) []byte {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            dbType,
		Description:             map[string]string{"en": dbType + " test database"},
		BuildEpoch:              testBuildTime.Unix(),
		IPVersion:               ipVersion,
		RecordSize:              24,
		DisableIPv4Aliasing:     true,
		IncludeReservedNetworks: true,
	})
	if err != nil {
		t.Fatalf("mmdbwriter.New: %v", err)
	}
	for _, n := range nets {
		_, ipnet, err := net.ParseCIDR(n.cidr)
		if err != nil {
			t.Fatalf("parse %q: %v", n.cidr, err)
		}
		if err := tree.Insert(ipnet, n.value); err != nil {
			t.Fatalf("insert %s: %v", n.cidr, err)
		}
	}
	var buf bytes.Buffer
	if _, err := tree.WriteTo(&buf); err != nil {
		t.Fatalf("write database: %v", err)
	}
	return buf.Bytes()
}

func mustFromBytes(t testing.TB, b []byte) *DB {
	t.Helper()
	db, err := FromBytes(b)
	if err != nil {
		t.Fatalf("FromBytes: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// iso is the {"iso_code": code} map of the country and registered_country fields.
func iso(code string) mmdbtype.Map {
	return mmdbtype.Map{"iso_code": mmdbtype.String(code)}
}

func countryDB(t testing.TB) []byte {
	return buildDB(t, "GeoLite2-Country", 6,
		network{"192.0.2.0/24", mmdbtype.Map{"country": iso("DE"), "registered_country": iso("DE")}},
		// Anonymous and satellite networks carry only registered_country.
		network{"198.51.100.0/24", mmdbtype.Map{"registered_country": iso("FR")}},
		network{"203.0.113.0/25", mmdbtype.Map{"country": iso("gb")}},
		network{"203.0.113.128/25", mmdbtype.Map{"country": iso("USA"), "registered_country": iso("CA")}},
		network{"2001:db8::/48", mmdbtype.Map{"country": iso("JP"), "registered_country": iso("US")}},
		network{"2001:db8:1::/48", mmdbtype.Map{"continent": mmdbtype.Map{"code": mmdbtype.String("EU")}}},
	)
}

func cityDB(t testing.TB) []byte {
	loc := func(lat, lon float64) mmdbtype.Map {
		return mmdbtype.Map{
			"latitude":        mmdbtype.Float64(lat),
			"longitude":       mmdbtype.Float64(lon),
			"accuracy_radius": mmdbtype.Uint16(50),
		}
	}
	return buildDB(t, "GeoIP2-City", 6,
		network{"192.0.2.0/24", mmdbtype.Map{"country": iso("JP"), "location": loc(35.6895, 139.6917)}},
		network{"198.51.100.0/24", mmdbtype.Map{
			"country":  iso("BR"),
			"location": mmdbtype.Map{"accuracy_radius": mmdbtype.Uint16(1000), "time_zone": mmdbtype.String("America/Sao_Paulo")},
		}},
		network{"203.0.113.0/26", mmdbtype.Map{"registered_country": iso("SE"), "location": loc(59.3293, 18.0686)}},
		network{"203.0.113.64/26", mmdbtype.Map{"location": loc(1, 2)}},
		network{"203.0.113.128/26", mmdbtype.Map{"country": iso("GH"), "location": loc(0, 0)}},
		network{"203.0.113.192/26", mmdbtype.Map{"country": iso("NO"), "location": loc(91, 10)}},
		network{"2001:db8::/48", mmdbtype.Map{"country": iso("AU"), "location": loc(-33.8688, 151.2093)}},
		network{"2001:db8:1::/48", mmdbtype.Map{"country": iso("CL"), "location": mmdbtype.Map{"latitude": mmdbtype.Float64(-33.45)}}},
	)
}

func countryCodeDB(t testing.TB, ipVersion int) []byte {
	cc := func(code string) mmdbtype.Map { return mmdbtype.Map{"country_code": mmdbtype.String(code)} }
	nets := []network{
		{"192.0.2.0/24", cc("US")},
		{"198.51.100.0/24", cc("nl")},
		{"203.0.113.0/26", cc("ZZ")},
		{"203.0.113.64/26", cc("")},
		{"203.0.113.128/26", cc("D1")},
		{"203.0.113.192/26", cc("É")},
	}
	if ipVersion == 6 {
		nets = append(nets,
			network{"2001:db8::/48", cc("de")},
			network{"2001:db8:1::/48", mmdbtype.Map{"country_code": mmdbtype.Uint32(7)}},
		)
	}
	return buildDB(t, "country", ipVersion, nets...)
}

func TestLookup(t *testing.T) {
	dbs := map[string]*DB{
		"country":      mustFromBytes(t, countryDB(t)),
		"city":         mustFromBytes(t, cityDB(t)),
		"country_code": mustFromBytes(t, countryCodeDB(t, 6)),
		"ipv4_only":    mustFromBytes(t, countryCodeDB(t, 4)),
	}
	found := func(cc string) Result { return Result{Country: cc, Found: true} }
	located := func(cc string, lat, lon float64) Result {
		return Result{Country: cc, Found: true, Location: LatLon{lat, lon}, HasLocation: true}
	}
	tests := []struct {
		name    string
		db      string
		addr    string
		want    Result
		wantErr bool
	}{
		{name: "country layout", db: "country", addr: "192.0.2.1", want: found("DE")},
		{name: "ipv4-mapped ipv6 is unmapped", db: "country", addr: "::ffff:192.0.2.1", want: found("DE")},
		{name: "only registered_country", db: "country", addr: "198.51.100.7", want: found("FR")},
		{name: "lower-case code is upper-cased", db: "country", addr: "203.0.113.5", want: found("GB")},
		{name: "bad country falls back to registered_country", db: "country", addr: "203.0.113.200", want: found("CA")},
		{name: "ipv6 country wins over registered_country", db: "country", addr: "2001:db8::1", want: found("JP")},
		{name: "zone is ignored", db: "country", addr: "2001:db8::1%eth0", want: found("JP")},
		{name: "record without a country", db: "country", addr: "2001:db8:1::1", want: Result{}},
		{name: "ipv4 address outside every network", db: "country", addr: "100.64.0.1", want: Result{}},
		{name: "ipv6 address outside every network", db: "country", addr: "2001:db8:2::1", want: Result{}},

		{name: "city with location", db: "city", addr: "192.0.2.9", want: located("JP", 35.6895, 139.6917)},
		{name: "city without coordinates", db: "city", addr: "198.51.100.1", want: found("BR")},
		{name: "city registered_country with location", db: "city", addr: "203.0.113.1", want: located("SE", 59.3293, 18.0686)},
		{name: "location without a country is not found", db: "city", addr: "203.0.113.65", want: Result{}},
		{name: "location 0,0 is a location", db: "city", addr: "203.0.113.129", want: located("GH", 0, 0)},
		{name: "latitude out of range is no location", db: "city", addr: "203.0.113.193", want: found("NO")},
		{name: "ipv6 city with location", db: "city", addr: "2001:db8::5", want: located("AU", -33.8688, 151.2093)},
		{name: "latitude without longitude is no location", db: "city", addr: "2001:db8:1::5", want: found("CL")},

		{name: "country_code layout", db: "country_code", addr: "192.0.2.77", want: found("US")},
		{name: "country_code lower case", db: "country_code", addr: "198.51.100.1", want: found("NL")},
		{name: "country_code ZZ is unknown", db: "country_code", addr: "203.0.113.1", want: Result{}},
		{name: "country_code empty", db: "country_code", addr: "203.0.113.65", want: Result{}},
		{name: "country_code with a digit", db: "country_code", addr: "203.0.113.129", want: Result{}},
		{name: "country_code non-ascii", db: "country_code", addr: "203.0.113.193", want: Result{}},
		{name: "country_code ipv6", db: "country_code", addr: "2001:db8::1", want: found("DE")},
		{name: "country_code of the wrong type", db: "country_code", addr: "2001:db8:1::1", wantErr: true},

		{name: "ipv4-only file, ipv4", db: "ipv4_only", addr: "192.0.2.1", want: found("US")},
		{name: "ipv4-only file, ipv4-mapped", db: "ipv4_only", addr: "::ffff:192.0.2.1", want: found("US")},
		{name: "ipv4-only file, ipv6 is not found", db: "ipv4_only", addr: "2001:db8::1", want: Result{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := dbs[tt.db].Lookup(netip.MustParseAddr(tt.addr))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Lookup(%s) = %+v, want an error", tt.addr, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Lookup(%s): %v", tt.addr, err)
			}
			got.Network = netip.Prefix{} // checked in TestLookupNetwork
			if got != tt.want {
				t.Errorf("Lookup(%s) = %+v, want %+v", tt.addr, got, tt.want)
			}
		})
	}
}

func TestLookupNetwork(t *testing.T) {
	db := mustFromBytes(t, countryDB(t))
	tests := []struct {
		name string
		addr string
		want string
	}{
		{name: "ipv4", addr: "192.0.2.200", want: "192.0.2.0/24"},
		{name: "ipv4-mapped", addr: "::ffff:203.0.113.129", want: "203.0.113.128/25"},
		{name: "ipv6", addr: "2001:db8::1", want: "2001:db8::/48"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := db.Lookup(netip.MustParseAddr(tt.addr))
			if err != nil {
				t.Fatalf("Lookup(%s): %v", tt.addr, err)
			}
			if got.Network.String() != tt.want {
				t.Errorf("Lookup(%s).Network = %s, want %s", tt.addr, got.Network, tt.want)
			}
		})
	}
}

// TestMaxMindTestDatabases reads MaxMind's own test databases, as written by MaxMind's tools.
func TestMaxMindTestDatabases(t *testing.T) {
	tests := []struct {
		name       string
		addr       string
		want       string // "" for not found
		geoIP2Only bool   // the network is only in the GeoIP2 file
	}{
		{name: "GB", addr: "81.2.69.142", want: "GB"},
		{name: "GB ipv4-mapped", addr: "::ffff:81.2.69.142", want: "GB"},
		{name: "country wins over registered_country GB", addr: "216.160.83.56", want: "US"},
		{name: "CN", addr: "175.16.199.7", want: "CN", geoIP2Only: true},
		{name: "GB 2.125", addr: "2.125.160.216", want: "GB"},
		{name: "SE", addr: "89.160.20.115", want: "SE"},
		{name: "BT, registered RO", addr: "67.43.156.1", want: "BT"},
		{name: "PH, represented US", addr: "202.196.224.1", want: "PH"},
		{name: "JP ipv6", addr: "2001:218::1", want: "JP"},
		{name: "record with only continent", addr: "2a02:d500::1", want: ""},
		{name: "private address", addr: "10.0.0.1", want: ""},
	}
	for _, file := range []string{"GeoIP2-Country-Test.mmdb", "GeoLite2-Country-Test.mmdb"} {
		t.Run(file, func(t *testing.T) {
			db, err := Open(sharedtest.Path(t, "geoip/"+file))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if got, want := db.Metadata().Type, strings.TrimSuffix(file, "-Test.mmdb"); got != want {
				t.Errorf("Metadata().Type = %q, want %q", got, want)
			}
			for _, tt := range tests {
				if tt.geoIP2Only && !strings.HasPrefix(file, "GeoIP2") {
					continue
				}
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
		})
	}
}

func TestMetadata(t *testing.T) {
	db := mustFromBytes(t, countryCodeDB(t, 4))
	got := db.Metadata()
	want := Metadata{Type: "country", Description: "country test database", BuildTime: testBuildTime, IPVersion: 4}
	if got != want {
		t.Errorf("Metadata() = %+v, want %+v", got, want)
	}
	if got, want := got.String(), "country (IPv4, built 2026-06-17)"; got != want {
		t.Errorf("Metadata().String() = %q, want %q", got, want)
	}
}

func TestOpenErrors(t *testing.T) {
	valid := countryDB(t)
	dir := t.TempDir()
	tests := []struct {
		name string
		data []byte // nil: the file does not exist
	}{
		{name: "missing file"},
		{name: "empty file", data: []byte{}},
		{name: "not a database", data: []byte("country_code,US\n")},
		{name: "truncated to half", data: valid[:len(valid)/2]},
		{name: "metadata marker only", data: []byte("\xab\xcd\xefMaxMind.com")},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "db"+string(rune('a'+i))+".mmdb")
			if tt.data != nil {
				if err := os.WriteFile(path, tt.data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			db, err := Open(path)
			if err == nil {
				db.Close()
				t.Fatalf("Open(%s) succeeded, want an error", tt.name)
			}
			if !strings.HasPrefix(err.Error(), "geoip: open ") || !strings.Contains(err.Error(), path) {
				t.Errorf("Open error = %q, want it to start with \"geoip: open \" and name the path", err)
			}
			if tt.data != nil {
				if _, err := FromBytes(tt.data); err == nil {
					t.Errorf("FromBytes(%s) succeeded, want an error", tt.name)
				}
			}
		})
	}
}

// TestCorruptDataSection damages the end of the data section: opening succeeds (the metadata
// is intact), and lookups must give errors or results, never panic.
func TestCorruptDataSection(t *testing.T) {
	valid := countryDB(t)
	meta := bytes.LastIndex(valid, []byte("\xab\xcd\xefMaxMind.com"))
	if meta < 0 {
		t.Fatal("no metadata marker in the test database")
	}
	for _, fill := range []byte{0x00, 0xff, 0x5a} {
		b := bytes.Clone(valid)
		for i := meta - 64; i < meta; i++ {
			b[i] = fill
		}
		db, err := FromBytes(b)
		if err != nil {
			t.Fatalf("FromBytes with the data section filled with %#x: %v, want the intact metadata to open", fill, err)
		}
		errs := 0
		for _, a := range []string{"192.0.2.1", "198.51.100.7", "203.0.113.5", "203.0.113.200", "2001:db8::1", "2001:db8:1::1", "::1"} {
			if _, err := db.Lookup(netip.MustParseAddr(a)); err != nil {
				errs++
			}
		}
		if errs == 0 {
			t.Errorf("data section filled with %#x: got no lookup error, want errors for the damaged records", fill)
		}
		db.Close()
	}
}

func TestClosed(t *testing.T) {
	db := mustFromBytes(t, countryDB(t))
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close: got %v, want nil", err)
	}
	if _, err := db.Lookup(netip.MustParseAddr("192.0.2.1")); !errors.Is(err, ErrClosed) {
		t.Errorf("Lookup after Close: got %v, want ErrClosed", err)
	}
	var nilDB *DB
	if _, err := nilDB.Lookup(netip.MustParseAddr("192.0.2.1")); !errors.Is(err, ErrClosed) {
		t.Errorf("Lookup on nil DB: got %v, want ErrClosed", err)
	}
	if _, err := db.Lookup(netip.Addr{}); err == nil {
		t.Error("Lookup(zero Addr): got nil error, want one")
	}
}

func TestNormalizeCode(t *testing.T) {
	tests := []struct {
		in     string
		want   string
		wantOK bool
	}{
		{"US", "US", true},
		{"us", "US", true},
		{"uS", "US", true},
		{"AA", "AA", true},
		{"zy", "ZY", true},
		{"ZZ", "", false},
		{"zz", "", false},
		{"", "", false},
		{"U", "", false},
		{"USA", "", false},
		{"U1", "", false},
		{"@A", "", false},
		{"[A", "", false},
		{"`a", "", false},
		{"{a", "", false},
		{"\xc1A", "", false},
		{"Ü", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := normalizeCode(tt.in)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("normalizeCode(%q) = %q, %v, want %q, %v", tt.in, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestLookupAllocs(t *testing.T) {
	db := mustFromBytes(t, cityDB(t))
	for _, a := range []string{"192.0.2.1", "2001:db8::1", "100.64.0.1"} {
		addr := netip.MustParseAddr(a)
		got := testing.AllocsPerRun(100, func() {
			if _, err := db.Lookup(addr); err != nil {
				t.Fatal(err)
			}
		})
		if got > 1 {
			t.Errorf("Lookup(%s) allocates %v times, want at most 1", a, got)
		}
	}
}

func BenchmarkLookup(b *testing.B) {
	benchmarks := []struct {
		name string
		data func(testing.TB) []byte
		addr string
	}{
		{name: "country_code/ipv4", data: func(t testing.TB) []byte { return countryCodeDB(t, 6) }, addr: "192.0.2.1"},
		{name: "city/ipv4", data: cityDB, addr: "192.0.2.1"},
		{name: "city/ipv6", data: cityDB, addr: "2001:db8::1"},
		{name: "country/not_found", data: countryDB, addr: "100.64.0.1"},
	}
	for _, bm := range benchmarks {
		b.Run(bm.name, func(b *testing.B) {
			db := mustFromBytes(b, bm.data(b))
			addr := netip.MustParseAddr(bm.addr)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := db.Lookup(addr); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestLookupConcurrent runs lookups from several goroutines; run with -race.
func TestLookupConcurrent(t *testing.T) {
	db := mustFromBytes(t, cityDB(t))
	want := Result{Country: "JP", Found: true, Location: LatLon{35.6895, 139.6917}, HasLocation: true,
		Network: netip.MustParsePrefix("192.0.2.0/24")}
	errc := make(chan error, 4)
	for range 4 {
		go func() {
			for range 500 {
				got, err := db.Lookup(netip.MustParseAddr("192.0.2.1"))
				if err == nil && got != want {
					err = fmt.Errorf("Lookup = %+v, want %+v", got, want)
				}
				if err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
	}
	for range 4 {
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}
}
