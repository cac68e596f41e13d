package route

import (
	"time"

	"github.com/geofence/geofence/policy"
)

// Live is the live state of a model's datacenters as one directory sees it (DESIGN.md section
// 4, "Live state"): each DC's last load report and the placements made since. A DC is down
// when it never reported, when its last report is older than StaleAfter or says unhealthy;
// its participants are the last reported count plus those placements, so that a burst of
// joins between two reports spreads instead of landing on one DC.
//
// Live is plain data: it is not safe for concurrent use, and its owner (the directory core,
// the simulator) serializes access. It is indexed by the DCIDs of the model it was made for;
// [Live.Rebase] carries it to a new model.
type Live struct {
	model      *policy.Model
	staleAfter time.Duration
	dcs        []LiveDC
	// Route's view, kept current: util by Report and Place, down by Report and, when a
	// report goes stale, by the first State after its deadline (recheck). So a join's cost
	// does not grow with the number of DCs in the world.
	down    []bool
	util    []float64
	recheck time.Time // the earliest deadline of a report still fresh; zero: none
}

// LiveDC is what is known of one datacenter.
type LiveDC struct {
	Reported   int64     // participants in the last report
	Placed     int64     // placements made since that report
	Healthy    bool      // as the last report said
	LastReport time.Time // zero: never reported
}

// NewLive returns the live state of model m in which no DC has reported yet (every DC is
// down). staleAfter must be positive.
func NewLive(m *policy.Model, staleAfter time.Duration) *Live {
	l := &Live{model: m, staleAfter: staleAfter, dcs: make([]LiveDC, len(m.DCs))}
	l.rebuild()
	return l
}

// Model is the model the live state is indexed by.
func (l *Live) Model() *policy.Model { return l.model }

// Rebase re-indexes the live state for model m (a config change): DCs that m still has keep
// their state, by id; new DCs have not reported.
func (l *Live) Rebase(m *policy.Model) {
	dcs := make([]LiveDC, len(m.DCs))
	for i := range l.model.DCs {
		if d, ok := m.DC(l.model.DCs[i].ID); ok {
			dcs[d] = l.dcs[i]
		}
	}
	l.model, l.dcs = m, dcs
	l.rebuild()
}

// rebuild makes down and util anew from dcs. Staleness is left to the next State: recheck is
// then the earliest deadline, past or not.
func (l *Live) rebuild() {
	l.down, l.util = make([]bool, len(l.dcs)), make([]float64, len(l.dcs))
	for i := range l.dcs {
		l.util[i] = l.utilOf(policy.DCID(i))
	}
	l.check(time.Time{})
}

func (l *Live) utilOf(d policy.DCID) float64 {
	st := &l.dcs[d]
	return float64(st.Reported+st.Placed) / float64(l.model.DCs[d].Capacity)
}

// check marks down every DC whose report is missing, unhealthy or stale at now (a zero now:
// only missing or unhealthy, as if no time had passed since the reports) and sets recheck to
// the earliest deadline of the others.
func (l *Live) check(now time.Time) {
	l.recheck = time.Time{}
	for i := range l.dcs {
		st := &l.dcs[i]
		l.down[i] = st.LastReport.IsZero() || !st.Healthy || !now.IsZero() && now.Sub(st.LastReport) > l.staleAfter
		if !l.down[i] {
			if dl := st.LastReport.Add(l.staleAfter); l.recheck.IsZero() || dl.Before(l.recheck) {
				l.recheck = dl
			}
		}
	}
}

// current brings down up to date at now: a report is stale once now is past its deadline.
func (l *Live) current(now time.Time) {
	if !l.recheck.IsZero() && now.After(l.recheck) {
		l.check(now)
	}
}

// Report records a load report of DC d at now; it supersedes the placements counted so far.
func (l *Live) Report(d policy.DCID, participants int64, healthy bool, now time.Time) {
	l.dcs[d] = LiveDC{Reported: participants, Healthy: healthy, LastReport: now}
	l.util[d] = l.utilOf(d)
	l.down[d] = !healthy || now.IsZero()
	if dl := now.Add(l.staleAfter); !l.down[d] && (l.recheck.IsZero() || dl.Before(l.recheck)) {
		l.recheck = dl
	}
}

// Place counts one participant sent to DC d since its last report.
func (l *Live) Place(d policy.DCID) {
	l.dcs[d].Placed++
	l.util[d] = l.utilOf(d)
}

// DC is what is known of DC d.
func (l *Live) DC(d policy.DCID) LiveDC { return l.dcs[d] }

// State is route's view of every DC at now. The slices are the live state's own and change
// with it: copy them to keep them.
func (l *Live) State(now time.Time) State {
	l.current(now)
	return State{Down: l.down, Utilization: l.util}
}

// Placement is the outcome of a join: the selection, the meeting's home after it, and where
// the participant was counted.
type Placement struct {
	Selection
	// Home is the meeting's home DC after this join.
	Home policy.DCID
	// Rehomed is true when the join moved the meeting to a new home because the old one was
	// down (or gone from the config); false for a meeting's first join.
	Rehomed bool
	// First is the DC the participant tries first (primary[0], else secondary[0]): where its
	// placement is counted.
	First policy.DCID
}

// Join is section 4's join: selection plus the home rule. mt.Home is the meeting's sticky
// home (policy.None before its first join). While the home is up it stays the home (and
// Select puts it first where usable, or refuses a participant whose rules forbid it); when it
// is down, or gone from the model, this join re-homes the meeting to its own first primary
// (first secondary when no primary is usable). A meeting's first join homes it the same way.
// It does not count the placement: the caller does, once the home is recorded.
func Join(m *policy.Model, p Participant, mt Meeting, st State, out *Placement) error {
	had := mt.Home != policy.None
	if had && (int(mt.Home) >= len(m.DCs) || st.down(mt.Home)) {
		mt.Home = policy.None
	}
	if err := Select(m, p, mt, st, &out.Selection); err != nil {
		return err
	}
	out.First = first(&out.Selection)
	out.Home, out.Rehomed = mt.Home, false
	if mt.Home == policy.None {
		out.Home, out.Rehomed = out.First, had
	}
	return nil
}

func first(s *Selection) policy.DCID {
	if len(s.Primary) > 0 {
		return s.Primary[0]
	}
	return s.Secondary[0]
}
