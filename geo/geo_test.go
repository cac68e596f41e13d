package geo

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestCountries(t *testing.T) {
	if got, want := NumCountries, 249; got != want {
		t.Fatalf("NumCountries = %d, want %d (the officially assigned ISO 3166-1 alpha-2 codes)", got, want)
	}
	tests := []struct {
		code string
		ok   bool
		name string
	}{
		{"US", true, "United States"},
		{"CN", true, "China"},
		{"HK", true, "Hong Kong"},
		{"AQ", true, "Antarctica"},
		{"XK", false, ""}, // user-assigned, not ISO 3166-1
		{"EU", false, ""}, // exceptionally reserved
		{"UK", false, ""}, // exceptionally reserved; the code is GB
		{"ZZ", false, ""},
		{"us", false, ""},
		{"USA", false, ""},
		{"", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			c, ok := LookupCountry(tt.code)
			if ok != tt.ok {
				t.Fatalf("LookupCountry(%q) ok = %v, want %v", tt.code, ok, tt.ok)
			}
			if !ok {
				return
			}
			if got := c.Code(); got != tt.code {
				t.Errorf("Code() = %q, want %q", got, tt.code)
			}
			if got := c.Name(); got != tt.name {
				t.Errorf("Name() = %q, want %q", got, tt.name)
			}
			if !c.Centroid().Valid() {
				t.Errorf("Centroid() = %v, out of range", c.Centroid())
			}
		})
	}
	for i, c := range Countries() {
		if got, ok := LookupCountry(c.Code()); !ok || int(got) != i {
			t.Errorf("round trip of %q: got %d %v, want %d", c.Code(), got, ok, i)
		}
	}
}

func TestDistanceKm(t *testing.T) {
	tests := []struct {
		name string
		p, q LatLon
		want float64 // km, within 0.5%
	}{
		{"same point", LatLon{37.34, -121.89}, LatLon{37.34, -121.89}, 0},
		{"San Jose to New York", LatLon{37.34, -121.89}, LatLon{40.71, -74.01}, 4107},
		{"London to Paris", LatLon{51.5074, -0.1278}, LatLon{48.8566, 2.3522}, 343.5},
		{"quarter meridian", LatLon{0, 0}, LatLon{90, 0}, math.Pi / 2 * EarthRadiusKm},
		{"antipodes", LatLon{0, 0}, LatLon{0, 180}, math.Pi * EarthRadiusKm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DistanceKm(tt.p, tt.q)
			if math.Abs(got-tt.want) > 0.005*tt.want+1e-9 {
				t.Errorf("DistanceKm = %.1f, want %.1f", got, tt.want)
			}
			if back := DistanceKm(tt.q, tt.p); math.Abs(back-got) > 1e-9 {
				t.Errorf("not symmetric: %.6f vs %.6f", got, back)
			}
		})
	}
}

// HaversineOf on points equals Haversine on their locations, so selections order DCs the
// same either way; antipodes and coincident points included.
func TestHaversineOfPoints(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	cases := [][2]LatLon{{{Lat: 0, Lon: 0}, {Lat: 0, Lon: 180}}, {{Lat: 90, Lon: 0}, {Lat: -90, Lon: 0}},
		{{Lat: 51.5, Lon: -0.1}, {Lat: 51.5, Lon: -0.1}}, {{Lat: 1, Lon: 179.9}, {Lat: 1, Lon: -179.9}}}
	for range 10000 {
		cases = append(cases, [2]LatLon{{Lat: r.Float64()*180 - 90, Lon: r.Float64()*360 - 180}, {Lat: r.Float64()*180 - 90, Lon: r.Float64()*360 - 180}})
	}
	for _, c := range cases {
		want := Haversine(c[0], c[1])
		if got := HaversineOf(c[0].Point(), c[1].Point()); math.Abs(got-want) > 1e-12 {
			t.Fatalf("HaversineOf(%v, %v) = %.17g, Haversine %.17g", c[0], c[1], got, want)
		}
	}
}
