// Package diff compares what two configs let users reach: per region, plan and routing list,
// the datacenters and countries newly reachable and no longer reachable. A config repository
// gates a change on it (`geofence diff OLD NEW --fail-on-widen`): a change of routing lists
// that makes any country newly reachable is a widening compliance must sign off, and a new
// config that does not verify (one listing a datacenter its rules forbid, say) is stopped
// too, since comparing reach alone would let it through.
//
// Reach is computed with policy.Model.Check, the rule evaluation selection runs; whether a
// config verifies is package verify's answer, not this package's.
package diff

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/geofence/geofence/config"
	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/verify"
)

// Change is what one list of one region can reach for one plan, before and after.
type Change struct {
	Region             string   `json:"region"`
	Plan               string   `json:"plan"`
	List               string   `json:"list"`
	AddedDatacenters   []string `json:"added_datacenters"`
	RemovedDatacenters []string `json:"removed_datacenters"`
	AddedCountries     []string `json:"added_countries"`
	RemovedCountries   []string `json:"removed_countries"`
	// AddedForbidden are DCs newly on the list that the rules forbid for this plan: no user
	// can reach them (selection never returns them), but verify rejects the config.
	AddedForbidden []string `json:"added_forbidden"`
}

// Result is the whole comparison.
type Result struct {
	// Widened is true when the lists of some region can newly reach a country for some plan.
	Widened bool     `json:"widened"`
	Changes []Change `json:"changes"`
}

// Comparison is what `geofence diff` says about two config files: the changes between their
// models and whether each file verifies. Its JSON is Result's with the verdicts beside it.
type Comparison struct {
	Result
	OldOK bool `json:"old_ok"` // OLD verifies
	NewOK bool `json:"new_ok"` // NEW verifies
	// NewErrors are NEW's error findings as `geofence verify` reports them; empty when NewOK.
	NewErrors []verify.Finding `json:"new_errors"`
}

// Compare compares two configs that verify has checked: each one's report and the model
// verify built from it (nil for none).
func Compare(oldRep *verify.Report, old *policy.Model, newRep *verify.Report, new *policy.Model) *Comparison {
	c := &Comparison{Result: *Models(old, new), OldOK: oldRep.OK, NewOK: newRep.OK, NewErrors: []verify.Finding{}}
	for _, f := range newRep.Findings {
		if f.Severity == verify.Error {
			c.NewErrors = append(c.NewErrors, f)
		}
	}
	return c
}

// Blocked reports whether a gate (--fail-on-widen) must stop the change: it lets some user
// newly reach a country, or NEW does not verify, in particular when its lists name
// datacenters its rules forbid. Whether OLD verifies does not matter: fixing a broken config
// must be possible.
func (c *Comparison) Blocked() bool {
	if c.Widened || !c.NewOK {
		return true
	}
	for _, ch := range c.Changes {
		if len(ch.AddedForbidden) > 0 {
			return true
		}
	}
	return false
}

// reach is the DC ids (and their countries) a list lets a (region, plan) reach.
type reach map[string]string

// reachOf returns what list l of region lets users of plan reach, and the DCs on it that the
// rules forbid them.
func reachOf(m *policy.Model, region, plan string, l config.List) (reachable, forbidden reach) {
	reachable, forbidden = reach{}, reach{}
	if m == nil {
		return
	}
	r, ok1 := m.Region(region)
	p, ok2 := m.Plan(plan)
	if !ok1 || !ok2 || !m.Plans[p].OfferedIn(r) {
		return
	}
	for _, e := range m.Routes[r].List(l) {
		dc := &m.DCs[e.DC]
		switch {
		case !dc.Runs(l.Service()):
		case m.Allows(r, p, e.DC):
			reachable[dc.ID] = dc.Country.Code()
		case dc.Dedicated == m.Plans[p].Dedicated && m.Check(r, p, e.DC).Reason == policy.ByRule:
			forbidden[dc.ID] = dc.Country.Code()
		}
	}
	return
}

// Models compares two models. Either may be nil (nothing reachable).
func Models(old, new *policy.Model) *Result {
	res := &Result{Changes: []Change{}}
	regions := ids(old, new, func(m *policy.Model) []string {
		out := make([]string, len(m.Regions))
		for i := range m.Regions {
			out[i] = m.Regions[i].ID
		}
		return out
	})
	plans := ids(old, new, func(m *policy.Model) []string {
		out := make([]string, len(m.Plans))
		for i := range m.Plans {
			out[i] = m.Plans[i].ID
		}
		return out
	})
	for _, r := range regions {
		for _, p := range plans {
			// Widening is judged on what the region's lists reach together: moving a DC
			// from the secondary to the primary list lets no one reach anything new.
			before, after := reach{}, reach{}
			for _, l := range config.Lists {
				a, af := reachOf(old, r, p, l)
				b, bf := reachOf(new, r, p, l)
				for _, c := range a {
					before[c] = c
				}
				for _, c := range b {
					after[c] = c
				}
				c := Change{Region: r, Plan: p, List: string(l),
					AddedDatacenters: minus(b, a), RemovedDatacenters: minus(a, b),
					AddedCountries: minus(countries(b), countries(a)), RemovedCountries: minus(countries(a), countries(b)),
					AddedForbidden: minus(bf, af)}
				if len(c.AddedDatacenters)+len(c.RemovedDatacenters)+len(c.AddedCountries)+len(c.RemovedCountries)+len(c.AddedForbidden) == 0 {
					continue
				}
				res.Changes = append(res.Changes, c)
			}
			if len(minus(after, before)) > 0 {
				res.Widened = true
			}
		}
	}
	return res
}

// ids is the union of ids of both models: old's order, then new's additions.
func ids(old, new *policy.Model, of func(*policy.Model) []string) []string {
	var out []string
	for _, m := range []*policy.Model{old, new} {
		if m == nil {
			continue
		}
		for _, id := range of(m) {
			if !slices.Contains(out, id) {
				out = append(out, id)
			}
		}
	}
	return out
}

func countries(r reach) reach {
	out := reach{}
	for _, c := range r {
		out[c] = c
	}
	return out
}

func minus(a, b reach) []string {
	out := []string{}
	for k := range a {
		if _, ok := b[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// WriteText renders r for people, one line per change.
func WriteText(w io.Writer, r *Result) {
	if len(r.Changes) == 0 {
		fmt.Fprintln(w, "no change in what any region, plan or list can reach")
		return
	}
	for _, c := range r.Changes {
		var parts []string
		if len(c.AddedDatacenters) > 0 {
			parts = append(parts, "+ "+strings.Join(c.AddedDatacenters, " "))
		}
		if len(c.RemovedDatacenters) > 0 {
			parts = append(parts, "- "+strings.Join(c.RemovedDatacenters, " "))
		}
		if len(c.AddedCountries) > 0 {
			parts = append(parts, "newly reaches "+strings.Join(c.AddedCountries, " "))
		}
		if len(c.RemovedCountries) > 0 {
			parts = append(parts, "no longer reaches "+strings.Join(c.RemovedCountries, " "))
		}
		if len(c.AddedForbidden) > 0 {
			parts = append(parts, "lists "+strings.Join(c.AddedForbidden, " ")+" which the rules forbid (unreachable; verify rejects it)")
		}
		fmt.Fprintf(w, "%s/%s %s: %s\n", c.Region, c.Plan, c.List, strings.Join(parts, "; "))
	}
	if r.Widened {
		fmt.Fprintln(w, "widened: some users can newly reach a country")
	}
}
