package config

import (
	"fmt"
	"strings"
)

// check reports the problems that span entries: unknown ids (reference), a country in two
// regions and lists naming DCs without the service they need (structure). It removes dangling
// references from c so that later stages see only ids that exist.
func (d *decoder) check(c *Config) {
	regions := make(map[string]*Region, len(c.Regions))
	for _, r := range c.Regions {
		regions[r.ID] = r
	}
	plans := make(map[string]*Plan, len(c.Plans))
	for _, p := range c.Plans {
		plans[p.ID] = p
	}
	dcs := make(map[string]*Datacenter, len(c.Datacenters))
	for _, dc := range c.Datacenters {
		dcs[dc.ID] = dc
	}
	// A reference to an entry that is declared but was dropped for its own (already
	// reported) errors is removed without a second, misleading "unknown" error.
	region := func(n Name, path string) bool {
		if regions[n.Value] == nil {
			if d.declared["regions"][n.Value] {
				return false
			}
			d.Errorf(n.Pos, path, CodeReference, "unknown region %q%s", n.Value, suggest(n.Value, keys(regions)))
			return false
		}
		return true
	}
	plan := func(n Name, path string) bool {
		if plans[n.Value] == nil {
			if d.declared["plans"][n.Value] {
				return false
			}
			d.Errorf(n.Pos, path, CodeReference, "unknown plan %q%s", n.Value, suggest(n.Value, keys(plans)))
			return false
		}
		return true
	}
	filter := func(ns []Name, path string, ok func(Name, string) bool) []Name {
		if ns == nil {
			return nil
		}
		out := ns[:0]
		for _, n := range ns {
			if ok(n, fmt.Sprintf("%s[%d]", path, n.Index)) {
				out = append(out, n)
			}
		}
		return out
	}

	if c.DefaultRegion.Value != "" && !region(c.DefaultRegion, "default_region") {
		c.DefaultRegion = Name{}
	}

	// A country belongs to at most one region.
	owner := map[string]string{}
	for _, r := range c.Regions {
		kept := r.Countries[:0]
		for _, cc := range r.Countries {
			if prev, dup := owner[cc.Value]; dup {
				d.Errorf(cc.Pos, fmt.Sprintf("regions.%s.countries[%d]", r.ID, cc.Index), CodeStructure,
					"country %s is in region %s and in region %s; a country belongs to at most one region", cc.Value, prev, r.ID)
				continue
			}
			owner[cc.Value] = r.ID
			kept = append(kept, cc)
		}
		r.Countries = kept
	}

	for _, p := range c.Plans {
		p.Regions = filter(p.Regions, "plans."+p.ID+".regions", region)
	}

	for _, rr := range c.Routing.Regions {
		path := "routing.regions." + rr.Region.Value
		if !region(rr.Region, path) {
			rr.Region.Value = "" // keep the lists for the DC checks, but bind them to nothing
		}
		for _, l := range Lists {
			lp := path + "." + string(l)
			seen := map[string]bool{}
			kept := filter(rr.List(l), lp, func(n Name, p string) bool {
				dc := dcs[n.Value]
				switch {
				case dc == nil && d.declared["datacenters"][n.Value]:
					return false
				case dc == nil:
					d.Errorf(n.Pos, p, CodeReference, "unknown datacenter %q%s", n.Value, suggest(n.Value, keys(dcs)))
					return false
				case seen[n.Value]:
					d.Errorf(n.Pos, p, CodeStructure, "datacenter %s is listed twice in %s", n.Value, lp)
					return false
				case !dc.Runs(l.Service()):
					d.Errorf(n.Pos, p, CodeStructure, "datacenter %s does not run %s, which the %s list needs", n.Value, l.Service(), l)
					return false
				}
				seen[n.Value] = true
				return true
			})
			switch l {
			case Primary:
				rr.Primary = kept
			case Secondary:
				rr.Secondary = kept
			case KMSList:
				rr.KMS = kept
			}
		}
	}

	for _, r := range c.Residency {
		path := "residency." + r.ID
		r.AppliesTo = filter(r.AppliesTo, path+".applies_to", func(n Name, p string) bool {
			return n.Value == AllRegions || region(n, p)
		})
		r.Except = filter(r.Except, path+".except", region)
		r.Plans = filter(r.Plans, path+".plans", plan)
	}

	// An account without a known plan, or naming an unknown home region, is dropped (its
	// errors are reported): kept with the reference cleared, it would silently become an
	// account of no plan, or one whose meetings go to their host's country's region instead
	// of the one written.
	accounts := c.Accounts[:0]
	for _, a := range c.Accounts {
		path := "accounts." + a.ID
		// A missing or empty plan is already reported by the parser.
		ok := a.Plan.Value != "" && plan(a.Plan, path+".plan")
		if a.HomeRegion.Value != "" && !region(a.HomeRegion, path+".home_region") {
			ok = false
		}
		// Dropping an unknown region from data_regions narrows further: it fails closed.
		a.DataRegions = filter(a.DataRegions, path+".data_regions", region)
		if ok {
			accounts = append(accounts, a)
		}
	}
	c.Accounts = accounts

	// Stores: known regions, each region in at most one store, one default store at most.
	storeOf := map[string]string{}
	var def *Store
	for _, st := range c.Stores {
		path := "stores." + st.ID
		st.Regions = filter(st.Regions, path+".regions", region)
		if st.Default() {
			if def != nil {
				d.Errorf(st.Pos, path, CodeStructure, "stores %s and %s both list no regions: only one store can be the default", def.ID, st.ID)
			}
			def = st
		}
		for i, r := range st.Regions {
			if other, dup := storeOf[r.Value]; dup {
				d.Errorf(r.Pos, fmt.Sprintf("%s.regions[%d]", path, i), CodeStructure, "region %s is already in store %s: a region's state lives in one store", r.Value, other)
				continue
			}
			storeOf[r.Value] = st.ID
		}
	}
	if c.Stores != nil && def == nil {
		for _, r := range c.Regions {
			if _, ok := storeOf[r.ID]; !ok {
				d.Errorf(r.Pos, "regions."+r.ID, CodeStructure, "region %s is in no store and no store is the default: list it under a store, or give one store no regions", r.ID)
			}
		}
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// suggest proposes the closest known id for a misspelt one.
func suggest(got string, known []string) string {
	// Only close matches: for a two-letter id every other two-letter id is two edits away.
	limit := min(3, len(got)/2+1)
	best, bestD := "", limit
	for _, k := range known {
		if dd := editDistance(strings.ToLower(got), strings.ToLower(k)); dd < bestD || dd == bestD && best != "" && k < best {
			best, bestD = k, dd
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
