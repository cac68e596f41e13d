// Package geoip maps an IP address to the country (and, when the database has one, the
// location) recorded for it in a MaxMind DB file.
//
// It reads three record layouts, whichever the file uses:
//
//   - GeoIP2/GeoLite2 Country: country.iso_code, else registered_country.iso_code;
//   - GeoIP2/GeoLite2 City: the same, plus location.latitude and location.longitude;
//   - the single-field {"country_code": "US"} layout of the @ip-location-db databases.
//
// Country codes come back upper case and are always two letters A-Z; a record without such a
// code, an address outside every network of the file, and an IPv6 address looked up in an
// IPv4-only file are all "not found", which is not an error (DESIGN.md section 7 places such a
// participant in default_region). Errors are kept for a file that cannot be read or a record
// that cannot be decoded.
//
// It is not a geolocation service and holds no data of its own: docs/geoip.md says which
// database Geofence installs (scripts/install-geoip.sh) and how to use a MaxMind one instead.
// It does not find the client's address (package clientip does), know which codes ISO
// 3166-1 assigns, or place a country at its centroid (package geo does both). It does not
// reload a file that changes on disk: open the new file and swap the *DB.
package geoip
