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
	down       []bool    // route's view, refreshed by State and StateFor
	util       []float64 // likewise
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
	return &Live{
		model: m, staleAfter: staleAfter,
		dcs: make([]LiveDC, len(m.DCs)), down: make([]bool, len(m.DCs)), util: make([]float64, len(m.DCs)),
	}
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
	l.down, l.util = make([]bool, len(m.DCs)), make([]float64, len(m.DCs))
}

// Report records a load report of DC d at now; it supersedes the placements counted so far.
func (l *Live) Report(d policy.DCID, participants int64, healthy bool, now time.Time) {
	l.dcs[d] = LiveDC{Reported: participants, Healthy: healthy, LastReport: now}
}

// Place counts one participant sent to DC d since its last report.
func (l *Live) Place(d policy.DCID) { l.dcs[d].Placed++ }

// DC is what is known of DC d.
func (l *Live) DC(d policy.DCID) LiveDC { return l.dcs[d] }

// State is route's view of every DC at now. The slices are reused by the next call: copy them
// to keep them.
func (l *Live) State(now time.Time) State {
	for i := range l.dcs {
		l.refresh(policy.DCID(i), now)
	}
	return State{Down: l.down, Utilization: l.util}
}

// StateFor is State for one join: it refreshes only the DCs selection can read for a meeting
// of region r (its lists) and its home, so a join's cost does not grow with the number of
// DCs in the world. Other entries may be stale; selection for region r never reads them.
func (l *Live) StateFor(r policy.RegionID, home policy.DCID, now time.Time) State {
	rt := &l.model.Routes[r]
	for _, list := range [...][]policy.Entry{rt.Primary, rt.Secondary, rt.KMS} {
		for _, e := range list {
			l.refresh(e.DC, now)
		}
	}
	if int(home) >= 0 && int(home) < len(l.dcs) {
		l.refresh(home, now)
	}
	return State{Down: l.down, Utilization: l.util}
}

func (l *Live) refresh(d policy.DCID, now time.Time) {
	st := &l.dcs[d]
	l.down[d] = st.LastReport.IsZero() || !st.Healthy || now.Sub(st.LastReport) > l.staleAfter
	l.util[d] = float64(st.Reported+st.Placed) / float64(l.model.DCs[d].Capacity)
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
