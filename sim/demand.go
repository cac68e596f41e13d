package sim

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/geofence/geofence/geo"
	"github.com/geofence/geofence/sim/scenario"
)

// The simulation runs as a pipeline of two goroutines. The demand side (this file) draws what
// the scenario asks for, in time order: the meetings that start each minute, their
// participants (where they are, when they join, how long they stay), the load reports and
// the scenario's events. It knows nothing of the directory's answers, which is what keeps the
// demand of a seed the same whatever a config does with it (--compare). The directory side
// (sim.consume) plays those orders against the directory core, in the same order, and keeps
// everything that depends on the answers: where each participant is, the meetings' homes,
// the reconnections after a DC fails (with its own random source), the series. Batches of
// orders go from one to the other over a channel, so a day uses two cores; the result is the
// same on one.

// order is one instruction from the demand side to the directory side.
type order struct {
	at      int64 // ns since the start
	leaveAt int64 // evPart: when the participant leaves (its first join plus its stay)
	// idx is the meeting's slot (evMeeting), the participant's (evPart, evJoin, evLeave) or
	// the scenario event's index (evScenario).
	idx     int32
	meeting int32       // evPart: the meeting's slot
	size    int32       // evMeeting: the participants that follow it as evPart orders
	point   int32       // evMeeting: the host's point; evPart: the participant's
	gen     uint32      // evMeeting: the slot's generation (its id is meetingID(idx, gen))
	country geo.Country // evMeeting: the host's; evPart: the participant's
	region  int16       // evMeeting: the host's scenario region; evPart: the participant's
	acct    int16       // evMeeting: the host account
	kind    uint8
	e2ee    bool // evMeeting
	// evJoin: the ids of the meeting and the participant, made here to spare the directory
	// side, the busier of the two.
	mid, pid string
}

// evPart is a participant of the meeting of the evMeeting order just before (demand to
// directory only; it is not an event of the simulation).
const evPart = evLeave + 1

// Orders go over in batches of batchSize, from a pool of maxBatches: at most that many
// batches (8 MB) between the two sides.
const (
	batchSize  = 4096
	maxBatches = 40
)

// demand is the demand side's state. It reads the sim's tables built by bind and never
// writes the sim.
type demand struct {
	s        *sim
	rng      *rand.Rand
	q        *queue
	now      int64
	carry    []float64 // per region: the fraction of a meeting carried to the next minute (Even arrivals)
	meetings []demandMeeting
	freeM    []int32
	parts    []partOf // per participant slot: its meeting
	freeP    []int32
	// A slot is reused only once the directory side is done with it: a participant's by
	// its leave plus the longest reconnection (cool), a meeting's by its last participant's.
	// Leaves come in time order, so the cooling slots form a queue in time order too.
	cool    int64
	cooling []cooled
	head    int
	drawn   []order // the participants of the meeting being drawn
	// touch's: the meetings to read at its next step, and what it read.
	touchMs  [touchWindow]int32
	nTouchMs int
	sink     int64
	out      []order
	batches  int          // batches made (at most maxBatches)
	ch       chan []order // full batches to the directory side; closed at the end
	back     chan []order // batches it has read, for reuse
}

type demandMeeting struct {
	gen     uint32
	pending int32 // participants whose leave has not come
	acct    int16
	region  int16
}

// partOf is a participant's meeting: its slot and generation.
type partOf struct {
	meeting int32
	gen     uint32
}

type cooled struct {
	at      int64
	idx     int32
	meeting bool
}

func newDemand(s *sim) *demand {
	seed := s.opts.Seed
	return &demand{s: s, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), q: newQueue(s.sc.Duration),
		carry: make([]float64, len(s.regions)), cool: 2*int64(s.sc.Meetings.RejoinDelay) + 1,
		out: make([]order, 0, batchSize), batches: 1, ch: make(chan []order, maxBatches), back: make(chan []order, maxBatches)}
}

// run draws the scenario's demand to its end and sends it; it closes d.ch when it returns.
func (d *demand) run(ctx context.Context) error {
	defer close(d.ch)
	end := int64(d.s.sc.Duration)
	d.q.push(0, evReport, 0)
	for i, e := range d.s.sc.Events {
		d.q.push(int64(e.At), evScenario, int32(i))
	}
	d.q.push(0, evMinute, 0)
	for n := 0; ; n++ {
		if n&0xffff == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if n%touchWindow == 0 {
			d.touch()
		}
		e, ok := d.q.pop()
		if !ok || e.at > end {
			break
		}
		d.now = e.at
		switch e.kind {
		case evReport:
			d.emit(order{at: e.at, kind: evReport})
			if next := e.at + int64(d.s.sc.ReportInterval); next < end {
				d.q.push(next, evReport, 0)
			}
		case evMinute:
			d.emit(order{at: e.at, kind: evMinute})
			if e.at >= end {
				return d.flush(ctx)
			}
			d.arrivals(e.at)
			d.q.push(e.at+int64(time.Minute), evMinute, 0)
		case evScenario:
			d.emit(order{at: e.at, kind: evScenario, idx: e.idx})
		case evMeeting:
			d.startMeeting(e.idx)
		case evJoin:
			of := d.parts[e.idx]
			mid, pid := joinIDs(of.meeting, of.gen, e.idx)
			d.emit(order{at: e.at, kind: evJoin, idx: e.idx, mid: mid, pid: pid})
		case evLeave:
			d.emit(order{at: e.at, kind: evLeave, idx: e.idx})
			d.cooling = append(d.cooling, cooled{at: e.at + d.cool, idx: e.idx})
			mi := d.parts[e.idx].meeting
			mt := &d.meetings[mi]
			if mt.pending--; mt.pending == 0 {
				d.cooling = append(d.cooling, cooled{at: e.at + d.cool, idx: mi, meeting: true})
			}
		}
		if len(d.out) >= batchSize { // a meeting's orders may take a batch past batchSize, once
			if err := d.flush(ctx); err != nil {
				return err
			}
		}
	}
	return d.flush(ctx)
}

// touch reads the records of the events a few windows ahead in the bucket being drained, as
// the directory side's toucher does (touch.go): the participants of the joins and leaves,
// the meetings of the leaves (the step before read their participants) and of the starts.
func (d *demand) touch() {
	sink := d.sink
	for _, m := range d.touchMs[:d.nTouchMs] {
		sink += int64(d.meetings[m].pending)
	}
	d.nTouchMs = 0
	for _, e := range d.q.ahead(touchLead*touchWindow, touchWindow) {
		switch e.kind {
		case evJoin:
			sink += int64(d.parts[e.idx].gen)
		case evLeave:
			d.touchMs[d.nTouchMs] = d.parts[e.idx].meeting
			d.nTouchMs++
		case evMeeting:
			d.touchMs[d.nTouchMs] = e.idx
			d.nTouchMs++
		}
	}
	d.sink = sink
}

func (d *demand) emit(o order) { d.out = append(d.out, o) }

// flush sends the batch being filled and starts another.
func (d *demand) flush(ctx context.Context) error {
	if len(d.out) == 0 {
		return nil
	}
	select {
	case d.ch <- d.out:
	case <-ctx.Done():
		return ctx.Err()
	}
	// A fixed pool of batches: once it is all made, wait for the directory side to hand one
	// back (when the demand side runs ahead, garbage batches would otherwise pile up).
	if d.batches < maxBatches {
		d.batches++
		d.out = make([]order, 0, batchSize)
		return nil
	}
	select {
	case b := <-d.back:
		d.out = b[:0]
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// release makes the slots that have cooled down reusable.
func (d *demand) release() {
	for d.head < len(d.cooling) && d.cooling[d.head].at <= d.now {
		c := d.cooling[d.head]
		d.head++
		if c.meeting {
			d.freeM = append(d.freeM, c.idx)
		} else {
			d.freeP = append(d.freeP, c.idx)
		}
	}
	if d.head > 4096 && d.head*2 > len(d.cooling) {
		d.cooling = d.cooling[:copy(d.cooling, d.cooling[d.head:])]
		d.head = 0
	}
}

// arrivals schedules the meetings that start in the minute from t.
func (d *demand) arrivals(t int64) {
	s := d.s
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
			d.carry[ri] += lambda
			n = int(d.carry[ri])
			d.carry[ri] -= float64(n)
			for i := range n {
				d.newMeeting(ri, t+int64((float64(i)+0.5)*minute/float64(n)))
			}
			continue
		}
		n = poisson(d.rng, lambda)
		times := make([]int64, n)
		for i := range times {
			times[i] = t + d.rng.Int64N(int64(time.Minute))
		}
		slices.Sort(times)
		for _, x := range times {
			d.newMeeting(ri, x)
		}
	}
}

func (d *demand) newMeeting(ri int, at int64) {
	d.release()
	var i int32
	if n := len(d.freeM); n > 0 {
		i, d.freeM = d.freeM[n-1], d.freeM[:n-1]
	} else {
		i = int32(len(d.meetings))
		d.meetings = append(d.meetings, demandMeeting{})
	}
	r := &d.s.regions[ri]
	d.meetings[i] = demandMeeting{gen: d.meetings[i].gen + 1, acct: int16(r.hosts[pick(d.rng, r.hweights)]), region: int16(ri)}
	d.q.push(at, evMeeting, i)
}

// startMeeting draws meeting i's participants and sends the meeting with them. Every draw
// of the meeting is made here, before the directory answers anything.
func (d *demand) startMeeting(i int32) {
	s := d.s
	d.release()
	mt := &d.meetings[i]
	r := &s.regions[mt.region]
	e2ee := false
	if f := s.sc.Meetings.E2EE; f > 0 && d.rng.Float64() < f {
		e2ee = true
	}
	hi := pick(d.rng, r.cweights)
	n := d.size()
	spread := float64(s.sc.Meetings.JoinSpread)
	parts := slices.Grow(d.drawn[:0], n)[:n]
	d.drawn = parts
	for k := range n {
		ri, ci := int(mt.region), hi
		if k > 0 {
			if f := s.sc.Meetings.CrossRegion; f > 0 && len(s.regions) > 1 && d.rng.Float64() < f {
				ri = d.otherRegion(ri)
			}
			ci = pick(d.rng, s.regions[ri].cweights)
		}
		c, pts := s.regions[ri].countries[ci], s.regions[ri].points[ci]
		pt := pts[0]
		if len(pts) > 1 {
			pt = pts[d.rng.IntN(len(pts))]
		}
		var off int64
		if k > 0 && spread > 0 {
			off = int64(d.rng.ExpFloat64() * spread)
		}
		var pi int32
		if m := len(d.freeP); m > 0 {
			pi, d.freeP = d.freeP[m-1], d.freeP[:m-1]
		} else {
			pi = int32(len(d.parts))
			d.parts = append(d.parts, partOf{})
		}
		d.parts[pi] = partOf{meeting: i, gen: mt.gen}
		// at is when it first joins until the order is sent.
		parts[k] = order{at: d.now + off, kind: evPart, idx: pi, meeting: i, country: c, point: pt, region: int16(ri)}
		parts[k].leaveAt = parts[k].at + d.stay()
	}
	mt.pending = int32(n)
	d.emit(order{at: d.now, kind: evMeeting, idx: i, gen: mt.gen, acct: mt.acct, region: mt.region, e2ee: e2ee,
		country: r.countries[hi], point: r.points[hi][0], size: int32(n)})
	// The last drawn first, as the directory side has always taken them.
	for k := n - 1; k >= 0; k-- {
		p := parts[k]
		d.q.push(p.at, evJoin, p.idx)
		d.q.push(p.leaveAt, evLeave, p.idx)
		p.at = d.now
		d.emit(p)
	}
}

// otherRegion picks a region other than ri, weighted by the regions' joins.
func (d *demand) otherRegion(ri int) int {
	regions := d.s.regions
	total := 0.0
	for j := range regions {
		if j != ri {
			total += regions[j].sc.Joins
		}
	}
	if total == 0 {
		return ri
	}
	x := d.rng.Float64() * total
	for j := range regions {
		if j == ri {
			continue
		}
		if x -= regions[j].sc.Joins; x < 0 {
			return j
		}
	}
	return ri
}

func (d *demand) size() int {
	mm := &d.s.sc.Meetings
	if mm.SizeDist == scenario.Fixed || mm.SizeMean <= 1 {
		return int(d.s.sizeMean)
	}
	// 1 + a geometric count with mean SizeMean-1, capped.
	p := 1 / mm.SizeMean
	n := 1 + int(math.Floor(math.Log(1-d.rng.Float64())/math.Log(1-p)))
	return min(max(n, 1), mm.SizeMax)
}

func (d *demand) stay() int64 {
	mm := &d.s.sc.Meetings
	mean := float64(mm.StayMean)
	var v float64
	switch mm.StayDist {
	case scenario.Fixed:
		v = mean
	case scenario.Exponential:
		v = d.rng.ExpFloat64() * mean
	default:
		mu := math.Log(mean) - mm.StaySigma*mm.StaySigma/2
		v = math.Exp(mu + mm.StaySigma*d.rng.NormFloat64())
	}
	return int64(min(max(v, float64(time.Second)), float64(mm.MaxStay)))
}
