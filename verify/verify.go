// Package verify is `geofence verify`: the static proof, before deploy, that no routing, backup
// or key-server list lets any user reach a datacenter its residency rules forbid (I2), that
// every region and plan can be served, and that capacity survives failures. It reports
// findings with the file:line:column of the list entry that would break a rule.
//
// It decides nothing itself: allowed-ness is policy.Model.Check, the same code selection
// runs, so what verify proves is what the directory does. Because selection only ever returns
// DCs in the allowed set before it looks at health or load, a config without residency
// findings is safe under every combination of failures; --failures only sizes the capacity
// check.
package verify

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/geofence/geofence/config"
	"github.com/geofence/geofence/policy"
)

// Severities.
const (
	Error   = "error"
	Warning = "warning"
)

// Finding codes beyond config's structure and reference (DESIGN.md section 6).
const (
	CodeResidency = "residency"
	CodeCoverage  = "coverage"
	CodeCapacity  = "capacity"
	CodeUnused    = "unused"
	CodeShadowed  = "shadowed"
	CodeNarrowing = "narrowing"
	CodeStore     = "store"
)

// Finding is one problem. Fields that do not apply are empty (Plans is an empty list).
type Finding struct {
	Severity   string   `json:"severity"`
	Code       string   `json:"code"`
	Region     string   `json:"region"`
	List       string   `json:"list"`
	Plans      []string `json:"plans"`
	Datacenter string   `json:"datacenter"`
	Rule       string   `json:"rule"`
	File       string   `json:"file"`
	Line       int      `json:"line"`
	Column     int      `json:"column"`
	Message    string   `json:"message"`
}

func (f *Finding) String() string {
	return fmt.Sprintf("%s:%d:%d: %s[%s]: %s", f.File, f.Line, f.Column, f.Severity, f.Code, f.Message)
}

// Report is the result of verifying one config.
type Report struct {
	OK       bool      `json:"ok"`
	Findings []Finding `json:"findings"`
}

// MaxFailures is the largest K the capacity check takes: more datacenters down at once than
// that is a disaster-recovery plan, not a capacity check (and with K at least the number of
// allowed DCs every region with a peak is short anyway).
const MaxFailures = 16

// Options tune the checks. The zero value is the default.
type Options struct {
	// Failures is K of the capacity check: how many of the largest allowed DCs are taken
	// down. 0 means 1; values above MaxFailures mean MaxFailures (`geofence verify
	// --failures` refuses them).
	Failures int
}

// File loads and verifies the config at path. A file that cannot be read is an error; every
// problem in its content is a finding.
func File(path string, opts Options) (*Report, *policy.Model, error) {
	c, err := config.Load(path)
	if c == nil {
		return nil, nil, err
	}
	errs, _ := err.(config.ErrorList)
	r, m := Config(c, errs, opts)
	return r, m, nil
}

// Config verifies a parsed config; errs are the problems Parse found in it. It returns the
// model when one could be built (even from a config with errors).
func Config(c *config.Config, errs config.ErrorList, opts Options) (*Report, *policy.Model) {
	v := &verifier{c: c, k: min(max(opts.Failures, 1), MaxFailures)}
	for _, e := range errs {
		v.add(Finding{Severity: Error, Code: e.Code, File: e.File, Line: e.Pos.Line, Column: e.Pos.Col,
			Message: pathMsg(e.Path, e.Msg)})
	}
	m, err := policy.New(c)
	if err == nil {
		v.m = m
		v.residency()
		v.coverage()
		v.capacity()
		v.unused()
		v.shadowed()
		v.narrowing()
		v.stores()
	} else if len(errs) == 0 {
		v.add(Finding{Severity: Error, Code: config.CodeStructure, File: c.File, Line: 1, Column: 1, Message: err.Error()})
	}
	sort.SliceStable(v.findings, func(i, j int) bool {
		a, b := &v.findings[i], &v.findings[j]
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column)) < 0
	})
	r := &Report{OK: true, Findings: v.findings}
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
	for _, f := range r.Findings {
		if f.Severity == Error {
			r.OK = false
		}
	}
	return r, m
}

func pathMsg(path, msg string) string {
	if path == "" {
		return msg
	}
	return path + ": " + msg
}

type verifier struct {
	c        *config.Config
	m        *policy.Model
	k        int
	findings []Finding
}

func (v *verifier) add(f Finding) {
	if f.Plans == nil {
		f.Plans = []string{}
	}
	if f.File == "" {
		f.File = v.c.File
	}
	v.findings = append(v.findings, f)
}

func (v *verifier) at(f Finding, p config.Pos) Finding {
	f.Line, f.Column = p.Line, p.Col
	return f
}

// residency: a list of region R holds a DC whose country the rules forbid for some plan
// offered in R that may use the DC's dedicated class (I2). One finding per (region, list, DC).
func (v *verifier) residency() {
	m := v.m
	for r := range m.Routes {
		rid := policy.RegionID(r)
		for _, l := range config.Lists {
			for _, e := range m.Routes[r].List(l) {
				dc := &m.DCs[e.DC]
				var plans []string
				var rules []int // each plan's first forbidding rule, distinct
				for p := range m.Plans {
					pl := &m.Plans[p]
					if !pl.OfferedIn(rid) || pl.Dedicated != dc.Dedicated {
						continue
					}
					if vd := m.Check(rid, policy.PlanID(p), e.DC); vd.Reason == policy.ByRule {
						plans = append(plans, pl.ID)
						if !slices.Contains(rules, vd.Rule) {
							rules = append(rules, vd.Rule)
						}
					}
				}
				if plans == nil {
					continue
				}
				// Plans may be forbidden by different rules: the finding names the first in
				// config order, the message every one, so it never blames a rule for a plan
				// the rule does not bind.
				slices.Sort(rules)
				names := make([]string, len(rules))
				for j, ri := range rules {
					names[j] = m.Rules[ri].ID
				}
				v.add(v.at(Finding{
					Severity: Error, Code: CodeResidency, Region: m.Regions[r].ID, List: string(l),
					Plans: plans, Datacenter: dc.ID, Rule: names[0],
					Message: fmt.Sprintf("routing.regions.%s.%s[%d]: datacenter %s in %s is forbidden by rule%s %s for plan%s %s of region %s; remove it from the list or change the rule",
						m.Regions[r].ID, l, e.Index, dc.ID, dc.Country.Code(), plural(names), strings.Join(names, ", "), plural(plans), strings.Join(plans, ", "), m.Regions[r].ID),
				}, e.Pos))
			}
		}
	}
}

// stores: the store that holds a region's meetings is in a country the rules forbid for some
// plan offered in the region (DESIGN.md section 9: the store is a location). One finding per
// (region, store), at the store's country.
func (v *verifier) stores() {
	m := v.m
	if len(m.Stores) == 0 {
		return
	}
	for r := range m.Regions {
		rid := policy.RegionID(r)
		st, ok := m.StoreOf(rid)
		if !ok {
			continue
		}
		var plans, rules []string
		for p := range m.Plans {
			if !m.Plans[p].OfferedIn(rid) {
				continue
			}
			if vd := m.CheckStore(rid, policy.PlanID(p), st); vd.Reason == policy.ByRule {
				plans = append(plans, m.Plans[p].ID)
				if id := m.Rules[vd.Rule].ID; !slices.Contains(rules, id) {
					rules = append(rules, id)
				}
			}
		}
		if plans == nil {
			continue
		}
		s := &m.Stores[st]
		v.add(v.at(Finding{
			Severity: Error, Code: CodeStore, Region: m.Regions[r].ID, Plans: plans, Rule: rules[0],
			Message: fmt.Sprintf("stores.%s.country: store %s in %s holds the meetings of region %s, but rule%s %s forbid%s %s for plan%s %s; give region %s a store in a country its rules allow",
				s.ID, s.ID, s.Country.Code(), m.Regions[r].ID, plural(rules), strings.Join(rules, ", "), verbS(rules), s.Country.Code(),
				plural(plans), strings.Join(plans, ", "), m.Regions[r].ID),
		}, s.Pos))
	}
}

// verbS is the -s of a verb whose subject is one item, or none for several.
func verbS[T any](s []T) string {
	if len(s) == 1 {
		return "s"
	}
	return ""
}

// routePos is where region r's routing (or list l of it) is written, else the region itself.
func (v *verifier) routePos(r policy.RegionID, l config.List) config.Pos {
	for _, rr := range v.c.Routing.Regions {
		if rr.Region.Value == v.m.Regions[r].ID {
			if ns := rr.List(l); len(ns) > 0 {
				return ns[0].Pos
			}
			return rr.Region.Pos
		}
	}
	return v.m.Regions[r].Pos
}

// coverage: every region and plan offered there has an allowed primary running media and an
// allowed key server running kms.
func (v *verifier) coverage() {
	m := v.m
	for r := range m.Regions {
		rid := policy.RegionID(r)
		for p := range m.Plans {
			pid := policy.PlanID(p)
			if !m.Plans[p].OfferedIn(rid) {
				continue
			}
			for _, l := range [...]config.List{config.Primary, config.KMSList} {
				ok := slices.ContainsFunc(m.Routes[r].List(l), func(e policy.Entry) bool {
					return m.Allows(rid, pid, e.DC) && m.DCs[e.DC].Runs(l.Service())
				})
				if ok {
					continue
				}
				what := "primary datacenter running media"
				if l == config.KMSList {
					what = "key server running kms"
				}
				v.add(v.at(Finding{
					Severity: Error, Code: CodeCoverage, Region: m.Regions[r].ID, List: string(l), Plans: []string{m.Plans[p].ID},
					Message: fmt.Sprintf("region %s has no allowed %s for plan %s; add one to routing.regions.%s.%s",
						m.Regions[r].ID, what, m.Plans[p].ID, m.Regions[r].ID, l),
				}, v.routePos(rid, l)))
			}
		}
	}
}

// capacity: with the K largest allowed DCs down, the allowed primary and secondary capacity of
// a region with a peak still covers the peak. It is checked for the plans offered there
// without a dedicated class (dedicated DCs are sized by their contract, not by the region's
// peak), or for all offered plans when every one is dedicated.
func (v *verifier) capacity() {
	m := v.m
	for r := range m.Regions {
		reg := &m.Regions[r]
		if reg.Peak <= 0 {
			continue
		}
		rid := policy.RegionID(r)
		var plans []policy.PlanID
		for p := range m.Plans {
			if m.Plans[p].OfferedIn(rid) && m.Plans[p].Dedicated == "" {
				plans = append(plans, policy.PlanID(p))
			}
		}
		if plans == nil {
			for p := range m.Plans {
				if m.Plans[p].OfferedIn(rid) {
					plans = append(plans, policy.PlanID(p))
				}
			}
		}
		var short []string
		var detail string
		for _, p := range plans {
			var caps []int64
			seen := map[policy.DCID]bool{}
			for _, l := range [...]config.List{config.Primary, config.Secondary} {
				for _, e := range m.Routes[r].List(l) {
					if !seen[e.DC] && m.Allows(rid, p, e.DC) && m.DCs[e.DC].Media {
						seen[e.DC] = true
						caps = append(caps, m.DCs[e.DC].Capacity)
					}
				}
			}
			slices.SortFunc(caps, func(a, b int64) int { return cmp.Compare(b, a) })
			var total int64
			for i, c := range caps {
				if i >= v.k {
					total += c
				}
			}
			if total < reg.Peak {
				short = append(short, m.Plans[p].ID)
				if detail == "" {
					detail = fmt.Sprintf("%d participants", total)
				}
			}
		}
		if short == nil {
			continue
		}
		v.add(v.at(Finding{
			Severity: Warning, Code: CodeCapacity, Region: reg.ID, Plans: short,
			Message: fmt.Sprintf("with its %d largest allowed datacenter%s down, region %s has %s of primary and secondary capacity for plan%s %s, under its peak of %d",
				v.k, pluralN(v.k), reg.ID, detail, plural(short), strings.Join(short, ", "), reg.Peak),
		}, reg.Pos))
	}
}

// unused: a DC on no list.
func (v *verifier) unused() {
	m := v.m
	on := policy.NewSet(len(m.DCs))
	for r := range m.Routes {
		for _, l := range config.Lists {
			for _, e := range m.Routes[r].List(l) {
				on.Add(int(e.DC))
			}
		}
	}
	for d := range m.DCs {
		if !on.Has(d) {
			v.add(v.at(Finding{Severity: Warning, Code: CodeUnused, Datacenter: m.DCs[d].ID,
				Message: fmt.Sprintf("datacenter %s is on no routing list", m.DCs[d].ID)}, m.DCs[d].Pos))
		}
	}
}

// shadowed: a DC on both the primary and the secondary list of one region can never be a
// secondary while it is a usable primary.
func (v *verifier) shadowed() {
	m := v.m
	for r := range m.Routes {
		for _, e := range m.Routes[r].Secondary {
			if slices.ContainsFunc(m.Routes[r].Primary, func(p policy.Entry) bool { return p.DC == e.DC }) {
				v.add(v.at(Finding{Severity: Warning, Code: CodeShadowed, Region: m.Regions[r].ID, List: string(config.Secondary),
					Datacenter: m.DCs[e.DC].ID,
					Message: fmt.Sprintf("routing.regions.%s.secondary[%d]: datacenter %s is also on the primary list of region %s",
						m.Regions[r].ID, e.Index, m.DCs[e.DC].ID, m.Regions[r].ID)}, e.Pos))
			}
		}
	}
}

// narrowing (warning): an account whose data_regions leave it no datacenter at all, or none
// its own meetings can use: no allowed media datacenter on the primary or secondary list, or
// no allowed key server, of its home region for its plan. Such an account is safe (every join
// is refused, I4) but unusable, which is rarely what was meant; `data_regions: []` in
// particular is easily written for "no narrowing", which is leaving the key out.
func (v *verifier) narrowing() {
	m := v.m
	for _, ca := range v.c.Accounts {
		a := m.Accounts[ca.ID]
		if a == nil || a.Narrowing() == nil {
			continue
		}
		p := ca.DataRegionsPos
		if p == (config.Pos{}) {
			p = ca.Pos
		}
		f := Finding{Severity: Warning, Code: CodeNarrowing, Plans: []string{m.Plans[a.Plan].ID}}
		path := "accounts." + ca.ID + ".data_regions"
		regions := make([]string, len(a.DataRegions))
		for i, r := range a.DataRegions {
			regions[i] = m.Regions[r].ID
		}
		n := a.Narrowing()
		if n.Len() == 0 {
			why := "its data_regions is empty"
			if len(regions) > 0 {
				why = fmt.Sprintf("no datacenter is located in its data_regions %s", strings.Join(regions, ", "))
			}
			f.Message = fmt.Sprintf("%s: account %s can use no datacenter: %s; list the regions it may use, or leave data_regions out for no narrowing",
				path, ca.ID, why)
			v.add(v.at(f, p))
			continue
		}
		if a.HomeRegion == policy.None {
			continue // its meetings' region depends on where the host joins from
		}
		home := a.HomeRegion
		f.Region = m.Regions[home].ID
		for _, need := range [...]struct {
			list  config.List // the list the finding names
			lists []config.List
			what  string
		}{
			{config.Primary, []config.List{config.Primary, config.Secondary}, "primary or secondary datacenter"},
			{config.KMSList, []config.List{config.KMSList}, "key server"},
		} {
			ok := slices.ContainsFunc(need.lists, func(l config.List) bool {
				return slices.ContainsFunc(m.Routes[home].List(l), func(e policy.Entry) bool {
					return n.Has(int(e.DC)) && m.Allows(home, a.Plan, e.DC) && m.DCs[e.DC].Runs(l.Service())
				})
			})
			if ok {
				continue
			}
			f.List = string(need.list)
			f.Message = fmt.Sprintf("%s: account %s can host no meeting: no allowed %s of its home region %s is in its data_regions %s",
				path, ca.ID, need.what, f.Region, strings.Join(regions, ", "))
			v.add(v.at(f, p))
		}
	}
}

func plural[T any](s []T) string { return pluralN(len(s)) }

func pluralN(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
