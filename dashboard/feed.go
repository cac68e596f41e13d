package dashboard

import (
	"context"
	"sync"
	"time"

	"github.com/geofence/geofence/directory"
)

// DefaultRefusals is how many refusals the feed keeps by default.
const DefaultRefusals = 256

// rateWindow is the window, in seconds, of the join rate and of "a region refusing".
const rateWindow = 60

// Refusal is a refused join as the dashboard shows it. It carries no personal data: no
// participant, account or meeting id and no address, only the rule context (countries,
// regions, plans), which is what the evidence log publishes too.
type Refusal struct {
	// Seq numbers the refusals the feed has seen, from 1.
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	// Code is the refusal's wire code (residency_conflict, plan_conflict, no_capacity,
	// evidence_unavailable); Rules the residency rules behind it ([] when none).
	Code  string   `json:"code"`
	Rules []string `json:"rules"`
	// Country, Region and Plan are the participant's; "" country when GeoIP did not know
	// the address.
	Country string `json:"country"`
	Region  string `json:"region"`
	Plan    string `json:"plan"`
	// MeetingRegion and HostPlan are the meeting's: with the above, the explain query that
	// reproduces the decision.
	MeetingRegion string `json:"meeting_region"`
	HostPlan      string `json:"host_plan"`
}

// Feed receives the directory core's join decisions (it is a directory.Decisions, set in
// directory.Config.Decisions, alone or with Tee) and keeps what the dashboard shows of them:
// counts, rates and the last refusals in a bounded ring. It never fails a decision. Its zero
// value is not usable; make one with NewFeed.
type Feed struct {
	mu          sync.Mutex
	ring        []Refusal // the last len(ring) refusals; ring[next % len] is the oldest once full
	seq         uint64
	joins       int64
	secondaries int64
	byCode      map[refusalKey]int64
	perSecond   [rateWindow]bucket
	lastRefusal map[string]time.Time // by participant region
	kick        chan struct{}
}

type refusalKey struct{ code, rule string }

// bucket counts the joins of one second.
type bucket struct {
	sec   int64
	joins int64
}

var _ directory.Decisions = (*Feed)(nil)

// NewFeed makes a feed that keeps the last n refusals (n <= 0: DefaultRefusals).
func NewFeed(n int) *Feed {
	if n <= 0 {
		n = DefaultRefusals
	}
	return &Feed{ring: make([]Refusal, 0, n), byCode: map[refusalKey]int64{}, lastRefusal: map[string]time.Time{},
		kick: make(chan struct{}, 1)}
}

// JoinDecided implements directory.Decisions. It is on the join's path: it takes one short
// lock and never blocks on the dashboard's readers.
func (f *Feed) JoinDecided(_ context.Context, d *directory.JoinDecision) error {
	f.record(d)
	select {
	case f.kick <- struct{}{}:
	default:
	}
	return nil
}

func (f *Feed) record(d *directory.JoinDecision) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d.Refusal == nil {
		f.joins++
		if d.Claims != nil {
			f.secondaries += int64(len(d.Claims.Secondary))
		}
		sec := d.Time.Unix()
		b := &f.perSecond[sec%rateWindow]
		if b.sec != sec {
			*b = bucket{sec: sec}
		}
		b.joins++
		return
	}
	rules := d.Refusal.Rules
	if len(rules) == 0 {
		f.byCode[refusalKey{d.Refusal.Code, ""}]++
	}
	for _, r := range rules {
		f.byCode[refusalKey{d.Refusal.Code, r}]++
	}
	f.seq++
	r := Refusal{Seq: f.seq, Time: d.Time.UTC(), Code: d.Refusal.Code, Rules: append([]string{}, rules...),
		Country: d.Context.ParticipantCountry, Region: d.Context.ParticipantRegion, Plan: d.Context.ParticipantPlan,
		MeetingRegion: d.Context.MeetingRegion, HostPlan: d.Context.HostPlan}
	if len(f.ring) < cap(f.ring) {
		f.ring = append(f.ring, r)
	} else {
		f.ring[(f.seq-1)%uint64(cap(f.ring))] = r
	}
	f.lastRefusal[r.Region] = d.Time
}

// Refusals returns the refusals kept with a sequence number above after, oldest first.
func (f *Feed) Refusals(after uint64) []Refusal {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Refusal, 0, len(f.ring))
	n := uint64(len(f.ring))
	for i := range n {
		seq := f.seq - n + 1 + i // oldest first
		if seq <= after {
			continue
		}
		out = append(out, f.ring[(seq-1)%uint64(cap(f.ring))])
	}
	return out
}

// counts is a copy of the feed's counters at one time.
type counts struct {
	joins, secondaries int64
	joinsPerSecond     float64
	byCode             map[refusalKey]int64
	refusing           []string // participant regions refused in the last rateWindow seconds
	lastSeq            uint64
}

func (f *Feed) counts(now time.Time) counts {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := counts{joins: f.joins, secondaries: f.secondaries, byCode: make(map[refusalKey]int64, len(f.byCode)), lastSeq: f.seq}
	for k, v := range f.byCode {
		c.byCode[k] = v
	}
	// The join rate over the last ten whole seconds.
	const span = 10
	sec := now.Unix()
	var n int64
	for i := range int64(span) {
		if b := f.perSecond[(sec-1-i)%rateWindow]; b.sec == sec-1-i {
			n += b.joins
		}
	}
	c.joinsPerSecond = float64(n) / span
	for r, t := range f.lastRefusal {
		if now.Sub(t) < rateWindow*time.Second {
			c.refusing = append(c.refusing, r)
		}
	}
	return c
}

// Tee is a directory.Decisions that tells each of ds in turn, and returns the first error:
// the evidence log first (its error is the one that refuses a join in strict mode), then a
// Feed. Nil entries are skipped.
func Tee(ds ...directory.Decisions) directory.Decisions {
	var out tee
	for _, d := range ds {
		if d != nil {
			out = append(out, d)
		}
	}
	return out
}

type tee []directory.Decisions

func (t tee) JoinDecided(ctx context.Context, d *directory.JoinDecision) error {
	var first error
	for _, x := range t {
		if err := x.JoinDecided(ctx, d); err != nil && first == nil {
			first = err
		}
	}
	return first
}
