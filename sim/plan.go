package sim

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"text/tabwriter"

	"github.com/geofence/geofence/config"
	"github.com/geofence/geofence/policy"
)

// Comparison is the same scenario and seed run on two configs (--compare): the demand is the
// same join for join (every draw of a meeting is made before the directory answers), so the
// differences are the configs'.
type Comparison struct {
	Base, New *Summary `json:"-"`
	// Refused and Spilled are the new config's figures minus the base's.
	Refused       int64            `json:"refused"`
	RefusedByCode map[string]int64 `json:"refused_by_code"`
	Spilled       int64            `json:"spilled"`
	Secondaries   int64            `json:"secondaries"`
	Regions       []RegionDelta    `json:"regions"`
	// NewlyUsed are DCs the new config placed participants at and the base did not;
	// NoLongerUsed the reverse.
	NewlyUsed    []string  `json:"newly_used"`
	NoLongerUsed []string  `json:"no_longer_used"`
	DCs          []DCDelta `json:"datacenters"`
	// Violations of either run (a bug).
	Violations int64 `json:"violations"`
}

// RegionDelta is one region's change.
type RegionDelta struct {
	ID          string  `json:"id"`
	BaseRefused int64   `json:"base_refused"`
	NewRefused  int64   `json:"new_refused"`
	BaseRate    float64 `json:"base_refusal_rate"`
	NewRate     float64 `json:"new_refusal_rate"`
	BaseSpilled int64   `json:"base_spilled"`
	NewSpilled  int64   `json:"new_spilled"`
}

// DCDelta is one DC's change; a DC only one config has shows zeros for the other.
type DCDelta struct {
	ID             string  `json:"id"`
	BasePlacements int64   `json:"base_placements"`
	NewPlacements  int64   `json:"new_placements"`
	BasePeak       float64 `json:"base_peak_utilization"`
	NewPeak        float64 `json:"new_peak_utilization"`
}

// Compare compares two results of the same scenario and seed.
func Compare(base, next *Result) *Comparison {
	b, n := &base.Summary, &next.Summary
	c := &Comparison{Base: b, New: n, Refused: n.Refused - b.Refused, Spilled: n.Spilled - b.Spilled,
		Secondaries: n.Secondaries - b.Secondaries, RefusedByCode: map[string]int64{}, Violations: b.Violations + n.Violations,
		NewlyUsed: []string{}, NoLongerUsed: []string{}}
	for k, v := range n.RefusedByCode {
		c.RefusedByCode[k] += v
	}
	for k, v := range b.RefusedByCode {
		c.RefusedByCode[k] -= v
	}
	for k, v := range c.RefusedByCode {
		if v == 0 {
			delete(c.RefusedByCode, k)
		}
	}
	for i := range n.Regions {
		nr := &n.Regions[i]
		d := RegionDelta{ID: nr.ID, NewRefused: nr.Refused, NewRate: nr.RefusalRate, NewSpilled: nr.Spilled}
		if j := slices.IndexFunc(b.Regions, func(r RegionSummary) bool { return r.ID == nr.ID }); j >= 0 {
			br := &b.Regions[j]
			d.BaseRefused, d.BaseRate, d.BaseSpilled = br.Refused, br.RefusalRate, br.Spilled
		}
		c.Regions = append(c.Regions, d)
	}
	dcs := map[string]*DCDelta{}
	var ids []string
	get := func(id string) *DCDelta {
		if d, ok := dcs[id]; ok {
			return d
		}
		dcs[id] = &DCDelta{ID: id}
		ids = append(ids, id)
		return dcs[id]
	}
	for _, d := range b.Datacenters {
		x := get(d.ID)
		x.BasePlacements, x.BasePeak = d.Placements, d.PeakUtilization
	}
	for _, d := range n.Datacenters {
		x := get(d.ID)
		x.NewPlacements, x.NewPeak = d.Placements, d.PeakUtilization
	}
	for _, id := range ids {
		d := dcs[id]
		c.DCs = append(c.DCs, *d)
		switch {
		case d.NewPlacements > 0 && d.BasePlacements == 0:
			c.NewlyUsed = append(c.NewlyUsed, id)
		case d.NewPlacements == 0 && d.BasePlacements > 0:
			c.NoLongerUsed = append(c.NoLongerUsed, id)
		}
	}
	return c
}

// Write writes the comparison for a person.
func (c *Comparison) Write(w io.Writer, baseName, newName string) {
	fmt.Fprintf(w, "%s -> %s, same scenario and seed (%d joins)\n", baseName, newName, c.New.Joins)
	fmt.Fprintf(w, "refused: %d -> %d (%+d); by code: %s\n", c.Base.Refused, c.New.Refused, c.Refused, signed(c.RefusedByCode))
	fmt.Fprintf(w, "spilled: %d -> %d (%+d); secondaries handed out: %d -> %d (%+d)\n", c.Base.Spilled, c.New.Spilled, c.Spilled,
		c.Base.Secondaries, c.New.Secondaries, c.Secondaries)
	fmt.Fprintf(w, "datacenters newly used: %s; no longer used: %s\n", list(c.NewlyUsed), list(c.NoLongerUsed))
	fmt.Fprintf(w, "\nregions:\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  id\trefused\trefusal rate\tspilled\n")
	for _, r := range c.Regions {
		fmt.Fprintf(tw, "  %s\t%d -> %d\t%.2f%% -> %.2f%%\t%d -> %d\n", r.ID, r.BaseRefused, r.NewRefused, 100*r.BaseRate, 100*r.NewRate, r.BaseSpilled, r.NewSpilled)
	}
	tw.Flush()
	fmt.Fprintf(w, "\ndatacenters:\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  id\tplacements\tpeak utilization\n")
	for _, d := range c.DCs {
		if d.BasePlacements != d.NewPlacements || d.BasePeak != d.NewPeak {
			fmt.Fprintf(tw, "  %s\t%d -> %d\t%.3f -> %.3f\n", d.ID, d.BasePlacements, d.NewPlacements, d.BasePeak, d.NewPeak)
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "\nresidency violations found by admission: %d\n", c.Violations)
}

func signed(m map[string]int64) string {
	if len(m) == 0 {
		return "no change"
	}
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s %+d", k, m[k]))
	}
	return fmt.Sprint(parts)
}

func list(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return fmt.Sprint(s)
}

// PeakOptions tune FindPeak. The zero value is the default.
type PeakOptions struct {
	// MaxRefusalRate is the share of a region's joins that may be refused for capacity
	// (no_capacity); 0: none. Residency and plan refusals do not depend on load and are not
	// counted.
	MaxRefusalRate float64
	// Failures is K: for each region, its K largest allowed DCs (of its primary and secondary
	// lists, for its hosts' first plan) are down for the whole run. 0: no failure case.
	Failures int
	// Precision is the relative width at which the search stops; default 0.02.
	Precision float64
	// MaxMultiplier bounds the search; default 1000.
	MaxMultiplier float64
	// Progress, when set, is told of every run.
	Progress func(multiplier float64, down []string)
}

// Peak is the largest multiplier of the scenario a region carries.
type Peak struct {
	Region string `json:"region"`
	// Multiplier is the largest multiplier found within the rate (to Precision); Limited is
	// true when the search reached MaxMultiplier without a refusal.
	Multiplier float64 `json:"multiplier"`
	Limited    bool    `json:"limited"`
	// Down and MultiplierDown are the failure case: its K largest DCs down.
	Down           []string `json:"down"`
	MultiplierDown float64  `json:"multiplier_down"`
	LimitedDown    bool     `json:"limited_down"`
}

// FindPeak finds, for each region of the scenario, the largest multiplier of the scenario
// (opts.Scenario.Multiplier is overridden) under which the region's participants are refused
// for capacity at most at the given rate: with every DC up and, when Failures > 0, with its
// Failures largest allowed DCs down. It assumes refusals grow with the multiplier and
// bisects, sharing every run between the regions it informs.
func FindPeak(ctx context.Context, opts Options, po PeakOptions) ([]Peak, error) {
	if po.Precision <= 0 {
		po.Precision = 0.02
	}
	if po.MaxMultiplier <= 0 {
		po.MaxMultiplier = 1000
	}
	sc := *opts.Scenario
	regions := make([]string, len(sc.Regions))
	for i, r := range sc.Regions {
		regions[i] = r.ID
	}
	search := func(down []string, which []int) ([]float64, []bool, error) {
		cache := map[float64][]float64{}
		eval := func(x float64) ([]float64, error) {
			if r, ok := cache[x]; ok {
				return r, nil
			}
			if po.Progress != nil {
				po.Progress(x, down)
			}
			s := sc
			s.Multiplier = x
			o := opts
			o.Scenario, o.Down, o.Widening = &s, down, false
			res, err := Run(ctx, o)
			if err != nil {
				return nil, err
			}
			rates := make([]float64, len(regions))
			for i, g := range res.Summary.Regions {
				if g.Joins > 0 {
					rates[i] = float64(g.RefusedByCode["no_capacity"]) / float64(g.Joins)
				}
			}
			cache[x] = rates
			return rates, nil
		}
		lo, hi := make([]float64, len(regions)), make([]float64, len(regions))
		for i := range hi {
			hi[i] = math.Inf(1)
		}
		see := func(x float64, rates []float64) {
			for i, r := range rates {
				if r <= po.MaxRefusalRate {
					lo[i] = max(lo[i], x)
				} else {
					hi[i] = min(hi[i], x)
				}
			}
		}
		// Grow until every region of interest refuses, then bisect each.
		for x := 1.0; ; x *= 2 {
			x = min(x, po.MaxMultiplier)
			rates, err := eval(x)
			if err != nil {
				return nil, nil, err
			}
			see(x, rates)
			done := true
			for _, i := range which {
				done = done && !math.IsInf(hi[i], 1)
			}
			if done || x >= po.MaxMultiplier {
				break
			}
		}
		for _, i := range which {
			for n := 0; n < 40 && !math.IsInf(hi[i], 1) && (lo[i] == 0 && hi[i] > po.Precision || lo[i] > 0 && hi[i]/lo[i] > 1+po.Precision); n++ {
				x := (lo[i] + hi[i]) / 2
				if lo[i] == 0 {
					x = hi[i] / 2
				}
				x = roundSig(x)
				rates, err := eval(x)
				if err != nil {
					return nil, nil, err
				}
				see(x, rates)
			}
		}
		limited := make([]bool, len(regions))
		for i := range limited {
			limited[i] = math.IsInf(hi[i], 1)
		}
		return lo, limited, nil
	}
	all := make([]int, len(regions))
	for i := range all {
		all[i] = i
	}
	lo, limited, err := search(nil, all)
	if err != nil {
		return nil, err
	}
	peaks := make([]Peak, len(regions))
	for i, id := range regions {
		peaks[i] = Peak{Region: id, Multiplier: lo[i], Limited: limited[i], Down: []string{}}
	}
	if po.Failures > 0 {
		for i, r := range sc.Regions {
			down := largestDCs(opts.Model, r.ID, po.Failures)
			lo, limited, err := search(down, []int{i})
			if err != nil {
				return nil, err
			}
			peaks[i].Down, peaks[i].MultiplierDown, peaks[i].LimitedDown = down, lo[i], limited[i]
		}
	}
	return peaks, nil
}

// roundSig keeps three significant digits, so that multipliers read well and runs are shared.
func roundSig(x float64) float64 {
	if x <= 0 {
		return x
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 3, 64), 64)
	return r
}

// largestDCs are the k largest DCs of region id's primary and secondary lists that its
// first plan may use (the DCs verify's capacity check takes down).
func largestDCs(m *policy.Model, id string, k int) []string {
	r, ok := m.Region(id)
	if !ok {
		return nil
	}
	plan := policy.PlanID(0)
	if p, ok := m.Plan("basic"); ok {
		plan = p
	}
	var ds []policy.DCID
	rt := &m.Routes[r]
	for _, list := range [][]policy.Entry{rt.Primary, rt.Secondary} {
		for _, e := range list {
			if m.Allows(r, plan, e.DC) && m.DCs[e.DC].Runs(config.Media) && !slices.Contains(ds, e.DC) {
				ds = append(ds, e.DC)
			}
		}
	}
	slices.SortStableFunc(ds, func(a, b policy.DCID) int { return cmp.Compare(m.DCs[b].Capacity, m.DCs[a].Capacity) })
	out := []string{}
	for _, d := range ds[:min(k, len(ds))] {
		out = append(out, m.DCs[d].ID)
	}
	return out
}

// WritePeaks writes FindPeak's answer for a person.
func WritePeaks(w io.Writer, peaks []Peak, po PeakOptions) {
	fmt.Fprintf(w, "largest multiplier of the scenario each region carries with at most %.2f%% of its joins refused for capacity:\n", 100*po.MaxRefusalRate)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if po.Failures > 0 {
		fmt.Fprintf(tw, "  region\tall DCs up\twith its %d largest down\tdown\n", po.Failures)
	} else {
		fmt.Fprintf(tw, "  region\tall DCs up\n")
	}
	show := func(x float64, limited bool) string {
		if limited {
			return fmt.Sprintf(">= %g", x)
		}
		return fmt.Sprintf("%g", x)
	}
	for _, p := range peaks {
		if po.Failures > 0 {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", p.Region, show(p.Multiplier, p.Limited), show(p.MultiplierDown, p.LimitedDown), list(p.Down))
		} else {
			fmt.Fprintf(tw, "  %s\t%s\n", p.Region, show(p.Multiplier, p.Limited))
		}
	}
	tw.Flush()
}
