// Package config reads Geofence's YAML configuration (DESIGN.md section 5) strictly: unknown
// keys, duplicate keys, wrong types, unassigned country codes, unknown ids and the other
// mistakes of section 6's `structure` and `reference` findings are all reported at once, each
// with its file:line:column and YAML path.
//
// It is only the file format. What the configuration means (which datacenters a user may
// reach) is package policy's; the checks that need that meaning (residency, coverage,
// capacity) are package verify's.
package config

import (
	"github.com/geofence/geofence/geo"
	"github.com/geofence/geofence/internal/yamlstrict"
)

// Pos is a 1-based line and column in the config file; the zero Pos means "no position".
type Pos = yamlstrict.Pos

// Name is a scalar (an id, a reference or a country code) with where it was written.
type Name = yamlstrict.Name

// Config is a decoded configuration file. Slices keep the file's order; ids are unique.
type Config struct {
	File          string
	Version       int
	DefaultRegion Name
	Regions       []*Region
	Plans         []*Plan
	Datacenters   []*Datacenter
	Routing       Routing
	Residency     []*Rule
	Accounts      []*Account
	// Stores are where shared state lives (DESIGN.md sections 5 and 9); nil when the config
	// declares none (one store, wherever the deployment puts it).
	Stores []*Store
}

// Store is a place shared state lives: a meeting's record and sealed keys go only to the
// store of the meeting's region, whose country the meeting's rules must allow.
type Store struct {
	ID      string
	Pos     Pos
	Country Name
	// Regions are the regions whose state the store holds; a store without regions is the
	// default store, holding every region no other store lists.
	Regions []Name

	listsRegions bool // regions were written (even if none of them is known)
}

// Default reports whether the store is the default store: it lists no regions.
func (s *Store) Default() bool { return !s.listsRegions }

// Region is a geofence: a named set of countries.
type Region struct {
	ID        string
	Pos       Pos
	Name      string
	Countries []Name
	// Peak is the expected peak of concurrent participants; 0 means none declared.
	Peak int64
}

// Plan is a class of account.
type Plan struct {
	ID  string
	Pos Pos
	// Dedicated is the dedicated class the plan requires; empty for none.
	Dedicated Name
	// Regions where the plan is offered; nil means every region.
	Regions []Name
}

// Service is something a datacenter runs.
type Service string

// The services a datacenter can run.
const (
	Media Service = "media"
	KMS   Service = "kms"
)

// Datacenter is one DC. Its region is derived from its country, never declared.
type Datacenter struct {
	ID          string
	Pos         Pos
	Name        string
	Country     Name
	Location    geo.LatLon
	LocationPos Pos
	Capacity    int64
	Services    []Name
	// Dedicated is the DC's dedicated class; empty for general use.
	Dedicated Name
}

// Runs reports whether the datacenter lists service s.
func (d *Datacenter) Runs(s Service) bool {
	for _, n := range d.Services {
		if n.Value == string(s) {
			return true
		}
	}
	return false
}

// Defaults of the routing section.
const (
	DefaultPrimaryCount   = 3
	DefaultSecondaryCount = 2
	DefaultHighWatermark  = 0.8
)

// Routing is operations' part of the config: the lists clients get. After Parse the counts and
// the watermark hold their defaults when the file leaves them out.
type Routing struct {
	PrimaryCount   int
	SecondaryCount int
	HighWatermark  float64
	Regions        []*RegionRouting
}

// List names one of a region's routing lists.
type List string

// The routing lists of a region.
const (
	Primary   List = "primary"
	Secondary List = "secondary"
	KMSList   List = "kms"
)

// Lists is every routing list in a fixed order.
var Lists = [...]List{Primary, Secondary, KMSList}

// Service is the service a DC on the list must run.
func (l List) Service() Service {
	if l == KMSList {
		return KMS
	}
	return Media
}

// RegionRouting is the routing lists of one region.
type RegionRouting struct {
	Region    Name
	Primary   []Name
	Secondary []Name
	KMS       []Name
}

// List returns the named list.
func (r *RegionRouting) List(l List) []Name {
	switch l {
	case Primary:
		return r.Primary
	case Secondary:
		return r.Secondary
	case KMSList:
		return r.KMS
	}
	return nil
}

// AllRegions is the applies_to entry that means every region.
const AllRegions = "*"

// Rule is one residency rule, compliance's part of the config.
type Rule struct {
	ID        string
	Pos       Pos
	AppliesTo []Name // region ids or AllRegions
	Except    []Name // region ids
	Plans     []Name // nil means every plan
	Allow     []Name // countries; nil means any country
	Deny      []Name // countries
}

// Account is a static account.
type Account struct {
	ID   string
	Pos  Pos
	Plan Name
	// HomeRegion is where the account is headquartered; empty when not given, and then a
	// meeting's data region is the region of its host's country.
	HomeRegion Name
	// DataRegions is nil when not given (no narrowing); an empty non-nil list (written
	// `data_regions: []`) allows no datacenter at all, since data_regions only narrows.
	DataRegions []Name
	// DataRegionsPos is where data_regions' value is written; the zero Pos when not given.
	DataRegionsPos Pos
	// Keys are the Ed25519 public keys that sign the account's join tokens (DESIGN.md
	// section 10); nil when none are given. Kids are unique within the account.
	Keys []AccountKey
}

// AccountKey is one public key of an account, as written: `{kid: acme-2026, x: "..."}`.
type AccountKey struct {
	// KID is the key id a token names in its JWS header; it matches KIDPattern.
	KID string
	// X is the Ed25519 public key, base64url without padding (RFC 8037's "x"); Parse
	// accepts only exactly 32 bytes.
	X   string
	Pos Pos // where the key's mapping is written
}

// KIDPattern is what an account key's kid must match.
const KIDPattern = `^[A-Za-z0-9._-]{1,128}$`

// Codes of the problems Parse reports (the finding codes of DESIGN.md section 6).
const (
	CodeStructure = yamlstrict.CodeStructure
	CodeReference = "reference"
)

// Error is one problem in a config file.
type Error = yamlstrict.Error

// ErrorList is every problem found in one file, in file order.
type ErrorList = yamlstrict.ErrorList
