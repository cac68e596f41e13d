package sim

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/sim/scenario"
)

// Sharding. Regions of a scenario are independent when nothing one does can change what
// another gets: no participant of one joins a meeting of the other (the scenario's
// cross_region is 0) and the DCs their meetings can use are disjoint. A meeting's DCs are its
// region's routing lists (primary, secondary, kms: selection and its spill never leave them),
// and its region is its host account's home region or, without one, the region of the host's
// country; so a scenario region's DCs are the lists of every region its meetings can have.
// Independent groups of regions run on goroutines of their own, each with its own directory
// core, random source (the run's seed for the first group, one derived from it for the
// others) and DCs (each group reports the DCs it can use; the DCs no group uses go with the
// first), and their results are merged minute by minute. The grouping depends only on the
// config and the scenario, never on the machine, so the output of a seed is the same on any
// number of cores.
//
// Regions are not independent, and run together, when the scenario has cross-region
// participants, when their lists share a DC, when a config swap may change the lists, and
// when a trace is written (one stream of calls in time order, for replay).

// shards are the groups of independent scenario regions, in order of their first region;
// one group when they are not independent.
func (s *sim) shards() [][]int {
	all := make([]int, len(s.regions))
	for i := range all {
		all[i] = i
	}
	if len(s.regions) < 2 || s.sc.Meetings.CrossRegion > 0 || s.opts.Trace != nil || s.opts.Widening ||
		slices.ContainsFunc(s.sc.Events, func(e *scenario.Event) bool { return e.Kind == scenario.Swap }) {
		return [][]int{all}
	}
	m := s.model
	dcs := make([]policy.Set, len(s.regions))
	for ri := range s.regions {
		r := &s.regions[ri]
		set := policy.NewSet(len(m.DCs))
		add := func(mr policy.RegionID) {
			rt := &m.Routes[mr]
			for _, l := range [...][]policy.Entry{rt.Primary, rt.Secondary, rt.KMS} {
				for _, e := range l {
					set.Add(int(e.DC))
				}
			}
		}
		add(r.model)
		for _, h := range r.hosts {
			if a := s.accounts[h]; a.cfg {
				if acct, ok := m.Accounts[a.id]; ok && acct.HomeRegion != policy.None {
					add(acct.HomeRegion)
				}
			}
		}
		dcs[ri] = set
	}
	// Union-find over regions that share a DC.
	parent := slices.Clone(all)
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	for i := range s.regions {
		for j := i + 1; j < len(s.regions); j++ {
			if intersects(dcs[i], dcs[j]) {
				if a, b := find(i), find(j); a != b {
					parent[max(a, b)] = min(a, b)
				}
			}
		}
	}
	var groups [][]int
	root := map[int]int{}
	for i := range s.regions {
		r := find(i)
		g, ok := root[r]
		if !ok {
			g = len(groups)
			root[r] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], i)
	}
	s.shardDCs = dcs
	return groups
}

// shardSeed is the seed of group g: the run's own for the first.
func shardSeed(seed uint64, g int) uint64 {
	return seed + uint64(g)*0x9e3779b97f4a7c15
}

// runSharded runs the groups of independent regions on up to GOMAXPROCS goroutines and
// merges their results.
func runSharded(ctx context.Context, opts Options, first *sim, groups [][]int) (*Result, error) {
	sims := make([]*sim, len(groups))
	sims[0] = first
	for g := 1; g < len(groups); g++ {
		o := opts
		o.Seed = shardSeed(opts.Seed, g)
		s, err := newSim(o)
		if err != nil {
			return nil, err
		}
		sims[g] = s
	}
	// Each group's regions and DCs; the DCs no group uses report with the first.
	used := make([]bool, len(first.dcs))
	for g, s := range sims {
		s.active = make([]bool, len(s.regions))
		s.reports = make([]bool, len(s.dcs))
		for _, ri := range groups[g] {
			s.active[ri] = true
			for x := range s.dcs {
				if d := s.toModel[x]; d != policy.None && first.shardDCs[ri].Has(int(d)) {
					s.reports[x], used[x] = true, true
				}
			}
		}
		s.sharded = true
	}
	for x, u := range used {
		if !u {
			sims[0].reports[x] = true
		}
	}
	var joins atomic.Int64
	if opts.Progress != nil {
		// One line an hour, from the first group, with every group's joins so far.
		for g, s := range sims {
			var mine int64
			s.progress = func(at time.Time, n int64) {
				joins.Add(n - mine)
				mine = n
				if g == 0 {
					opts.Progress(at, joins.Load())
				}
			}
		}
	}
	errs := make([]error, len(sims))
	sem := make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))
	var wg sync.WaitGroup
	for g, s := range sims {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[g] = s.run(ctx)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	parts := make([]*Result, len(sims))
	for g, s := range sims {
		parts[g] = s.result()
	}
	res := merge(parts)
	res.Summary.Seed = opts.Seed
	res.Summary.Shards = len(groups)
	return res, nil
}

// merge adds up the results of independent groups: the same DCs, regions and minutes.
func merge(parts []*Result) *Result {
	out := *parts[0]
	n := 0
	for _, p := range parts {
		n = max(n, len(p.Series))
	}
	out.Series = make([]Minute, n)
	for i := range out.Series {
		row := &out.Series[i]
		for _, p := range parts {
			if i >= len(p.Series) {
				continue
			}
			r := &p.Series[i]
			if row.Refused == nil {
				*row = *r
				row.Refused, row.RefusedByRule = maps.Clone(r.Refused), maps.Clone(r.RefusedByRule)
				row.Placements, row.Utilization, row.Participants = slices.Clone(r.Placements), slices.Clone(r.Utilization), slices.Clone(r.Participants)
				continue
			}
			row.Joins += r.Joins
			row.Placed += r.Placed
			row.Secondaries += r.Secondaries
			row.Rehomes += r.Rehomes
			row.Spilled += r.Spilled
			row.Dropped += r.Dropped
			addMap(row.Refused, r.Refused)
			addMap(row.RefusedByRule, r.RefusedByRule)
			for x := range row.Placements {
				row.Placements[x] += r.Placements[x]
				row.Participants[x] += r.Participants[x]
				row.Utilization[x] = max(row.Utilization[x], r.Utilization[x])
			}
		}
	}
	sum := &out.Summary
	first := parts[0].Summary
	*sum = first
	sum.Minutes = n
	sum.RefusedByCode, sum.RefusedByRule = maps.Clone(first.RefusedByCode), maps.Clone(first.RefusedByRule)
	sum.Datacenters = slices.Clone(first.Datacenters)
	sum.Regions = make([]RegionSummary, len(first.Regions))
	for i, r := range first.Regions {
		sum.Regions[i] = r
		sum.Regions[i].RefusedByCode = maps.Clone(r.RefusedByCode)
		sum.Regions[i].Placements, sum.Regions[i].SpilledTo = slices.Clone(r.Placements), slices.Clone(r.SpilledTo)
	}
	spill := map[[2]string]int64{}
	would := map[[2]string]*WouldUse{}
	viol := []Violation{}
	for pi, p := range parts {
		ps := &p.Summary
		for _, c := range ps.Spill {
			spill[[2]string{c.From, c.To}] += c.Participants
		}
		for _, w := range ps.WouldUse {
			k := [2]string{w.Datacenter, w.List}
			if would[k] == nil {
				x := w
				x.Regions = maps.Clone(w.Regions)
				would[k] = &x
				continue
			}
			would[k].Tickets += w.Tickets
			would[k].First += w.First
			addMap(would[k].Regions, w.Regions)
		}
		viol = append(viol, p.Violations...)
		if pi == 0 {
			continue
		}
		sum.Meetings += ps.Meetings
		sum.Joins += ps.Joins
		sum.Placed += ps.Placed
		sum.Refused += ps.Refused
		addMap(sum.RefusedByCode, ps.RefusedByCode)
		addMap(sum.RefusedByRule, ps.RefusedByRule)
		sum.Secondaries += ps.Secondaries
		sum.Rehomes += ps.Rehomes
		sum.Spilled += ps.Spilled
		sum.Dropped += ps.Dropped
		sum.DroppedRefused += ps.DroppedRefused
		sum.Events += ps.Events
		sum.Violations += ps.Violations
		for x := range sum.Datacenters {
			d, e := &sum.Datacenters[x], &ps.Datacenters[x]
			d.Placements += e.Placements
			if e.PeakUtilization > d.PeakUtilization || e.PeakUtilization == d.PeakUtilization && e.PeakMinute < d.PeakMinute && e.PeakUtilization > 0 {
				d.PeakUtilization, d.PeakMinute = e.PeakUtilization, e.PeakMinute
			}
			d.MinutesOverWatermark += e.MinutesOverWatermark
			d.MinutesFull += e.MinutesFull
		}
		for i := range sum.Regions {
			r, e := &sum.Regions[i], &ps.Regions[i]
			r.Joins += e.Joins
			r.Placed += e.Placed
			r.Refused += e.Refused
			r.Spilled += e.Spilled
			addMap(r.RefusedByCode, e.RefusedByCode)
			for x := range r.Placements {
				r.Placements[x] += e.Placements[x]
				r.SpilledTo[x] += e.SpilledTo[x]
			}
		}
	}
	for i := range sum.Regions {
		if r := &sum.Regions[i]; r.Joins > 0 {
			r.RefusalRate = round4(float64(r.Refused) / float64(r.Joins))
		}
	}
	sum.Spill = sum.Spill[:0:0]
	for k, v := range spill {
		sum.Spill = append(sum.Spill, SpillCell{From: k[0], To: k[1], Participants: v})
	}
	slices.SortFunc(sum.Spill, func(x, y SpillCell) int {
		return cmp.Or(cmp.Compare(y.Participants, x.Participants), cmp.Compare(x.From, y.From), cmp.Compare(x.To, y.To))
	})
	sum.WouldUse = nil
	for _, w := range would {
		sum.WouldUse = append(sum.WouldUse, *w)
	}
	slices.SortFunc(sum.WouldUse, func(x, y WouldUse) int {
		return cmp.Or(cmp.Compare(x.Datacenter, y.Datacenter), cmp.Compare(x.List, y.List))
	})
	slices.SortStableFunc(viol, func(a, b Violation) int { return a.Time.Compare(b.Time) })
	out.Violations = viol[:min(len(viol), maxViolations)]
	return &out
}

func intersects(a, b policy.Set) bool {
	for i := range min(len(a), len(b)) {
		if a[i]&b[i] != 0 {
			return true
		}
	}
	return false
}

func addMap(dst, src map[string]int64) {
	for k, v := range src {
		dst[k] += v
	}
}
