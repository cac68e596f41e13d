package geoip

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"
)

// ErrClosed is returned by Lookup on a DB that was closed (or is nil).
var ErrClosed = errors.New("database closed")

// DB is an open MaxMind DB file. Lookup is safe for concurrent use; Close is not, and must
// come after the last Lookup (replace a DB by swapping a pointer to a new one, then closing
// the old one once no lookup can reach it).
type DB struct {
	r    *maxminddb.Reader
	meta Metadata
}

// Metadata describes a database file, for the startup banner and logs.
type Metadata struct {
	// Type is the file's database_type, chosen by its producer: for example
	// "GeoLite2-Country", "GeoIP2-City", or "country ipvAll" for the @ip-location-db files.
	Type string
	// Description is the file's English description, "" when it has none.
	Description string
	// BuildTime is when the file was built, in UTC.
	BuildTime time.Time
	// IPVersion is 4 for a file that holds only IPv4 networks, 6 for one that holds both.
	IPVersion int
}

// String is a one-line summary such as "GeoLite2-Country (IPv6, built 2026-06-17)".
func (m Metadata) String() string {
	return fmt.Sprintf("%s (IPv%d, built %s)", m.Type, m.IPVersion, m.BuildTime.Format(time.DateOnly))
}

// LatLon is a point in decimal degrees. It has the shape of geo.LatLon, so
// geo.LatLon(r.Location) converts it; geoip keeps its own type to stay a leaf package.
type LatLon struct {
	Lat, Lon float64
}

// Result is what a database says about one address. Found false means "not found" (Network
// may still name the empty network that holds the address).
type Result struct {
	// Country is the ISO 3166-1 alpha-2 code in upper case, "" when the database has no
	// usable code for the address. It is syntactically checked (two letters A-Z), not
	// checked against the list of assigned codes.
	Country string
	// Location is the database's location for the address, meaningful only when HasLocation.
	Location LatLon
	// HasLocation is set when the record has both a latitude and a longitude in range (City
	// layout). Country-only databases never set it.
	HasLocation bool
	// Found is set exactly when Country is not "".
	Found bool
	// Network is the database network that holds the address, for logs and explanations;
	// the zero Prefix when the address was not looked up in the tree.
	Network netip.Prefix
}

// Open opens the MaxMind DB file at path. The file is memory-mapped: replace it on disk by
// renaming a new file over it, never by rewriting it in place, and open it again to see the
// new data.
func Open(path string) (*DB, error) {
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("geoip: open %s: %w", path, err)
	}
	return newDB(r), nil
}

// FromBytes reads a MaxMind DB file held in memory. The DB keeps b: do not modify it while
// the DB is in use.
func FromBytes(b []byte) (*DB, error) {
	r, err := maxminddb.OpenBytes(b)
	if err != nil {
		return nil, fmt.Errorf("geoip: read database: %w", err)
	}
	return newDB(r), nil
}

func newDB(r *maxminddb.Reader) *DB {
	m := r.Metadata
	return &DB{
		r: r,
		meta: Metadata{
			Type:        m.DatabaseType,
			Description: m.Description["en"],
			BuildTime:   m.BuildTime().UTC(),
			IPVersion:   int(m.IPVersion),
		},
	}
}

// Metadata describes the open file.
func (d *DB) Metadata() Metadata { return d.meta }

// Close releases the file. Lookups after Close return ErrClosed.
func (d *DB) Close() error {
	if d == nil || d.r == nil {
		return nil
	}
	r := d.r
	d.r = nil
	if err := r.Close(); err != nil {
		return fmt.Errorf("geoip: close: %w", err)
	}
	return nil
}

// record holds the fields read from any of the three layouts; decoding into it, rather than
// into a map, keeps a lookup to about one allocation.
type record struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	RegisteredCountry struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"registered_country"`
	CountryCode string `maxminddb:"country_code"`
	Location    struct {
		// Set to NaN before decoding: a coordinate the record does not have stays NaN, which
		// tells "absent" from a real 0.
		Latitude  float64 `maxminddb:"latitude"`
		Longitude float64 `maxminddb:"longitude"`
	} `maxminddb:"location"`
}

// Lookup returns what the database says about addr. An IPv4-mapped IPv6 address is looked up
// as the IPv4 address (files from @ip-location-db do not alias ::ffff:0:0/96) and a zone is
// ignored. An address the database does not know, or whose record has no usable country
// code, gives a zero Result and a nil error.
func (d *DB) Lookup(addr netip.Addr) (Result, error) {
	if !addr.IsValid() {
		return Result{}, errors.New("geoip: lookup: invalid address")
	}
	if d == nil || d.r == nil {
		return Result{}, fmt.Errorf("geoip: lookup %s: %w", addr, ErrClosed)
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is6() && d.meta.IPVersion == 4 {
		// An IPv4-only file (such as the *-ipv4.mmdb variants) cannot know an IPv6 address;
		// the library would report an error for what is only "not found".
		return Result{}, nil
	}
	lr := d.r.Lookup(addr)
	if err := lr.Err(); err != nil {
		return Result{}, fmt.Errorf("geoip: lookup %s: %w", addr, err)
	}
	res := Result{Network: lr.Prefix()}
	if !lr.Found() {
		return res, nil
	}
	var rec record
	rec.Location.Latitude, rec.Location.Longitude = math.NaN(), math.NaN()
	if err := lr.Decode(&rec); err != nil {
		return Result{}, fmt.Errorf("geoip: lookup %s: decode record: %w", addr, err)
	}
	for _, c := range [...]string{rec.Country.ISOCode, rec.CountryCode, rec.RegisteredCountry.ISOCode} {
		if cc, ok := normalizeCode(c); ok {
			res.Country, res.Found = cc, true
			break
		}
	}
	if !res.Found {
		// A location without a country would place a participant nowhere consistent.
		return res, nil
	}
	lat, lon := rec.Location.Latitude, rec.Location.Longitude
	if lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180 { // false for NaN
		res.Location, res.HasLocation = LatLon{Lat: lat, Lon: lon}, true
	}
	return res, nil
}

// codes is every two-letter string "AA" .. "ZZ" in order, so that normalizeCode returns a
// substring of a constant and a lookup never allocates for upper-casing.
var codes = func() string {
	b := make([]byte, 0, 26*26*2)
	for i := byte('A'); i <= 'Z'; i++ {
		for j := byte('A'); j <= 'Z'; j++ {
			b = append(b, i, j)
		}
	}
	return string(b)
}()

// normalizeCode upper-cases an ISO 3166-1 alpha-2 code and checks that it is two letters.
// "ZZ", which ISO 3166-1 leaves to users and databases such as DB-IP use for "unknown", is
// not a country.
func normalizeCode(s string) (string, bool) {
	if len(s) != 2 {
		return "", false
	}
	i, ok1 := letter(s[0])
	j, ok2 := letter(s[1])
	if !ok1 || !ok2 || (i == 25 && j == 25) {
		return "", false
	}
	k := 2 * (int(i)*26 + int(j))
	return codes[k : k+2], true
}

// letter is the index 0..25 of an ASCII letter of either case.
func letter(c byte) (byte, bool) {
	c |= 0x20 // ASCII lower case; only 'A'..'Z' and 'a'..'z' land in 'a'..'z'
	if c < 'a' || c > 'z' {
		return 0, false
	}
	return c - 'a', true
}
