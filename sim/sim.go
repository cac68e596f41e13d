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
// It is deterministic for a seed, on any number of cores: events are ordered by time and then
// by the order they were scheduled, and two random sources are consumed in that order, one for
// the demand and one for what depends on the directory's answers (reconnections). The demand
// is drawn on a goroutine of its own and played against the core on another (demand.go).
// Groups of regions that cannot affect each other run as simulations of their own, each with
// its own core and sources, and are merged per minute (see shard.go). It is not a load generator for a real
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
	// Seed seeds the run's two random sources (the demand's and the reconnections').
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
}

type meeting struct {
	host    geo.Country // where its host is
	gen     uint32      // the slot's reuses: its meeting ids are meetingID(slot, gen)
	pending int32       // participants not yet gone
	acct    int16
	region  int16 // host's scenario region
	home    int32 // sim DC index, -1 before the first join
}

// participant is the directory side's view of a participant slot (the demand side assigns
// slots).
type participant struct { // 32 bytes: two to a cache line
	leaveAt int64
	meeting int32
	point   int32 // index into sim.points
	dc      int32 // sim DC index where it is, -1 when not placed
	country geo.Country
	region  int16 // scenario region
	alive   bool  // from its meeting's start until it is gone
	rejoin  bool  // dropped by a DC that went down, reconnecting
}

type sim struct {
	opts  Options
	sc    *scenario.Scenario
	core  *directory.Core
	model *policy.Model
	now   int64 // ns since start
	start time.Time
	// jitter is the random source of what depends on the directory's answers (rejoins):
	// the demand's is the demand side's own.
	jitter *rand.Rand
	// rejoins are the reconnections scheduled after DCs went down, a min-heap by (at, seq),
	// played between the demand's orders.
	rejoins []event
	rseq    uint64
	// createErr is the answer to the meeting whose participants' orders are being read.
	createErr error

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
	table     *meetingTable // the core's store, and the directory side's meetings by slot
	parts     []participant // by the demand side's participant slot
	points    []geo.LatLon  // where participants are: centroids and the scenario's points
	sizeMean  float64

	intended map[intentKey]int32
	admitted map[admitKey][]uint8
	fast     map[fastKey]*memo // a first index into admitted (see fastKey)
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

	res   directory.JoinResult // the answer of the join at hand, its storage reused
	touch toucher

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
		jitter:    rand.New(rand.NewPCG(opts.Seed^0x5851f42d4c957f2d, opts.Seed)),
		regionIdx: map[string]int{}, intended: map[intentKey]int32{}, admitted: map[admitKey][]uint8{}, unfenced: map[*policy.Model]*policy.Model{}}
	s.table = newMeetingTable(sc.Start)
	core, err := directory.New(directory.Config{Model: opts.Model, Store: s.table, MaxMeetingsPerAccount: -1,
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

// run runs the demand side on a goroutine of its own and plays its orders.
func (s *sim) run(parent context.Context) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	d := newDemand(s)
	derr := make(chan error, 1)
	go func() { derr <- d.run(ctx) }()
	err := s.consume(ctx, d.ch, d.back)
	cancel()
	for range d.ch { // let the demand side end
	}
	if e := <-derr; err == nil && e != nil && !errors.Is(e, context.Canceled) {
		err = e
	}
	if err == nil && parent.Err() != nil {
		err = parent.Err()
	}
	return err
}

// consume plays the demand's orders against the core, in order, with the reconnections
// after DC failures between them.
func (s *sim) consume(ctx context.Context, in <-chan []order, back chan<- []order) error {
	end := int64(s.sc.Duration)
	n := 0
	for batch := range in {
		for c := range touchLead {
			s.touch.step(s, window(batch, c))
		}
		for i := range batch {
			if i%touchWindow == 0 {
				s.touch.step(s, window(batch, i/touchWindow+touchLead))
			}
			o := &batch[i]
			for len(s.rejoins) > 0 && s.rejoins[0].at < o.at {
				s.rejoin(ctx)
			}
			if n++; n&0xffff == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			s.now = o.at
			if o.kind < evJoin { // joins and leaves count when they are played
				s.acc.events++
			}
			switch o.kind {
			case evReport:
				s.report()
			case evMinute:
				if o.at > 0 {
					s.closeMinute()
					if s.progress != nil && len(s.rows)%60 == 0 {
						s.progress(s.start.Add(time.Duration(o.at)), s.acc.totJoins)
					}
				}
				if o.at >= end {
					return nil
				}
			case evScenario:
				if err := s.scenarioEvent(s.sc.Events[o.idx]); err != nil {
					return err
				}
			case evMeeting:
				s.startMeeting(o)
			case evPart:
				s.part(o)
			case evJoin:
				if p := &s.parts[o.idx]; p.alive && p.dc < 0 && !p.rejoin {
					s.acc.events++
					s.join(ctx, o.idx, o.mid, o.pid)
				}
			case evLeave:
				// A participant reconnecting when its time is up is gone when it tries.
				if p := &s.parts[o.idx]; p.alive && p.dc >= 0 {
					s.acc.events++
					s.leave(o.idx)
				}
			}
		}
		back <- batch // never blocks: it has room for every batch there is
	}
	for len(s.rejoins) > 0 && s.rejoins[0].at <= end {
		s.rejoin(ctx)
	}
	if len(s.rows) == 0 || s.acc.dirty || s.sharded {
		s.closeMinute()
	}
	return nil
}

// rejoin plays the next reconnection.
func (s *sim) rejoin(ctx context.Context) {
	e := s.rejoins[0]
	n := len(s.rejoins) - 1
	s.rejoins[0] = s.rejoins[n]
	s.rejoins = s.rejoins[:n]
	down(s.rejoins, 0)
	s.now = e.at
	s.acc.events++
	s.join(ctx, e.idx, "", "")
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
		changes := map[string]int64{}
		for _, v := range e.Capacity {
			changes[v.DC.Value] = v.Capacity
		}
		m, err := s.model.WithCapacities(changes)
		if err != nil {
			return fmt.Errorf("simulate: capacity change at %s: %w", e.At, err)
		}
		if s.trace != nil {
			for _, v := range e.Capacity {
				s.tracef("capacity,%s,%d", v.DC.Value, v.Capacity)
			}
		}
		s.setModel(m)
	case scenario.Swap:
		m, err := s.opts.LoadConfig(e.Config)
		if err != nil {
			return fmt.Errorf("simulate: config swap at %s: %w", e.At, err)
		}
		s.swap(m)
	}
	return nil
}

// swap swaps in the model of a config file.
func (s *sim) swap(m *policy.Model) {
	if s.trace != nil {
		s.tracef("model,%s", m.Config.File)
	}
	s.setModel(m)
}

// setModel swaps in m (a config swap or a capacity change), as a config push does.
func (s *sim) setModel(m *policy.Model) {
	s.core.SetModel(m)
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
			s.tracef("drop,%s,p%d,%s", s.meetingOf(p), i, s.dcs[x].ID)
		}
		p.dc = -1
		p.rejoin = true
		s.acc.dropped++
		at := s.now + delay
		if delay > 0 {
			at += s.jitter.Int64N(delay) // spread the reconnect storm over a second delay
		}
		s.rejoins = append(s.rejoins, event{at: at, seq: s.rseq, idx: int32(i), kind: evJoin})
		s.rseq++
		up(s.rejoins, len(s.rejoins)-1)
	}
}

// startMeeting creates the meeting of o in the core; its participants' orders follow.
func (s *sim) startMeeting(o *order) {
	i := o.idx
	mt := s.table.meeting(i)
	*mt = meeting{gen: o.gen, acct: o.acct, region: o.region, home: -1, host: o.country}
	mode := wire.ModeManaged
	if o.e2ee {
		mode = wire.ModeE2EE
	}
	host, hostAt := o.country, s.points[o.point]
	s.acc.meetings++
	rec, err := s.core.CreateMeeting(context.Background(), directory.CreateMeeting{ID: meetingID(i, mt.gen), HostAccount: s.accounts[mt.acct].id, Mode: mode,
		Host: directory.Where{Country: host, Location: hostAt, Located: true}})
	if err == nil {
		mt.pending = o.size
	}
	s.createErr = err
	if s.trace != nil {
		s.tracef("create,%s,%s,%s,%s,%s,%s", rec.ID, s.accounts[mt.acct].id, host.Code(), latLon(hostAt), mode, outcome(err, rec.Region))
	}
}

// part takes in a participant of the meeting just started: it joins at its own time, or,
// when the meeting could not be created, is refused now with the meeting's code.
func (s *sim) part(o *order) {
	for int(o.idx) >= len(s.parts) {
		s.parts = append(s.parts, participant{})
	}
	s.parts[o.idx] = participant{meeting: o.meeting, country: o.country, point: o.point, region: o.region, dc: -1,
		leaveAt: o.leaveAt, alive: s.createErr == nil}
	if s.createErr != nil {
		s.acc.joins++
		s.acc.region(int(o.region)).joins++
		s.refused(int(o.region), s.createErr)
	}
}

// join plays a join of participant pi, whose meeting's id and own are mid and pid, or made
// here when "".
func (s *sim) join(ctx context.Context, pi int32, mid, pid string) {
	p := &s.parts[pi]
	mt := s.table.meeting(p.meeting)
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
	// Made for each join: strings kept per slot would be read cold from all over the heap.
	if mid == "" {
		mid, pid = joinIDs(p.meeting, mt.gen, pi)
	}
	res := &s.res
	err := s.core.JoinInto(ctx, directory.JoinRequest{Meeting: mid, Account: acct, Participant: pid, Where: where}, res)
	if s.trace != nil {
		at := latLon(s.points[p.point])
		if err != nil {
			s.tracef("join,%s,%s,%s,%s,%s,%s,,,", mid, pid, acct, p.country.Code(), at, outcome(err, ""))
		} else {
			s.tracef("join,%s,%s,%s,%s,%s,%s,%s,%s,%s", mid, pid, acct, p.country.Code(), at, res.Model.DCs[res.Placement.First].ID, res.Claims.Home,
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
	s.recheck(m, res, fastKey{model: m, country: p.country, host: mt.host, acct: mt.acct, home: s.toSim[res.Placement.Home]})
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
	p.rejoin = false // its leave comes from the demand side at leaveAt
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
func (s *sim) recheck(m *policy.Model, res *directory.JoinResult, fk fastKey) {
	c := &res.Claims
	var verdicts []uint8
	if !s.opts.RecheckEvery {
		x := &c.Context
		e := s.fast[fk]
		if fk.model != nil && e != nil && e.matches(c) {
			verdicts = e.verdicts
		} else {
			k := admitKey{model: m, pc: x.ParticipantCountry, pr: x.ParticipantRegion, pp: x.ParticipantPlan, mr: x.MeetingRegion,
				hp: x.HostPlan, home: c.Home, narrowed: x.HostDataRegions != nil}
			if k.narrowed {
				k.hdr = strings.Join(x.HostDataRegions, ",")
			}
			if verdicts = s.admitted[k]; verdicts == nil {
				verdicts = make([]uint8, 2*len(m.DCs))
				s.admitted[k] = verdicts
			}
			if fk.model != nil && e == nil {
				if s.fast == nil {
					s.fast = map[fastKey]*memo{}
				}
				s.fast[fk] = &memo{k: k, hdr: slices.Clone(x.HostDataRegions), verdicts: verdicts}
			}
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

// fastKey is what the simulator itself knows of a join that decides the rule context a
// correct core writes into the ticket (the participant's country and account, the host's
// country, the home): small numbers, cheaper to look up than the ticket's strings. It only
// finds a memo entry; the entry is used when its admitKey is the ticket's own (matches), so a
// core that wrote another context would be checked again, not looked up.
type fastKey struct {
	model   *policy.Model
	country geo.Country
	host    geo.Country
	acct    int16
	home    int32
}

type memo struct {
	k        admitKey
	hdr      []string
	verdicts []uint8
}

// matches reports whether c's rule context and home are those of m's key.
func (m *memo) matches(c *wire.Claims) bool {
	x := &c.Context
	return m.k.pc == x.ParticipantCountry && m.k.pr == x.ParticipantRegion && m.k.pp == x.ParticipantPlan &&
		m.k.mr == x.MeetingRegion && m.k.hp == x.HostPlan && m.k.home == c.Home &&
		m.k.narrowed == (x.HostDataRegions != nil) && slices.Equal(m.hdr, x.HostDataRegions)
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
	rec, err := s.core.Meeting(context.Background(), meetingID(p.meeting, mt.gen))
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
			s.tracef("leave,%s,p%d,%s", s.meetingOf(p), pi, s.dcs[p.dc].ID)
		}
	}
	s.gone(pi)
}

// gone frees a participant; the meeting ends with its last one.
func (s *sim) gone(pi int32) {
	p := &s.parts[pi]
	p.alive, p.dc = false, -1
	mt := s.table.meeting(p.meeting)
	if mt.pending--; mt.pending == 0 {
		id := meetingID(p.meeting, mt.gen)
		s.core.EndMeeting(context.Background(), id)
		if s.trace != nil {
			s.tracef("end,%s", id)
		}
	}
}

// meetingOf is the id of p's meeting.
func (s *sim) meetingOf(p *participant) string {
	return meetingID(p.meeting, s.table.meeting(p.meeting).gen)
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
