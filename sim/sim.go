// Package sim is the simulator (DESIGN.md section 12): a discrete-event simulation of a day
// (or a surge) of meetings, joins and leaves in simulated time, driven through the real
// directory core (package directory: meetings, homes, re-homing, live state, refusals) and so
// through the one selection function (package route). Ticket signing and the network are
// left out; the clock is simulated. The simulator plays the DC agents: it keeps each DC's
// participants (joins placed there minus leaves) and reports them to the core at the
// scenario's report interval, as real agents do.
//
// Every placement is re-checked with the admission code the media and key servers run
// (package admission): a residency violation is a bug, reported as one.
//
// It is deterministic for a seed, on any number of cores: one random source consumed in event
// order, events ordered by time and then by the order they were scheduled. Groups of regions
// that cannot affect each other run on goroutines of their own, each with its own core and
// source, and are merged per minute (see shard.go). It is not a load generator for a real
// directory (that is `geofence loadtest`), and it does not model media or bridges' bandwidth.
package sim

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/geofence/geofence/admission"
	"github.com/geofence/geofence/config"
	"github.com/geofence/geofence/directory"
	"github.com/geofence/geofence/geo"
	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/route"
	"github.com/geofence/geofence/sim/scenario"
	"github.com/geofence/geofence/wire"
)

// Options is one run. Model and Scenario are required; the zero value of the rest is the
// default.
type Options struct {
	Model    *policy.Model
	Scenario *scenario.Scenario
	// Seed seeds the one random source of the run.
	Seed uint64
	// LoadConfig loads the config a scenario event swaps in (its path as written in the
	// scenario). Nil: such events are errors.
	LoadConfig func(path string) (*policy.Model, error)
	// Down are DCs down for the whole run (--find-peak takes the largest ones down).
	Down []string
	// Widening, for a config that does not verify (run with --force): each join is also
	// selected on the config without its residency rules, and every DC that selection would
	// have handed out but the rules forbid is counted (Summary.WouldUse). It shows what a
	// directory that trusted its lists would have done.
	Widening bool
	// Trace, when set, receives one CSV line per call the simulator makes to the core
	// (meeting created or ended, join and its answer, leave, load report, model swap), so
	// that the same calls can be replayed against a real directory (`geofence dev
	// --no-agents`) and the placements compared. See docs/sim.md.
	Trace io.Writer
	// Progress, when set, is called at every simulated hour with the simulated time and the
	// joins so far.
	Progress func(at time.Time, joins int64)
	// RecheckEvery runs the admission code on every DC of every ticket instead of once per
	// distinct case (see recheck): slower, the same answers.
	RecheckEvery bool
}

// Run runs the simulation to the scenario's end. A scenario that names regions, countries,
// plans, accounts or DCs the config does not have is a config.ErrorList, every problem at
// once.
func Run(ctx context.Context, opts Options) (*Result, error) {
	s, err := newSim(opts)
	if err != nil {
		return nil, err
	}
	if groups := s.shards(); len(groups) > 1 {
		return runSharded(ctx, opts, s, groups)
	}
	err = s.run(ctx)
	if s.trace != nil {
		if ferr := s.trace.Flush(); err == nil && ferr != nil {
			err = fmt.Errorf("simulate: write trace: %w", ferr)
		}
	}
	if err != nil {
		return nil, err
	}
	return s.result(), nil
}

type dcInfo struct {
	ID, Country, Region string
}

type account struct {
	id   string
	plan string
	cfg  bool // a config account (else a synthetic one in the core's store)
}

type region struct {
	sc        *scenario.Region
	model     policy.RegionID
	countries []geo.Country
	points    [][]int32 // per country: indexes into sim.points; empty: the centroid
	cweights  []float64 // cumulative
	hosts     []int     // account indexes
	hweights  []float64 // cumulative
	curveSum  float64
	carry     float64 // Even arrivals
}

type meeting struct {
	id      string
	pending int32 // participants not yet gone
	acct    int16
	region  int16 // host's scenario region
	home    int32 // sim DC index, -1 before the first join
}

type participant struct {
	meeting int32
	country geo.Country
	point   int32 // index into sim.points
	region  int16 // scenario region
	gen     uint16
	dc      int32 // sim DC index where it is, -1 when not placed
	leaveAt int64
	stay    int64 // drawn when the meeting starts
	at      int64 // when it first joins
	next    int32 // the meeting's participants, while it starts
	alive   bool
	rejoin  bool
}

type sim struct {
	opts  Options
	sc    *scenario.Scenario
	core  *directory.Core
	model *policy.Model
	now   int64 // ns since start
	start time.Time
	rng   *rand.Rand
	// jitter is a second source for what depends on the directory's answers (rejoins), so
	// that rng's draws, the demand, do not.
	jitter *rand.Rand
	q      *queue

	dcs       []dcInfo
	dcIndex   map[string]int32
	toSim     []int32 // current model DCID -> sim index
	toModel   []policy.DCID
	capacity  []int64 // current model's capacity, 0 when the DC is not in it
	count     []int64 // participants at each DC
	healthy   []bool
	regions   []region
	regionIdx map[string]int // scenario region by model region id
	accounts  []account
	meetings  []meeting
	freeM     []int32
	parts     []participant
	freeP     []int32
	pids      []string     // participant ids by slot
	points    []geo.LatLon // where participants are: centroids and the scenario's points
	sizeMean  float64

	intended map[intentKey]int32
	admitted map[admitKey][]uint8
	unfenced map[*policy.Model]*policy.Model

	trace *bufio.Writer

	// Sharding (see shards): the regions this sim runs (nil: all) and the DCs it reports
	// (nil: all); sharded closes the last partial minute always, so that every group has as
	// many rows.
	active   []bool
	reports  []bool
	sharded  bool
	shardDCs []policy.Set // by scenario region: the DCs its meetings can use
	progress func(at time.Time, joins int64)

	acc   accum
	rows  []Minute
	viol  []Violation
	nviol int64
}

type intentKey struct {
	model   *policy.Model
	point   int32
	country geo.Country
	acct    int16
	region  policy.RegionID
	home    policy.DCID
}

func newSim(opts Options) (*sim, error) {
	if opts.Model == nil || opts.Scenario == nil {
		return nil, errors.New("simulate: a model and a scenario are required")
	}
	sc := opts.Scenario
	s := &sim{opts: opts, sc: sc, model: opts.Model, start: sc.Start, dcIndex: map[string]int32{},
		rng: rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)), jitter: rand.New(rand.NewPCG(opts.Seed^0x5851f42d4c957f2d, opts.Seed)), q: newQueue(sc.Duration),
		regionIdx: map[string]int{}, intended: map[intentKey]int32{}, admitted: map[admitKey][]uint8{}, unfenced: map[*policy.Model]*policy.Model{}}
	core, err := directory.New(directory.Config{Model: opts.Model, MaxMeetingsPerAccount: -1,
		StaleAfter: max(directory.DefaultStaleAfter, 3*sc.ReportInterval),
		Now:        func() time.Time { return s.start.Add(time.Duration(s.now)) },
		Logger:     slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, fmt.Errorf("simulate: %w", err)
	}
	s.core = core
	s.progress = opts.Progress
	if opts.Trace != nil {
		s.trace = bufio.NewWriterSize(opts.Trace, 1<<16)
	}
	s.adopt(opts.Model)
	for i := range s.healthy {
		s.healthy[i] = true
	}
	if err := s.bind(); err != nil {
		return nil, err
	}
	return s, nil
}

// centroid is the index of country c's centroid in s.points.
func (s *sim) centroid(c geo.Country) int32 {
	for i, ll := range s.points {
		if ll == c.Centroid() {
			return int32(i)
		}
	}
	s.points = append(s.points, c.Centroid())
	return int32(len(s.points) - 1)
}

// adopt makes m the model in force for the simulator's own tables (the core is told
// separately).
func (s *sim) adopt(m *policy.Model) {
	s.model = m
	s.toSim = make([]int32, len(m.DCs))
	s.toModel = slices.Repeat([]policy.DCID{policy.None}, len(s.dcs))
	for i := range m.DCs {
		d := &m.DCs[i]
		x, ok := s.dcIndex[d.ID]
		if !ok {
			x = int32(len(s.dcs))
			s.dcIndex[d.ID] = x
			s.dcs = append(s.dcs, dcInfo{ID: d.ID, Country: d.Country.Code(), Region: m.Regions[d.Region].ID})
			s.count = append(s.count, 0)
			s.healthy = append(s.healthy, true)
			s.toModel = append(s.toModel, policy.None)
			s.acc.grow(len(s.dcs))
		}
		s.toSim[i] = x
		s.toModel[x] = policy.DCID(i)
	}
	s.capacity = make([]int64, len(s.dcs))
	for x, d := range s.toModel {
		if d != policy.None {
			s.capacity[x] = m.DCs[d].Capacity
		}
	}
}

func (s *sim) fail(p config.Pos, path, format string, args ...any) *config.Error {
	return &config.Error{File: s.sc.File, Pos: p, Path: path, Code: config.CodeReference, Msg: fmt.Sprintf(format, args...)}
}

// bind checks the scenario's names against the model and builds the tables.
func (s *sim) bind() error {
	m, sc := s.model, s.sc
	var errs config.ErrorList
	for _, r := range sc.Regions {
		rid, ok := m.Region(r.ID)
		if !ok {
			errs = append(errs, s.fail(r.Pos, "regions."+r.ID, "the config has no region %q", r.ID))
			continue
		}
		reg := region{sc: r, model: rid}
		for _, w := range r.Curve {
			reg.curveSum += w
		}
		sum := 0.0
		for _, c := range r.Countries {
			k, _ := geo.LookupCountry(c.Name.Value)
			if m.RegionOf(k) != rid {
				errs = append(errs, s.fail(c.Name.Pos, "regions."+r.ID+".countries."+c.Name.Value,
					"%s is in region %s of the config, not %s", c.Name.Value, m.Regions[m.RegionOf(k)].ID, r.ID))
				continue
			}
			sum += c.Weight
			reg.countries, reg.cweights = append(reg.countries, k), append(reg.cweights, sum)
			var pts []int32
			for _, ll := range c.Points {
				pts = append(pts, int32(len(s.points)))
				s.points = append(s.points, ll)
			}
			if pts == nil {
				pts = []int32{s.centroid(k)}
			}
			reg.points = append(reg.points, pts)
		}
		if r.Countries == nil {
			// The countries of the region's DCs, in config order, equally.
			for i := range m.DCs {
				if d := &m.DCs[i]; d.Region == rid && !slices.Contains(reg.countries, d.Country) {
					sum++
					reg.countries, reg.cweights = append(reg.countries, d.Country), append(reg.cweights, sum)
					reg.points = append(reg.points, []int32{s.centroid(d.Country)})
				}
			}
			if len(reg.countries) == 0 {
				errs = append(errs, s.fail(r.Pos, "regions."+r.ID, "region %s has no datacenter in its countries; say where its participants are (countries: {CC: weight})", r.ID))
			}
		}
		sum = 0
		addHost := func(a account, w float64) {
			i := slices.IndexFunc(s.accounts, func(x account) bool { return x.id == a.id })
			if i < 0 {
				i = len(s.accounts)
				s.accounts = append(s.accounts, a)
			}
			sum += w
			reg.hosts, reg.hweights = append(reg.hosts, i), append(reg.hweights, sum)
		}
		for _, p := range r.Plans {
			if _, ok := m.Plan(p.Name.Value); !ok {
				errs = append(errs, s.fail(p.Name.Pos, "regions."+r.ID+".plans."+p.Name.Value, "the config has no plan %q", p.Name.Value))
				continue
			}
			addHost(account{id: "sim-" + p.Name.Value, plan: p.Name.Value}, p.Weight)
		}
		for _, a := range r.Accounts {
			acct, ok := m.Accounts[a.Name.Value]
			if !ok {
				errs = append(errs, s.fail(a.Name.Pos, "regions."+r.ID+".accounts."+a.Name.Value, "the config has no account %q", a.Name.Value))
				continue
			}
			addHost(account{id: acct.ID, plan: m.Plans[acct.Plan].ID, cfg: true}, a.Weight)
		}
		if r.Plans == nil && r.Accounts == nil {
			plan := "basic"
			if _, ok := m.Plan(plan); !ok {
				plan = m.Plans[0].ID
			}
			addHost(account{id: "sim-" + plan, plan: plan}, 1)
		}
		if len(reg.hosts) > 0 && reg.hweights[len(reg.hweights)-1] == 0 {
			errs = append(errs, s.fail(r.Pos, "regions."+r.ID, "every plan and account weight is zero"))
		}
		if _, dup := s.regionIdx[r.ID]; !dup {
			s.regionIdx[r.ID] = len(s.regions)
		}
		s.regions = append(s.regions, reg)
	}
	for _, e := range sc.Events {
		for _, n := range e.DCs {
			if _, ok := m.DC(n.Value); !ok {
				errs = append(errs, s.fail(n.Pos, "events", "the config has no datacenter %q", n.Value))
			}
		}
		for _, c := range e.Capacity {
			if _, ok := m.DC(c.DC.Value); !ok {
				errs = append(errs, s.fail(c.DC.Pos, "events", "the config has no datacenter %q", c.DC.Value))
			}
		}
		if e.Kind == scenario.Swap && s.opts.LoadConfig == nil {
			errs = append(errs, s.fail(e.ConfigAt, "events", "config swaps are not available here"))
		}
	}
	if len(errs) > 0 {
		return errs
	}
	for _, id := range s.opts.Down {
		x, ok := s.dcIndex[id]
		if !ok {
			return fmt.Errorf("simulate: the config has no datacenter %q to take down", id)
		}
		s.healthy[x] = false
	}
	for _, a := range s.accounts {
		if a.cfg {
			continue
		}
		if _, _, err := s.core.Store().PutAccount(context.Background(), directory.AccountRecord{ID: a.id, Plan: a.plan}); err != nil {
			return fmt.Errorf("simulate: create account %s: %w", a.id, err)
		}
		if s.trace != nil {
			s.tracef("account,%s,%s", a.id, a.plan)
		}
	}
	switch mm := &sc.Meetings; mm.SizeDist {
	case scenario.Fixed:
		s.sizeMean = math.Max(1, math.Round(mm.SizeMean))
	default:
		s.sizeMean = mm.SizeMean
	}
	return nil
}

func (s *sim) run(ctx context.Context) error {
	end := int64(s.sc.Duration)
	s.q.push(0, evReport, 0, 0)
	for i, e := range s.sc.Events {
		s.q.push(int64(e.At), evScenario, int32(i), 0)
	}
	s.q.push(0, evMinute, 0, 0)
	for n := 0; ; n++ {
		if n&0xffff == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		e, ok := s.q.pop()
		if !ok || e.at > end {
			break
		}
		s.now = e.at
		s.acc.events++
		switch e.kind {
		case evReport:
			s.report()
			if next := e.at + int64(s.sc.ReportInterval); next < end {
				s.q.push(next, evReport, 0, 0)
			}
		case evMinute:
			if e.at > 0 {
				s.closeMinute()
				if s.progress != nil && len(s.rows)%60 == 0 {
					s.progress(s.start.Add(time.Duration(e.at)), s.acc.totJoins)
				}
			}
			if e.at < end {
				s.arrivals(e.at)
				s.q.push(e.at+int64(time.Minute), evMinute, 0, 0)
			} else {
				return nil
			}
		case evScenario:
			if err := s.scenarioEvent(s.sc.Events[e.idx]); err != nil {
				return err
			}
		case evMeeting:
			s.startMeeting(e.idx)
		case evJoin:
			s.join(ctx, e.idx)
		case evLeave:
			if p := &s.parts[e.idx]; p.alive && p.gen == e.gen {
				s.leave(e.idx)
			}
		}
	}
	if len(s.rows) == 0 || s.acc.dirty || s.sharded {
		s.closeMinute()
	}
	return nil
}

// report is every DC agent's load report.
func (s *sim) report() {
	for d := range s.model.DCs {
		x := s.toSim[d]
		if s.reports != nil && (int(x) >= len(s.reports) || !s.reports[x]) {
			continue
		}
		s.core.ReportLoad(s.dcs[x].ID, s.count[x], s.healthy[x])
		if s.trace != nil {
			s.tracef("report,%s,%d,%t", s.dcs[x].ID, s.count[x], s.healthy[x])
		}
		if c := s.capacity[x]; c > 0 {
			s.acc.seeUtil(x, float64(s.count[x])/float64(c))
		}
	}
}

func (s *sim) scenarioEvent(e *scenario.Event) error {
	switch e.Kind {
	case scenario.Down, scenario.Up:
		for _, n := range e.DCs {
			x := s.dcIndex[n.Value]
			s.healthy[x] = e.Kind == scenario.Up
			if e.Kind == scenario.Down {
				s.drop(x)
			}
		}
		s.report()
	case scenario.Capacity:
		c := *s.model.Config
		c.Datacenters = slices.Clone(c.Datacenters)
		for _, v := range e.Capacity {
			for i, d := range c.Datacenters {
				if d.ID == v.DC.Value {
					nd := *d
					nd.Capacity = v.Capacity
					c.Datacenters[i] = &nd
				}
			}
		}
		m, err := policy.New(&c)
		if err != nil {
			return fmt.Errorf("simulate: capacity change at %s: %w", e.At, err)
		}
		s.swap(m)
	case scenario.Swap:
		m, err := s.opts.LoadConfig(e.Config)
		if err != nil {
			return fmt.Errorf("simulate: config swap at %s: %w", e.At, err)
		}
		s.swap(m)
	}
	return nil
}

func (s *sim) swap(m *policy.Model) {
	s.core.SetModel(m)
	if s.trace != nil {
		s.tracef("model,%s", m.Config.File)
	}
	s.adopt(m)
	s.acc.swaps++
	s.report()
}

// drop disconnects every participant of DC x (it went down): each rejoins after the rejoin
// delay, through the directory again.
func (s *sim) drop(x int32) {
	delay := int64(s.sc.Meetings.RejoinDelay)
	for i := range s.parts {
		p := &s.parts[i]
		if !p.alive || p.dc != x {
			continue
		}
		s.count[x]--
		if s.trace != nil {
			s.tracef("drop,%s,p%d,%s", s.meetings[p.meeting].id, i, s.dcs[x].ID)
		}
		p.dc = -1
		p.gen++
		p.rejoin = true
		s.acc.dropped++
		at := s.now + delay
		if delay > 0 {
			at += s.jitter.Int64N(delay) // spread the reconnect storm over a second delay
		}
		s.q.push(at, evJoin, int32(i), p.gen)
	}
}

// arrivals schedules the meetings that start in the minute from t.
func (s *sim) arrivals(t int64) {
	minute := float64(time.Minute)
	mult := s.sc.MultiplierAt(time.Duration(t))
	at := s.start.Add(time.Duration(t))
	for ri := range s.regions {
		r := &s.regions[ri]
		if r.curveSum == 0 || r.sc.Joins == 0 || mult == 0 || s.active != nil && !s.active[ri] {
			continue
		}
		h := at.In(r.sc.Timezone).Hour()
		joinsPerMinute := r.sc.Joins * r.sc.Curve[h] / r.curveSum / 60
		lambda := joinsPerMinute * mult / s.sizeMean
		var n int
		if s.sc.Meetings.Arrivals == scenario.Even {
			r.carry += lambda
			n = int(r.carry)
			r.carry -= float64(n)
			for i := range n {
				s.newMeeting(ri, t+int64((float64(i)+0.5)*minute/float64(n)))
			}
			continue
		}
		n = poisson(s.rng, lambda)
		times := make([]int64, n)
		for i := range times {
			times[i] = t + s.rng.Int64N(int64(time.Minute))
		}
		slices.Sort(times)
		for _, x := range times {
			s.newMeeting(ri, x)
		}
	}
}

func (s *sim) newMeeting(ri int, at int64) {
	var i int32
	if n := len(s.freeM); n > 0 {
		i, s.freeM = s.freeM[n-1], s.freeM[:n-1]
	} else {
		i = int32(len(s.meetings))
		s.meetings = append(s.meetings, meeting{})
	}
	r := &s.regions[ri]
	s.meetings[i] = meeting{acct: int16(r.hosts[pick(s.rng, r.hweights)]), region: int16(ri), home: -1}
	s.q.push(at, evMeeting, i, 0)
}

func (s *sim) startMeeting(i int32) {
	mt := &s.meetings[i]
	r := &s.regions[mt.region]
	mode := wire.ModeManaged
	if f := s.sc.Meetings.E2EE; f > 0 && s.rng.Float64() < f {
		mode = wire.ModeE2EE
	}
	hi := pick(s.rng, r.cweights)
	host := r.countries[hi]
	hostAt := s.points[r.points[hi][0]]
	n := s.size()
	s.acc.meetings++
	// Every draw of the meeting is made before the directory answers anything, so that the
	// demand of a seed is the same whatever the config does with it (--compare).
	first := int32(-1)
	spread := float64(s.sc.Meetings.JoinSpread)
	for k := range n {
		ri, ci := int(mt.region), hi
		if k > 0 {
			if f := s.sc.Meetings.CrossRegion; f > 0 && len(s.regions) > 1 && s.rng.Float64() < f {
				ri = s.otherRegion(ri)
			}
			ci = pick(s.rng, s.regions[ri].cweights)
		}
		c, pts := s.regions[ri].countries[ci], s.regions[ri].points[ci]
		pt := pts[0]
		if len(pts) > 1 {
			pt = pts[s.rng.IntN(len(pts))]
		}
		var off int64
		if k > 0 && spread > 0 {
			off = int64(s.rng.ExpFloat64() * spread)
		}
		var pi int32
		if m := len(s.freeP); m > 0 {
			pi, s.freeP = s.freeP[m-1], s.freeP[:m-1]
		} else {
			pi = int32(len(s.parts))
			s.parts = append(s.parts, participant{})
		}
		s.parts[pi] = participant{meeting: i, country: c, point: pt, region: int16(ri), dc: -1, alive: true,
			gen: s.parts[pi].gen + 1, stay: s.stay(), next: first, at: s.now + off}
		first = pi
	}
	rec, err := s.core.CreateMeeting(context.Background(), directory.CreateMeeting{HostAccount: s.accounts[mt.acct].id, Mode: mode,
		Host: directory.Where{Country: host, Location: hostAt, Located: true}})
	if err == nil {
		mt.id, mt.pending = rec.ID, int32(n)
	}
	if s.trace != nil {
		s.tracef("create,%s,%s,%s,%s,%s,%s", rec.ID, s.accounts[mt.acct].id, host.Code(), latLon(hostAt), mode, outcome(err, rec.Region))
	}
	for pi := first; pi >= 0; {
		p := &s.parts[pi]
		next := p.next
		if err != nil {
			// Every participant of a meeting that cannot be created is refused with its code.
			s.acc.joins++
			s.acc.region(int(p.region)).joins++
			s.refused(int(p.region), err)
			p.alive = false
			s.freeP = append(s.freeP, pi)
		} else {
			s.q.push(p.at, evJoin, pi, 0)
		}
		pi = next
	}
	if err != nil {
		s.freeM = append(s.freeM, i)
	}
}

// otherRegion picks a region other than ri, weighted by the regions' joins.
func (s *sim) otherRegion(ri int) int {
	total := 0.0
	for j := range s.regions {
		if j != ri {
			total += s.regions[j].sc.Joins
		}
	}
	if total == 0 {
		return ri
	}
	x := s.rng.Float64() * total
	for j := range s.regions {
		if j == ri {
			continue
		}
		if x -= s.regions[j].sc.Joins; x < 0 {
			return j
		}
	}
	return ri
}

func (s *sim) size() int {
	mm := &s.sc.Meetings
	if mm.SizeDist == scenario.Fixed || mm.SizeMean <= 1 {
		return int(s.sizeMean)
	}
	// 1 + a geometric count with mean SizeMean-1, capped.
	p := 1 / mm.SizeMean
	n := 1 + int(math.Floor(math.Log(1-s.rng.Float64())/math.Log(1-p)))
	return min(max(n, 1), mm.SizeMax)
}

func (s *sim) stay() int64 {
	mm := &s.sc.Meetings
	mean := float64(mm.StayMean)
	var v float64
	switch mm.StayDist {
	case scenario.Fixed:
		v = mean
	case scenario.Exponential:
		v = s.rng.ExpFloat64() * mean
	default:
		mu := math.Log(mean) - mm.StaySigma*mm.StaySigma/2
		v = math.Exp(mu + mm.StaySigma*s.rng.NormFloat64())
	}
	return int64(min(max(v, float64(time.Second)), float64(mm.MaxStay)))
}

func (s *sim) join(ctx context.Context, pi int32) {
	p := &s.parts[pi]
	mt := &s.meetings[p.meeting]
	if p.rejoin && p.leaveAt <= s.now {
		s.gone(pi) // it would have left before reconnecting
		return
	}
	s.acc.joins++
	s.acc.region(int(p.region)).joins++
	if p.rejoin {
		s.acc.rejoins++
	}
	where := directory.Where{Country: p.country, Location: s.points[p.point], Located: true}
	acct := s.accounts[mt.acct].id
	var preHome policy.DCID = policy.None
	if mt.home >= 0 {
		preHome = s.toModel[mt.home]
	}
	if s.opts.Widening {
		s.widening(p, mt)
	}
	// Made for each join: a string kept per slot would be read cold from all over the heap.
	pid := "p" + strconv.Itoa(int(pi))
	res, err := s.core.Join(ctx, directory.JoinRequest{Meeting: mt.id, Account: acct, Participant: pid, Where: where})
	if s.trace != nil {
		at := latLon(s.points[p.point])
		if err != nil {
			s.tracef("join,%s,%s,%s,%s,%s,%s,,,", mt.id, pid, acct, p.country.Code(), at, outcome(err, ""))
		} else {
			s.tracef("join,%s,%s,%s,%s,%s,%s,%s,%s,%s", mt.id, pid, acct, p.country.Code(), at, res.Model.DCs[res.Placement.First].ID, res.Claims.Home,
				dcIDs(res.Claims.Primary), dcIDs(res.Claims.Secondary))
		}
	}
	if err != nil {
		s.refused(int(p.region), err)
		if p.rejoin {
			s.acc.droppedRefused++
		}
		s.gone(pi)
		return
	}
	m := res.Model
	if m != s.model {
		s.adopt(m)
	}
	s.recheck(m, res)
	pl := &res.Placement
	x := s.toSim[pl.First]
	s.count[x]++
	p.dc = x
	mt.home = s.toSim[pl.Home]
	s.acc.placed++
	rs := s.acc.region(int(p.region))
	rs.placed++
	s.acc.place(x, int(p.region))
	s.acc.secondaries += int64(len(pl.Secondary))
	if pl.Rehomed {
		s.acc.rehomes++
	}
	if want := s.intendedDC(m, p, mt, preHome); want != x {
		s.acc.spill(want, x, int(p.region))
	}
	if !p.rejoin {
		p.leaveAt = s.now + p.stay
	}
	p.rejoin = false
	if p.leaveAt > s.now {
		s.q.push(p.leaveAt, evLeave, pi, p.gen)
	} else {
		s.leave(pi)
	}
}

// recheck is the admission every DC of the ticket would make (I1): the media servers for the
// primaries and secondaries (and through them the home), the key servers for the kms list.
//
// admission.Check is a pure function of the model, the DC, the service and the ticket's rule
// context, home and lists; a ticket's DCs are on its lists by construction. So its verdicts
// are memoized by (model, rule context, home): each distinct case is checked by the admission
// code once and every later placement of the same case gets the same verdict. A refusal is
// never memoized: it is checked again and reported each time. Options.RecheckEvery turns the
// memo off.
func (s *sim) recheck(m *policy.Model, res *directory.JoinResult) {
	c := &res.Claims
	var verdicts []uint8
	if !s.opts.RecheckEvery {
		x := &c.Context
		k := admitKey{model: m, pc: x.ParticipantCountry, pr: x.ParticipantRegion, pp: x.ParticipantPlan, mr: x.MeetingRegion,
			hp: x.HostPlan, home: c.Home, narrowed: x.HostDataRegions != nil}
		if k.narrowed {
			k.hdr = strings.Join(x.HostDataRegions, ",")
		}
		if verdicts = s.admitted[k]; verdicts == nil {
			verdicts = make([]uint8, 2*len(m.DCs))
			s.admitted[k] = verdicts
		}
	}
	check := func(ids []policy.DCID, svc admission.Service) {
		for _, d := range ids {
			i := 2*int(d) + int(svc)
			if verdicts != nil && verdicts[i] == admitted {
				continue
			}
			ref := admission.Check(m, d, svc, c)
			if ref == nil {
				if verdicts != nil {
					verdicts[i] = admitted
				}
				continue
			}
			s.nviol++
			if len(s.viol) < maxViolations {
				s.viol = append(s.viol, Violation{Time: s.start.Add(time.Duration(s.now)), Meeting: c.Meeting,
					ParticipantCountry: c.Context.ParticipantCountry, ParticipantRegion: c.Context.ParticipantRegion,
					MeetingRegion: c.Region, Datacenter: m.DCs[d].ID, Service: svc.String(), Code: ref.Code, Rule: ref.Rule, Message: ref.Message})
			}
		}
	}
	check(res.Placement.Primary, admission.Media)
	check(res.Placement.Secondary, admission.Media)
	check(res.Placement.KMS, admission.KMS)
}

const admitted = 1

// admitKey is what admission.Check reads of a ticket besides its lists.
type admitKey struct {
	model                    *policy.Model
	pc, pr, pp, mr, hp, home string
	hdr                      string
	narrowed                 bool
}

const maxViolations = 100

// intendedDC is where the participant would have gone first on an idle, healthy world, with
// the meeting's home as it was: a placement elsewhere is spill.
func (s *sim) intendedDC(m *policy.Model, p *participant, mt *meeting, home policy.DCID) int32 {
	k := intentKey{model: m, point: p.point, country: p.country, acct: mt.acct, region: policy.RegionID(mt.region), home: home}
	if x, ok := s.intended[k]; ok {
		return x
	}
	x := int32(-1)
	if rp, rm, ok := s.parties(m, p, mt, home); ok {
		var pl route.Placement
		if route.Join(m, rp, rm, route.State{}, &pl) == nil {
			x = s.toSim[pl.First]
		}
	}
	s.intended[k] = x
	return x
}

// parties are the participant and meeting of a join in route's terms, as the core builds them.
func (s *sim) parties(m *policy.Model, p *participant, mt *meeting, home policy.DCID) (route.Participant, route.Meeting, bool) {
	a := s.accounts[mt.acct]
	rec, err := s.core.Meeting(context.Background(), mt.id)
	if err != nil {
		return route.Participant{}, route.Meeting{}, false
	}
	mreg, ok := m.Region(rec.Region)
	if !ok {
		return route.Participant{}, route.Meeting{}, false
	}
	plan, _ := m.Plan(a.plan)
	var narrow policy.Set
	if a.cfg {
		if acct, ok := m.Accounts[a.id]; ok {
			plan, narrow = acct.Plan, acct.Narrowing()
		}
	}
	rp := route.Participant{Region: m.RegionOf(p.country), Plan: plan, Location: s.points[p.point], Located: true}
	rm := route.Meeting{Region: mreg, HostPlan: plan, Narrow: narrow, Home: home, E2EE: rec.Mode == wire.ModeE2EE}
	return rp, rm, true
}

// widening selects the join on the config without its residency rules, with the live state
// the directory has now, and counts the DCs it would have handed out that the rules forbid.
func (s *sim) widening(p *participant, mt *meeting) {
	m, st := s.core.LiveState()
	u, ok := s.unfenced[m]
	if !ok {
		c := *m.Config
		c.Residency = nil
		u, _ = policy.New(&c)
		s.unfenced[m] = u
	}
	if u == nil {
		return
	}
	home := policy.DCID(policy.None)
	if mt.home >= 0 {
		home = s.toModel[mt.home]
	}
	rp, rm, ok := s.parties(m, p, mt, home)
	if !ok {
		return
	}
	var pl route.Placement
	if route.Join(u, rp, rm, st, &pl) != nil {
		return
	}
	sides := policy.Sides{ParticipantRegion: rp.Region, ParticipantPlan: rp.Plan, MeetingRegion: rm.Region, HostPlan: rm.HostPlan, Narrow: rm.Narrow}
	for li, ids := range [...][]policy.DCID{pl.Primary, pl.Secondary, pl.KMS} {
		for _, d := range ids {
			if !m.AllowsSides(&sides, d) {
				s.acc.wouldUse(s.toSim[d], li, d == pl.First && li < 2, int(p.region))
			}
		}
	}
}

// tracef writes one trace line: the simulated time, then the fields.
func (s *sim) tracef(format string, args ...any) {
	s.trace.WriteString(s.start.Add(time.Duration(s.now)).Format(time.RFC3339Nano))
	s.trace.WriteByte(',')
	fmt.Fprintf(s.trace, format, args...)
	s.trace.WriteByte('\n')
}

// latLon is a location as two CSV fields, each exactly (the shortest text that reads back as
// the same float64), so that a replay locates a participant where the simulator did.
func latLon(ll geo.LatLon) string {
	return strconv.FormatFloat(ll.Lat, 'g', -1, 64) + "," + strconv.FormatFloat(ll.Lon, 'g', -1, 64)
}

// dcIDs is a ticket's list as one CSV field: the DC ids separated by spaces.
func dcIDs(l []wire.DC) string {
	var b strings.Builder
	for i, d := range l {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(d.ID)
	}
	return b.String()
}

// outcome is "ok" (or what) for no error, else the refusal's code.
func outcome(err error, what string) string {
	if err == nil {
		if what == "" {
			return "ok"
		}
		return what
	}
	var de *directory.Error
	if errors.As(err, &de) {
		return de.Code
	}
	return wire.CodeInternal
}

func (s *sim) refused(region int, err error) {
	code, rules := wire.CodeInternal, []string(nil)
	var de *directory.Error
	if errors.As(err, &de) {
		code, rules = de.Code, de.Rules
	}
	s.acc.refuse(region, code, rules)
}

func (s *sim) leave(pi int32) {
	p := &s.parts[pi]
	if p.dc >= 0 {
		s.count[p.dc]--
		if s.trace != nil {
			s.tracef("leave,%s,p%d,%s", s.meetings[p.meeting].id, pi, s.dcs[p.dc].ID)
		}
	}
	s.gone(pi)
}

// gone frees a participant; the meeting ends with its last one.
func (s *sim) gone(pi int32) {
	p := &s.parts[pi]
	p.alive, p.dc = false, -1
	mi := p.meeting
	s.freeP = append(s.freeP, pi)
	mt := &s.meetings[mi]
	if mt.pending--; mt.pending == 0 {
		s.core.EndMeeting(context.Background(), mt.id)
		if s.trace != nil {
			s.tracef("end,%s", mt.id)
		}
		s.freeM = append(s.freeM, mi)
	}
}

// pick is an index drawn from cumulative weights.
func pick(r *rand.Rand, cum []float64) int {
	if len(cum) == 1 {
		return 0
	}
	x := r.Float64() * cum[len(cum)-1]
	i, _ := slices.BinarySearch(cum, x)
	for i < len(cum)-1 && cum[i] <= x {
		i++
	}
	return min(i, len(cum)-1)
}

// poisson draws a Poisson count of mean lambda: Knuth's product method for small means, the
// normal approximation (error under 1% of sigma) above 30.
func poisson(r *rand.Rand, lambda float64) int {
	if lambda <= 0 {
		return 0
	}
	if lambda > 30 {
		return max(0, int(math.Round(lambda+math.Sqrt(lambda)*r.NormFloat64())))
	}
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}
