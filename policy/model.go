// Package policy is Geofence's model: the immutable snapshot of regions, plans, datacenters,
// routing lists, residency rules and accounts built once from a config, and the rule
// evaluation that says whether a datacenter is allowed for a region and plan, and why not.
//
// Everything that decides residency calls this package: the verifier (package verify), the
// selection function (package route) and, through it, the directory, key servers and media
// servers. So what verify proves is what runs. It does no I/O and holds no live state.
package policy

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"slices"

	"github.com/geofence/geofence/config"
	"github.com/geofence/geofence/geo"
)

// RegionID, PlanID and DCID are dense indexes into a Model's slices.
type (
	RegionID int16
	PlanID   int16
	DCID     int32
)

// None is the "no such entity" value of every index type.
const None = -1

// Region is a geofence: a named set of countries.
type Region struct {
	ID        string
	Name      string
	Peak      int64
	Countries []geo.Country
	Pos       config.Pos
}

// Plan is a class of account.
type Plan struct {
	ID        string
	Dedicated string // the dedicated class its users must use; "" for none
	offered   Set    // regions where the plan is offered; nil means all
	Pos       config.Pos
}

// OfferedIn reports whether the plan is offered in region r.
func (p *Plan) OfferedIn(r RegionID) bool { return p.offered == nil || p.offered.Has(int(r)) }

// DC is a datacenter.
type DC struct {
	ID        string
	Name      string
	Country   geo.Country
	Region    RegionID // derived from the country
	Location  geo.LatLon
	Point     geo.Point // Location on the unit sphere, for comparing distances
	Capacity  int64
	Media     bool
	KMS       bool
	Dedicated string // "" for general use
	Pos       config.Pos
}

// Runs reports whether the DC runs service s.
func (d *DC) Runs(s config.Service) bool {
	switch s {
	case config.Media:
		return d.Media
	case config.KMS:
		return d.KMS
	}
	return false
}

// Route is the routing lists of one region; an entry's Pos is where the file lists it.
type Route struct {
	Primary, Secondary, KMS []Entry
}

// Entry is one datacenter on a routing list.
type Entry struct {
	DC    DCID
	Pos   config.Pos
	Index int // its position in the list as written
}

// List returns the named list.
func (r *Route) List(l config.List) []Entry {
	switch l {
	case config.Primary:
		return r.Primary
	case config.Secondary:
		return r.Secondary
	case config.KMSList:
		return r.KMS
	}
	return nil
}

// Rule is a residency rule.
type Rule struct {
	ID      string
	Pos     config.Pos
	all     bool // applies_to "*"
	applies Set  // regions named in applies_to
	except  Set  // regions excluded
	plans   Set  // nil: every plan
	allow   Set  // countries; nil: any
	deny    Set  // countries
}

// AppliesTo reports whether the rule binds users of region r on plan p.
func (r *Rule) AppliesTo(reg RegionID, p PlanID) bool {
	if r.except.Has(int(reg)) {
		return false
	}
	if !r.all && !r.applies.Has(int(reg)) {
		return false
	}
	return r.plans == nil || r.plans.Has(int(p))
}

// Forbids reports whether the rule forbids country c (it does not check AppliesTo).
func (r *Rule) Forbids(c geo.Country) bool {
	return r.allow != nil && !r.allow.Has(int(c)) || r.deny.Has(int(c))
}

// Account is an account: its plan, where it is headquartered and the regions it narrows its
// data to.
type Account struct {
	ID   string
	Plan PlanID
	// HomeRegion is where the account is headquartered, or None when it has none: a
	// meeting's data region is then the region of its host's country (DESIGN.md section 2).
	// Check for None before indexing Model.Regions with it.
	HomeRegion  RegionID
	DataRegions []RegionID // nil: no narrowing
	// Keys are the Ed25519 public keys that sign the account's join tokens (DESIGN.md
	// section 10), kids unique; nil when it has none. They must not be modified.
	Keys   []AccountKey
	narrow Set // DCs inside DataRegions; nil: no narrowing
}

// AccountKey is one of an account's public keys: a join token whose JWS header names KID is
// verified with Public.
type AccountKey struct {
	KID    string
	Public ed25519.PublicKey
}

// Key returns the account's public key with key id kid. The key must not be modified.
func (a *Account) Key(kid string) (ed25519.PublicKey, bool) {
	for i := range a.Keys {
		if a.Keys[i].KID == kid {
			return a.Keys[i].Public, true
		}
	}
	return nil, false
}

// Narrowing is the set of DCs the account allows, nil when it does not narrow.
func (a *Account) Narrowing() Set { return a.narrow }

// Model is an immutable snapshot of a config. Build one with New; it is safe for concurrent
// use and never changes: a new config is a new Model.
type Model struct {
	Config         *config.Config
	Regions        []Region
	Plans          []Plan
	DCs            []DC
	Rules          []Rule
	Routes         []Route // indexed by RegionID; empty for a region with no routing
	Accounts       map[string]*Account
	Stores         []Store // where shared state lives; empty when the config declares none
	DefaultRegion  RegionID
	PrimaryCount   int
	SecondaryCount int
	HighWatermark  float64

	regionByID    map[string]RegionID
	planByID      map[string]PlanID
	dcByID        map[string]DCID
	countryRegion [geo.NumCountries]RegionID
	regionDCs     []Set     // DCs located in each region
	storeOf       []StoreID // the store of each region; None when there is none
	allowed       []Set     // [region*len(Plans)+plan]: DCs allowed by rules and dedicated class
}

// New builds the model of a config. It accepts a config that Parse found problems in and uses
// only its well-formed entries (Parse removes the rest), so verify can still check what it
// can; a config without a default region cannot be modelled.
func New(c *config.Config) (*Model, error) {
	m := &Model{
		Config:         c,
		Accounts:       map[string]*Account{},
		PrimaryCount:   c.Routing.PrimaryCount,
		SecondaryCount: c.Routing.SecondaryCount,
		HighWatermark:  c.Routing.HighWatermark,
		regionByID:     map[string]RegionID{},
		planByID:       map[string]PlanID{},
		dcByID:         map[string]DCID{},
	}
	for _, r := range c.Regions {
		m.regionByID[r.ID] = RegionID(len(m.Regions))
		reg := Region{ID: r.ID, Name: r.Name, Peak: r.Peak, Pos: r.Pos}
		for _, cc := range r.Countries {
			if k, ok := geo.LookupCountry(cc.Value); ok {
				reg.Countries = append(reg.Countries, k)
			}
		}
		m.Regions = append(m.Regions, reg)
	}
	def, ok := m.regionByID[c.DefaultRegion.Value]
	if !ok {
		return nil, fmt.Errorf("build model: config has no valid default_region")
	}
	m.DefaultRegion = def
	for i := range m.countryRegion {
		m.countryRegion[i] = def
	}
	for ri, r := range m.Regions {
		for _, k := range r.Countries {
			m.countryRegion[k] = RegionID(ri)
		}
	}
	for _, p := range c.Plans {
		m.planByID[p.ID] = PlanID(len(m.Plans))
		pl := Plan{ID: p.ID, Dedicated: p.Dedicated.Value, Pos: p.Pos}
		if p.Regions != nil {
			pl.offered = NewSet(len(m.Regions))
			for _, n := range p.Regions {
				if r, ok := m.regionByID[n.Value]; ok {
					pl.offered.Add(int(r))
				}
			}
		}
		m.Plans = append(m.Plans, pl)
	}
	m.regionDCs = make([]Set, len(m.Regions))
	for i := range m.regionDCs {
		m.regionDCs[i] = NewSet(len(c.Datacenters))
	}
	for _, d := range c.Datacenters {
		k, ok := geo.LookupCountry(d.Country.Value)
		if !ok {
			continue
		}
		id := DCID(len(m.DCs))
		m.dcByID[d.ID] = id
		dc := DC{
			ID: d.ID, Name: d.Name, Country: k, Region: m.countryRegion[k], Location: d.Location, Point: d.Location.Point(),
			Capacity: d.Capacity, Media: d.Runs(config.Media), KMS: d.Runs(config.KMS),
			Dedicated: d.Dedicated.Value, Pos: d.Pos,
		}
		m.regionDCs[dc.Region].Add(int(id))
		m.DCs = append(m.DCs, dc)
	}
	m.Routes = make([]Route, len(m.Regions))
	for _, rr := range c.Routing.Regions {
		r, ok := m.regionByID[rr.Region.Value]
		if !ok {
			continue
		}
		entries := func(ns []config.Name) []Entry {
			out := make([]Entry, 0, len(ns))
			for _, n := range ns {
				if d, ok := m.dcByID[n.Value]; ok {
					out = append(out, Entry{DC: d, Pos: n.Pos, Index: n.Index})
				}
			}
			return out
		}
		m.Routes[r] = Route{Primary: entries(rr.Primary), Secondary: entries(rr.Secondary), KMS: entries(rr.KMS)}
	}
	for _, cr := range c.Residency {
		r := Rule{ID: cr.ID, Pos: cr.Pos, applies: NewSet(len(m.Regions)), except: NewSet(len(m.Regions)), deny: NewSet(geo.NumCountries)}
		for _, n := range cr.AppliesTo {
			if n.Value == config.AllRegions {
				r.all = true
			} else if id, ok := m.regionByID[n.Value]; ok {
				r.applies.Add(int(id))
			}
		}
		for _, n := range cr.Except {
			if id, ok := m.regionByID[n.Value]; ok {
				r.except.Add(int(id))
			}
		}
		if cr.Plans != nil {
			r.plans = NewSet(len(m.Plans))
			for _, n := range cr.Plans {
				if id, ok := m.planByID[n.Value]; ok {
					r.plans.Add(int(id))
				}
			}
		}
		if cr.Allow != nil {
			r.allow = NewSet(geo.NumCountries)
			for _, n := range cr.Allow {
				if k, ok := geo.LookupCountry(n.Value); ok {
					r.allow.Add(int(k))
				}
			}
		}
		for _, n := range cr.Deny {
			if k, ok := geo.LookupCountry(n.Value); ok {
				r.deny.Add(int(k))
			}
		}
		m.Rules = append(m.Rules, r)
	}
	m.allowed = make([]Set, len(m.Regions)*len(m.Plans))
	for r := range m.Regions {
		for p := range m.Plans {
			s := NewSet(len(m.DCs))
			for d := range m.DCs {
				if v := m.Check(RegionID(r), PlanID(p), DCID(d)); v.Allowed() {
					s.Add(d)
				}
			}
			m.allowed[r*len(m.Plans)+p] = s
		}
	}
	m.buildStores(c)
	for _, a := range c.Accounts {
		plan, ok := m.planByID[a.Plan.Value]
		if !ok {
			continue // reported by config
		}
		// Without home_region a meeting's data region is its host's country's: None here.
		home := RegionID(None)
		if a.HomeRegion.Value != "" {
			if home, ok = m.regionByID[a.HomeRegion.Value]; !ok {
				continue // reported by config
			}
		}
		var data []RegionID
		if a.DataRegions != nil {
			data = []RegionID{}
			for _, n := range a.DataRegions {
				if id, ok := m.regionByID[n.Value]; ok {
					data = append(data, id)
				}
			}
		}
		acct := m.NewAccount(a.ID, plan, home, data)
		for _, k := range a.Keys {
			// config accepts only 32-byte keys in base64url; anything else is skipped, so a
			// config built by hand cannot put a malformed key in the model.
			if pub, err := base64.RawURLEncoding.Strict().DecodeString(k.X); err == nil && len(pub) == ed25519.PublicKeySize && k.KID != "" {
				if _, dup := acct.Key(k.KID); !dup {
					acct.Keys = append(acct.Keys, AccountKey{KID: k.KID, Public: ed25519.PublicKey(pub)})
				}
			}
		}
		m.Accounts[a.ID] = acct
	}
	return m, nil
}

// NewAccount makes an account for this model (the directory adds accounts at run time).
// home is None for an account without a home region. dataRegions nil means no narrowing; an
// empty non-nil slice allows no DC at all.
func (m *Model) NewAccount(id string, plan PlanID, home RegionID, dataRegions []RegionID) *Account {
	return &Account{ID: id, Plan: plan, HomeRegion: home, DataRegions: dataRegions, narrow: m.NarrowTo(dataRegions)}
}

// Region returns the index of a region id.
func (m *Model) Region(id string) (RegionID, bool) { r, ok := m.regionByID[id]; return r, ok }

// Plan returns the index of a plan id.
func (m *Model) Plan(id string) (PlanID, bool) { p, ok := m.planByID[id]; return p, ok }

// DC returns the index of a datacenter id.
func (m *Model) DC(id string) (DCID, bool) { d, ok := m.dcByID[id]; return d, ok }

// RegionOf is the region of a country: the region listing it, else the default region.
func (m *Model) RegionOf(c geo.Country) RegionID {
	if c < 0 || int(c) >= len(m.countryRegion) {
		return m.DefaultRegion
	}
	return m.countryRegion[c]
}

// Reason says why a datacenter is not allowed.
type Reason uint8

// The reasons, in the order they are checked.
const (
	Allowed   Reason = iota
	ByRule           // a residency rule forbids its country
	Dedicated        // its dedicated class differs from the plan's
	ByAccount        // it is outside the host account's data_regions
)

func (r Reason) String() string {
	switch r {
	case Allowed:
		return "allowed"
	case ByRule:
		return "rule"
	case Dedicated:
		return "dedicated"
	case ByAccount:
		return "account"
	}
	return fmt.Sprintf("Reason(%d)", r)
}

// Verdict is the outcome of checking a datacenter for a region and plan.
type Verdict struct {
	Reason Reason
	Rule   int // index into Rules of the first forbidding rule when Reason is ByRule, else -1
}

// Allowed reports whether the verdict allows the datacenter.
func (v Verdict) Allowed() bool { return v.Reason == Allowed }

// Check says whether datacenter d is allowed for users of region r on plan p (DESIGN.md
// section 5): every rule that applies to (r, p) allows its country and none denies it, and
// its dedicated class is the plan's (I3). The first forbidding rule, in config order, is named.
func (m *Model) Check(r RegionID, p PlanID, d DCID) Verdict {
	dc := &m.DCs[d]
	for i := range m.Rules {
		rule := &m.Rules[i]
		if rule.AppliesTo(r, p) && rule.Forbids(dc.Country) {
			return Verdict{Reason: ByRule, Rule: i}
		}
	}
	if dc.Dedicated != m.Plans[p].Dedicated {
		return Verdict{Reason: Dedicated, Rule: -1}
	}
	return Verdict{Reason: Allowed, Rule: -1}
}

// Allows is the precomputed form of Check(r, p, d).Allowed(), for hot paths.
func (m *Model) Allows(r RegionID, p PlanID, d DCID) bool {
	return m.allowed[int(r)*len(m.Plans)+int(p)].Has(int(d))
}

// AllowedSet is the set of DCs Check allows for (r, p). It must not be modified.
func (m *Model) AllowedSet(r RegionID, p PlanID) Set {
	return m.allowed[int(r)*len(m.Plans)+int(p)]
}

// WithCapacities is the model of m's config with the capacities of some DCs changed (DC id to
// participants), as an operator adding capacity makes it; the config is copied, m is not
// changed. A DC the config does not have is an error.
func (m *Model) WithCapacities(capacity map[string]int64) (*Model, error) {
	c := *m.Config
	c.Datacenters = slices.Clone(c.Datacenters)
	for id, n := range capacity {
		i := slices.IndexFunc(c.Datacenters, func(d *config.Datacenter) bool { return d.ID == id })
		if i < 0 {
			return nil, fmt.Errorf("change the capacity of %s: the config has no such datacenter", id)
		}
		d := *c.Datacenters[i]
		d.Capacity = n
		c.Datacenters[i] = &d
	}
	return New(&c)
}
