// Package geo is the geography Geofence reasons about: the ISO 3166-1 alpha-2 country codes,
// each country's centroid, and great-circle distance.
//
// The country list is generated (see generate.sh) from the world-countries data set
// (github.com/mledoze/countries, ODbL-1.0), which tracks ISO 3166-1; only officially assigned
// codes are included. It is not a geolocation source: package geoip maps addresses to countries.
package geo

//go:generate ./generate.sh

import (
	"math"
	"sort"
)

// EarthRadiusKm is the mean Earth radius used for great-circle distances (DESIGN.md section 4).
const EarthRadiusKm = 6371.0

// LatLon is a point on Earth in decimal degrees.
type LatLon struct {
	Lat, Lon float64
}

// Valid reports whether the coordinates are in range.
func (p LatLon) Valid() bool {
	return p.Lat >= -90 && p.Lat <= 90 && p.Lon >= -180 && p.Lon <= 180 &&
		!math.IsNaN(p.Lat) && !math.IsNaN(p.Lon)
}

// DistanceKm is the haversine great-circle distance between p and q in kilometres.
func DistanceKm(p, q LatLon) float64 {
	return 2 * EarthRadiusKm * math.Asin(math.Sqrt(Haversine(p, q)))
}

// Point is a location on the unit sphere: the form in which comparing distances costs a few
// multiplications instead of trigonometry. LatLon.Point converts.
type Point struct{ X, Y, Z float64 }

// Point is p on the unit sphere.
func (p LatLon) Point() Point {
	const rad = math.Pi / 180
	sLat, cLat := math.Sincos(p.Lat * rad)
	sLon, cLon := math.Sincos(p.Lon * rad)
	return Point{X: cLat * cLon, Y: cLat * sLon, Z: sLat}
}

// HaversineOf is Haversine for points already on the sphere: the squared chord between them
// is 4 sin²(d/2), which is 4a, so it orders by distance as Haversine does, with the same
// value up to rounding.
func HaversineOf(p, q Point) float64 {
	dx, dy, dz := p.X-q.X, p.Y-q.Y, p.Z-q.Z
	return min(max((dx*dx+dy*dy+dz*dz)/4, 0), 1)
}

// Haversine returns the haversine term a = sin²(Δφ/2) + cos φ1 cos φ2 sin²(Δλ/2) of the
// distance between p and q. The distance is monotonic in it, so ordering by it orders by
// distance without the square root and arcsine.
func Haversine(p, q LatLon) float64 {
	const rad = math.Pi / 180
	sdLat := math.Sin((q.Lat - p.Lat) * rad / 2)
	sdLon := math.Sin((q.Lon - p.Lon) * rad / 2)
	a := sdLat*sdLat + math.Cos(p.Lat*rad)*math.Cos(q.Lat*rad)*sdLon*sdLon
	return min(max(a, 0), 1)
}

type countryInfo struct {
	code     string
	name     string
	centroid LatLon
}

// NumCountries is the number of assigned ISO 3166-1 alpha-2 codes known to this package.
const NumCountries = len(countryData)

// Country is a dense index of an assigned ISO 3166-1 alpha-2 code, 0 <= c < NumCountries,
// so sets of countries can be bitsets and tables can be arrays.
type Country int16

// NoCountry is the Country of no assigned code.
const NoCountry Country = -1

// LookupCountry returns the Country for an upper-case alpha-2 code.
func LookupCountry(code string) (Country, bool) {
	if len(code) != 2 {
		return NoCountry, false
	}
	i := sort.Search(len(countryData), func(i int) bool { return countryData[i].code >= code })
	if i < len(countryData) && countryData[i].code == code {
		return Country(i), true
	}
	return NoCountry, false
}

// Code is the alpha-2 code of c.
func (c Country) Code() string {
	if c < 0 || int(c) >= len(countryData) {
		return ""
	}
	return countryData[c].code
}

// Name is the common English name of c.
func (c Country) Name() string {
	if c < 0 || int(c) >= len(countryData) {
		return ""
	}
	return countryData[c].name
}

// Centroid is the country's centroid, where a participant of that country with no better
// location is placed.
func (c Country) Centroid() LatLon {
	if c < 0 || int(c) >= len(countryData) {
		return LatLon{}
	}
	return countryData[c].centroid
}

// Countries returns every assigned code in order.
func Countries() []Country {
	cs := make([]Country, len(countryData))
	for i := range cs {
		cs[i] = Country(i)
	}
	return cs
}
