// Package worldgen writes random but well-formed Geofence configs, for property tests and
// benchmarks: every assigned country in some region, datacenters with random services,
// dedicated classes and lists, and random residency rules. The configs may well break
// residency on purpose; that is what the tests look for.
package worldgen

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/geofence/geofence/geo"
)

// Options size a world. Zero fields take small defaults.
type Options struct {
	Regions     int // default 5
	Plans       int // default 3
	Datacenters int // default 20
	Rules       int // default 3
	Accounts    int // default 3
	// ListLen bounds each routing list's length (default 8).
	ListLen int
	// Clean limits rules to deny lists of countries that host no DC, so the world has no
	// residency errors.
	Clean bool
}

func (o *Options) defaults() {
	def := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	def(&o.Regions, 5)
	def(&o.Plans, 3)
	def(&o.Datacenters, 20)
	def(&o.Rules, 3)
	def(&o.Accounts, 3)
	def(&o.ListLen, 8)
}

// World returns the YAML text of a random world drawn from r.
func World(r *rand.Rand, o Options) []byte {
	o.defaults()
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	countries := geo.Countries()
	regionOf := make([]int, len(countries))
	members := make([][]string, o.Regions)
	for i, c := range countries {
		// Region 0 is the default region and lists nothing: it takes what others leave.
		reg := r.IntN(o.Regions)
		regionOf[i] = reg
		if reg != 0 {
			members[reg] = append(members[reg], c.Code())
		}
	}
	w("version: 1\ndefault_region: r0\nregions:\n")
	for i := range o.Regions {
		w("  r%d:\n    countries: [%s]\n", i, strings.Join(members[i], ", "))
		if r.IntN(2) == 0 {
			w("    peak: %d\n", 1000+r.IntN(100000))
		}
	}
	classes := []string{"gov", "health"}
	planClass := make([]string, o.Plans)
	w("plans:\n")
	for i := range o.Plans {
		var body []string
		if i > 0 && r.IntN(4) == 0 {
			planClass[i] = classes[r.IntN(len(classes))]
			body = append(body, "    dedicated: "+planClass[i])
		}
		if r.IntN(3) == 0 {
			body = append(body, "    regions: ["+strings.Join(pick(r, o.Regions, 1+r.IntN(o.Regions), "r"), ", ")+"]")
		}
		if body == nil {
			w("  p%d: {}\n", i)
		} else {
			w("  p%d:\n%s\n", i, strings.Join(body, "\n"))
		}
	}
	type dc struct {
		media, kms bool
		country    geo.Country
	}
	dcs := make([]dc, o.Datacenters)
	w("datacenters:\n")
	for i := range dcs {
		c := countries[r.IntN(len(countries))]
		d := dc{country: c, media: r.IntN(6) != 0, kms: r.IntN(2) == 0}
		if !d.media && !d.kms {
			d.media = true
		}
		dcs[i] = d
		loc := c.Centroid()
		lat := min(max(loc.Lat+r.Float64()*4-2, -90), 90)
		lon := min(max(loc.Lon+r.Float64()*4-2, -180), 180)
		var svc []string
		if d.media {
			svc = append(svc, "media")
		}
		if d.kms {
			svc = append(svc, "kms")
		}
		w("  d%d:\n    country: %s\n    location: [%.4f, %.4f]\n    capacity: %d\n    services: [%s]\n",
			i, c.Code(), lat, lon, 100+r.IntN(100000), strings.Join(svc, ", "))
		if r.IntN(8) == 0 {
			w("    dedicated: %s\n", classes[r.IntN(len(classes))])
		}
	}
	w("routing:\n")
	if r.IntN(2) == 0 {
		w("  primary_count: %d\n  secondary_count: %d\n  high_watermark: %.2f\n", 1+r.IntN(4), r.IntN(4), 0.3+r.Float64()*0.7)
	}
	w("  regions:\n")
	list := func(need func(dc) bool) string {
		var ids []string
		for _, i := range r.Perm(len(dcs)) {
			if len(ids) == o.ListLen {
				break
			}
			if need(dcs[i]) && r.IntN(3) == 0 {
				ids = append(ids, fmt.Sprintf("d%d", i))
			}
		}
		return strings.Join(ids, ", ")
	}
	for i := range o.Regions {
		if r.IntN(10) == 0 {
			continue // a region with no routing
		}
		media := func(d dc) bool { return d.media }
		w("    r%d:\n      primary: [%s]\n      secondary: [%s]\n      kms: [%s]\n", i,
			list(media), list(media), list(func(d dc) bool { return d.kms }))
	}
	hosting := map[string]bool{}
	for _, d := range dcs {
		hosting[d.country.Code()] = true
	}
	w("residency:\n")
	for i := range o.Rules {
		w("  rule%d:\n", i)
		if r.IntN(2) == 0 {
			w("    applies_to: [\"*\"]\n")
			if r.IntN(2) == 0 {
				w("    except: [%s]\n", strings.Join(pick(r, o.Regions, 1+r.IntN(2), "r"), ", "))
			}
		} else {
			w("    applies_to: [%s]\n", strings.Join(pick(r, o.Regions, 1+r.IntN(o.Regions), "r"), ", "))
		}
		if r.IntN(3) == 0 {
			w("    plans: [%s]\n", strings.Join(pick(r, o.Plans, 1+r.IntN(o.Plans), "p"), ", "))
		}
		var some []string
		for range 1 + r.IntN(6) {
			c := countries[r.IntN(len(countries))].Code()
			if o.Clean && hosting[c] || slices.Contains(some, c) {
				continue
			}
			some = append(some, c)
		}
		for _, c := range countries {
			if len(some) > 0 {
				break
			}
			if !hosting[c.Code()] {
				some = append(some, c.Code())
			}
		}
		if !o.Clean && r.IntN(2) == 0 {
			w("    allow: [%s]\n", strings.Join(some, ", "))
		} else {
			w("    deny: [%s]\n", strings.Join(some, ", "))
		}
	}
	w("accounts:\n")
	for i := range o.Accounts {
		w("  a%d:\n    plan: p%d\n    home_region: r%d\n", i, r.IntN(o.Plans), r.IntN(o.Regions))
		if r.IntN(2) == 0 {
			w("    data_regions: [%s]\n", strings.Join(pick(r, o.Regions, 1+r.IntN(o.Regions), "r"), ", "))
		}
	}
	return []byte(b.String())
}

// pick returns k distinct ids prefix0..prefix(n-1).
func pick(r *rand.Rand, n, k int, prefix string) []string {
	var out []string
	for _, i := range r.Perm(n)[:min(k, n)] {
		out = append(out, fmt.Sprintf("%s%d", prefix, i))
	}
	return out
}
