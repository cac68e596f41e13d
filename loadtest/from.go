package loadtest

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/geofence/geofence/geo"
	"github.com/geofence/geofence/geo/geoip"
	"github.com/oschwald/maxminddb-golang/v2"
)

// ResolveFrom turns each entry of from, an IP address or an ISO 3166-1 alpha-2 country code,
// into an address to join from: a country becomes the first IPv4 address that the MaxMind DB
// file at dbPath places in it (so that `geofence dev`, which believes X-Forwarded-For from
// loopback and locates it with the same database, sees a participant from that country).
// The file is opened only when a country is given.
func ResolveFrom(from []string, dbPath string) ([]string, error) {
	out := make([]string, 0, len(from))
	found := map[string]string{}
	var want []string
	for _, f := range from {
		f = strings.TrimSpace(f)
		if a, err := netip.ParseAddr(f); err == nil {
			out = append(out, a.String())
			continue
		}
		c, ok := geo.LookupCountry(strings.ToUpper(f))
		if !ok {
			return nil, fmt.Errorf("--from %q: neither an IP address nor an ISO 3166-1 alpha-2 country code", f)
		}
		out = append(out, "")
		want = append(want, c.Code())
		found[c.Code()] = ""
	}
	if len(want) == 0 {
		return out, nil
	}
	db, err := geoip.Open(dbPath)
	if err != nil {
		return nil, fmt.Errorf("--from a country needs a GeoIP database: %w", err)
	}
	defer db.Close()
	r, err := maxminddb.Open(dbPath)
	if err != nil {
		return nil, fmt.Errorf("--from: %w", err)
	}
	defer r.Close()
	left := len(found)
	for n := range r.NetworksWithin(netip.MustParsePrefix("0.0.0.0/0")) {
		if left == 0 {
			break
		}
		p := n.Prefix()
		if !p.IsValid() {
			continue
		}
		// The second address: the first of a network is often its network address.
		a := p.Masked().Addr().Next()
		if !p.Contains(a) {
			a = p.Addr()
		}
		res, err := db.Lookup(a)
		if err != nil || !res.Found {
			continue
		}
		if v, ok := found[res.Country]; ok && v == "" {
			found[res.Country] = a.String()
			left--
		}
	}
	j := 0
	for i, f := range out {
		if f != "" {
			continue
		}
		cc := want[j]
		j++
		if found[cc] == "" {
			return nil, fmt.Errorf("--from %s: the GeoIP database %s places no IPv4 address in %s", cc, dbPath, cc)
		}
		out[i] = found[cc]
	}
	return out, nil
}
