package sim

import (
	"cmp"
	"maps"
	"slices"
	"time"
)

// Minute is one row of the per-minute series.
type Minute struct {
	Minute int       `json:"minute"`
	Time   time.Time `json:"time"`
	// Joins are join attempts (rejoins of dropped participants included); Placed the
	// answered ones.
	Joins  int64 `json:"joins"`
	Placed int64 `json:"placed"`
	// Refused counts refusals by wire code; RefusedByRule by "code/rule" for refusals that
	// name rules.
	Refused       map[string]int64 `json:"refused"`
	RefusedByRule map[string]int64 `json:"refused_by_rule"`
	// Secondaries is how many secondary DCs tickets named; Rehomes the meetings moved off a
	// home that went down; Spilled the participants placed elsewhere than on an idle,
	// healthy world; Dropped those disconnected by a DC going down.
	Secondaries int64 `json:"secondaries"`
	Rehomes     int64 `json:"rehomes"`
	Spilled     int64 `json:"spilled"`
	Dropped     int64 `json:"dropped"`
	// Per DC, in Result.Datacenters order: placements in the minute, the highest utilization
	// reported in it, and the participants at its end.
	Placements   []int64   `json:"placements"`
	Utilization  []float64 `json:"utilization"`
	Participants []int64   `json:"participants"`
}

// Result is a run's outcome.
type Result struct {
	Start       time.Time    `json:"start"`
	Datacenters []Datacenter `json:"datacenters"`
	Regions     []string     `json:"regions"`
	Series      []Minute     `json:"series"`
	Summary     Summary      `json:"summary"`
	Violations  []Violation  `json:"violations"`
}

// Datacenter names a DC of the series.
type Datacenter struct {
	ID       string `json:"id"`
	Country  string `json:"country"`
	Region   string `json:"region"`
	Capacity int64  `json:"capacity"` // in the model in force at the end
}

// Violation is a placement the admission code refused: a residency bug. It must never happen.
type Violation struct {
	Time               time.Time `json:"time"`
	Meeting            string    `json:"meeting"`
	ParticipantCountry string    `json:"participant_country"`
	ParticipantRegion  string    `json:"participant_region"`
	MeetingRegion      string    `json:"meeting_region"`
	Datacenter         string    `json:"datacenter"`
	Service            string    `json:"service"`
	Code               string    `json:"code"`
	Rule               string    `json:"rule"`
	Message            string    `json:"message"`
}

// Summary is the run in a few numbers.
type Summary struct {
	Seed          uint64           `json:"seed"`
	Multiplier    float64          `json:"multiplier"`
	Minutes       int              `json:"minutes"`
	Meetings      int64            `json:"meetings"`
	Joins         int64            `json:"joins"`
	Placed        int64            `json:"placed"`
	Refused       int64            `json:"refused"`
	RefusedByCode map[string]int64 `json:"refused_by_code"`
	RefusedByRule map[string]int64 `json:"refused_by_rule"`
	Secondaries   int64            `json:"secondaries"`
	Rehomes       int64            `json:"rehomes"`
	Spilled       int64            `json:"spilled"`
	Dropped       int64            `json:"dropped"`
	// DroppedRefused are dropped participants whose rejoin was refused.
	DroppedRefused int64 `json:"dropped_refused"`
	ConfigSwaps    int   `json:"config_swaps"`
	Events         int64 `json:"events"`
	// Watermark is the high watermark of the model in force at the end.
	Watermark   float64         `json:"watermark"`
	Datacenters []DCSummary     `json:"datacenters"`
	Regions     []RegionSummary `json:"regions"`
	// Spill is participants by (intended DC, actual DC), largest first.
	Spill []SpillCell `json:"spill"`
	// WouldUse (--force on a config that does not verify) is what selection on the lists
	// without the residency rules would have handed out that the rules forbid.
	WouldUse   []WouldUse `json:"would_use,omitempty"`
	Violations int64      `json:"violations"`
	// Shards is how many groups of independent regions ran on goroutines of their own; 0
	// when the regions ran together.
	Shards int `json:"shards,omitempty"`
}

// DCSummary is one DC over the run.
type DCSummary struct {
	ID              string  `json:"id"`
	Region          string  `json:"region"`
	Capacity        int64   `json:"capacity"`
	Placements      int64   `json:"placements"`
	PeakUtilization float64 `json:"peak_utilization"`
	PeakMinute      int     `json:"peak_minute"`
	// MinutesOverWatermark counts minutes whose highest utilization reached the watermark.
	MinutesOverWatermark int `json:"minutes_over_watermark"`
	MinutesFull          int `json:"minutes_full"`
}

// RegionSummary is one scenario region's participants (by the region of their country).
type RegionSummary struct {
	ID            string           `json:"id"`
	Joins         int64            `json:"joins"`
	Placed        int64            `json:"placed"`
	Refused       int64            `json:"refused"`
	RefusedByCode map[string]int64 `json:"refused_by_code"`
	RefusalRate   float64          `json:"refusal_rate"`
	Spilled       int64            `json:"spilled"`
	// Placements is where its participants went, per DC in Result.Datacenters order;
	// SpilledTo those of them that went there as spill (the row of the region-by-DC spill
	// matrix).
	Placements []int64 `json:"placements"`
	SpilledTo  []int64 `json:"spilled_to"`
}

// SpillCell is participants that would have gone to From on an idle, healthy world and went
// to To. From is "" when no DC at all was usable for them there.
type SpillCell struct {
	From         string `json:"from"`
	To           string `json:"to"`
	Participants int64  `json:"participants"`
}

// WouldUse is a DC the lists name and the rules forbid, and how many tickets would have named
// it on a list without the rules.
type WouldUse struct {
	Datacenter string `json:"datacenter"`
	Country    string `json:"country"`
	List       string `json:"list"`
	Tickets    int64  `json:"tickets"`
	// First: participants whose media would have gone there first.
	First int64 `json:"first"`
	// Regions: tickets by participant region.
	Regions map[string]int64 `json:"regions"`
}

// accum gathers the counts of the minute in progress and of the whole run.
type accum struct {
	// the minute
	joins, placed, secondaries, rehomes, spilled, droppedMin int64
	refused, byRule                                          map[string]int64
	placements                                               []int64
	util                                                     []float64
	dirty                                                    bool

	// the run
	events, meetings, totJoins, totPlaced, totSec, totRehomes, totSpilled, dropped, droppedRefused, rejoins int64
	swaps                                                                                                   int
	totRefused, totByRule                                                                                   map[string]int64
	regions                                                                                                 []regionAcc
	dcPlacements                                                                                            []int64
	peak                                                                                                    []float64
	peakMin, overWM, full                                                                                   []int
	spills                                                                                                  map[[2]int32]int64
	would                                                                                                   map[[2]int32]*wouldAcc
}

type regionAcc struct {
	joins, placed, spilled int64
	refused                map[string]int64
	placements, spilledTo  []int64
}

type wouldAcc struct {
	tickets, first int64
	regions        map[int]int64
}

func (a *accum) grow(n int) {
	for len(a.placements) < n {
		a.placements = append(a.placements, 0)
		a.util = append(a.util, 0)
		a.dcPlacements = append(a.dcPlacements, 0)
		a.peak = append(a.peak, 0)
		a.peakMin = append(a.peakMin, 0)
		a.overWM = append(a.overWM, 0)
		a.full = append(a.full, 0)
	}
}

func (a *accum) region(i int) *regionAcc {
	for len(a.regions) <= i {
		a.regions = append(a.regions, regionAcc{refused: map[string]int64{}})
	}
	return &a.regions[i]
}

func (a *accum) seeUtil(x int32, u float64) { a.util[x] = max(a.util[x], u) }

func (a *accum) place(x int32, region int) {
	a.placements[x]++
	a.dirty = true
	r := a.region(region)
	for len(r.placements) <= int(x) {
		r.placements = append(r.placements, 0)
	}
	r.placements[x]++
}

func (a *accum) spill(from, to int32, region int) {
	a.spilled++
	r := a.region(region)
	r.spilled++
	for len(r.spilledTo) <= int(to) {
		r.spilledTo = append(r.spilledTo, 0)
	}
	r.spilledTo[to]++
	if a.spills == nil {
		a.spills = map[[2]int32]int64{}
	}
	a.spills[[2]int32{from, to}]++
}

func (a *accum) refuse(region int, code string, rules []string) {
	a.dirty = true
	if a.refused == nil {
		a.refused, a.byRule = map[string]int64{}, map[string]int64{}
	}
	a.refused[code]++
	a.region(region).refused[code]++
	for _, r := range rules {
		a.byRule[code+"/"+r]++
	}
}

func (a *accum) wouldUse(x int32, list int, first bool, region int) {
	if a.would == nil {
		a.would = map[[2]int32]*wouldAcc{}
	}
	k := [2]int32{x, int32(list)}
	w := a.would[k]
	if w == nil {
		w = &wouldAcc{regions: map[int]int64{}}
		a.would[k] = w
	}
	w.tickets++
	if first {
		w.first++
	}
	w.regions[region]++
}

// closeMinute ends the minute in progress: a row of the series, and the run's totals.
func (s *sim) closeMinute() {
	a := &s.acc
	n := len(s.dcs)
	a.grow(n)
	row := Minute{Minute: len(s.rows), Time: s.start.Add(time.Duration(len(s.rows)) * time.Minute),
		Joins: a.joins, Placed: a.placed, Refused: map[string]int64{}, RefusedByRule: map[string]int64{},
		Secondaries: a.secondaries, Rehomes: a.rehomes, Spilled: a.spilled, Dropped: a.dropped - a.droppedMin,
		Placements: slices.Clone(a.placements[:n]), Utilization: make([]float64, n), Participants: slices.Clone(s.count)}
	maps.Copy(row.Refused, a.refused)
	maps.Copy(row.RefusedByRule, a.byRule)
	wm := s.model.HighWatermark
	for x := range n {
		u := a.util[x]
		row.Utilization[x] = round4(u)
		if u > a.peak[x] {
			a.peak[x], a.peakMin[x] = u, row.Minute
		}
		if u >= wm {
			a.overWM[x]++
		}
		if u >= 1 {
			a.full[x]++
		}
		a.dcPlacements[x] += a.placements[x]
		a.placements[x], a.util[x] = 0, 0
	}
	if a.totRefused == nil {
		a.totRefused, a.totByRule = map[string]int64{}, map[string]int64{}
	}
	for k, v := range a.refused {
		a.totRefused[k] += v
	}
	for k, v := range a.byRule {
		a.totByRule[k] += v
	}
	a.totJoins += a.joins
	a.totPlaced += a.placed
	a.totSec += a.secondaries
	a.totRehomes += a.rehomes
	a.totSpilled += a.spilled
	a.droppedMin = a.dropped
	a.joins, a.placed, a.secondaries, a.rehomes, a.spilled = 0, 0, 0, 0, 0
	clear(a.refused)
	clear(a.byRule)
	a.dirty = false
	s.rows = append(s.rows, row)
}

func round4(x float64) float64 { return float64(int64(x*10000+0.5)) / 10000 }

func (s *sim) result() *Result {
	a := &s.acc
	r := &Result{Start: s.start, Series: s.rows, Violations: s.viol}
	if r.Violations == nil {
		r.Violations = []Violation{}
	}
	for x, d := range s.dcs {
		r.Datacenters = append(r.Datacenters, Datacenter{ID: d.ID, Country: d.Country, Region: d.Region, Capacity: s.capacity[x]})
	}
	for _, reg := range s.regions {
		r.Regions = append(r.Regions, reg.sc.ID)
	}
	sum := Summary{Seed: s.opts.Seed, Multiplier: s.sc.Multiplier, Minutes: len(s.rows), Meetings: a.meetings,
		Joins: a.totJoins, Placed: a.totPlaced, RefusedByCode: a.totRefused, RefusedByRule: a.totByRule,
		Secondaries: a.totSec, Rehomes: a.totRehomes, Spilled: a.totSpilled, Dropped: a.dropped, DroppedRefused: a.droppedRefused,
		ConfigSwaps: a.swaps, Events: a.events, Watermark: s.model.HighWatermark, Violations: s.nviol}
	if sum.RefusedByCode == nil {
		sum.RefusedByCode, sum.RefusedByRule = map[string]int64{}, map[string]int64{}
	}
	for _, v := range sum.RefusedByCode {
		sum.Refused += v
	}
	for x, d := range s.dcs {
		sum.Datacenters = append(sum.Datacenters, DCSummary{ID: d.ID, Region: d.Region, Capacity: s.capacity[x], Placements: a.dcPlacements[x],
			PeakUtilization: round4(a.peak[x]), PeakMinute: a.peakMin[x], MinutesOverWatermark: a.overWM[x], MinutesFull: a.full[x]})
	}
	for i, reg := range s.regions {
		ra := a.region(i)
		rs := RegionSummary{ID: reg.sc.ID, Joins: ra.joins, Placed: ra.placed, Spilled: ra.spilled, RefusedByCode: maps.Clone(ra.refused),
			Placements: make([]int64, len(s.dcs)), SpilledTo: make([]int64, len(s.dcs))}
		copy(rs.Placements, ra.placements)
		copy(rs.SpilledTo, ra.spilledTo)
		for _, v := range ra.refused {
			rs.Refused += v
		}
		if rs.Joins > 0 {
			rs.RefusalRate = round4(float64(rs.Refused) / float64(rs.Joins))
		}
		sum.Regions = append(sum.Regions, rs)
	}
	for k, v := range a.spills {
		c := SpillCell{To: s.dcs[k[1]].ID, Participants: v}
		if k[0] >= 0 {
			c.From = s.dcs[k[0]].ID
		}
		sum.Spill = append(sum.Spill, c)
	}
	slices.SortFunc(sum.Spill, func(x, y SpillCell) int {
		return cmp.Or(cmp.Compare(y.Participants, x.Participants), cmp.Compare(x.From, y.From), cmp.Compare(x.To, y.To))
	})
	if sum.Spill == nil {
		sum.Spill = []SpillCell{}
	}
	lists := [...]string{"primary", "secondary", "kms"}
	for k, w := range a.would {
		wu := WouldUse{Datacenter: s.dcs[k[0]].ID, Country: s.dcs[k[0]].Country, List: lists[k[1]], Tickets: w.tickets, First: w.first, Regions: map[string]int64{}}
		for ri, n := range w.regions {
			wu.Regions[s.regions[ri].sc.ID] += n
		}
		sum.WouldUse = append(sum.WouldUse, wu)
	}
	slices.SortFunc(sum.WouldUse, func(x, y WouldUse) int {
		return cmp.Or(cmp.Compare(x.Datacenter, y.Datacenter), cmp.Compare(x.List, y.List))
	})
	r.Summary = sum
	return r
}
