package policy

// Sides is what invariant I1 binds a datacenter to, in this model's indices: the
// participant's region and plan, the meeting's data region and its host's plan, and the host
// account's narrowing. It is the one residency check of Geofence: selection (package route)
// asks it of every listed DC, and admission (the media servers and key servers, through
// [Model.Admit]) asks it again of the DC they run in. There is no second copy.
type Sides struct {
	ParticipantRegion RegionID
	ParticipantPlan   PlanID
	MeetingRegion     RegionID
	HostPlan          PlanID
	// Narrow is the set of DCs inside the host account's data_regions. Nil means no
	// narrowing; an empty set (an account with data_regions: []) allows no DC at all, since
	// data_regions can only narrow (DESIGN.md section 2).
	Narrow Set
}

// Side names the party a verdict is about.
type Side uint8

// The sides, in the order they are checked.
const (
	ParticipantSide Side = iota
	MeetingSide
)

func (s Side) String() string {
	if s == MeetingSide {
		return "meeting"
	}
	return "participant"
}

// valid reports whether every index of s is one of m's.
func (m *Model) valid(s *Sides) bool {
	return int(s.ParticipantRegion) >= 0 && int(s.ParticipantRegion) < len(m.Regions) &&
		int(s.MeetingRegion) >= 0 && int(s.MeetingRegion) < len(m.Regions) &&
		int(s.ParticipantPlan) >= 0 && int(s.ParticipantPlan) < len(m.Plans) &&
		int(s.HostPlan) >= 0 && int(s.HostPlan) < len(m.Plans)
}

// AllowsSides reports whether datacenter d may carry the participant's data in this meeting
// (I1, I3): allowed by the rules and dedicated class for both sides, and inside the narrowing.
// It is the precomputed fast path of [Model.Judge]; the two always agree.
func (m *Model) AllowsSides(s *Sides, d DCID) bool {
	if !m.valid(s) || int(d) < 0 || int(d) >= len(m.DCs) {
		return false
	}
	return m.Allows(s.ParticipantRegion, s.ParticipantPlan, d) && m.Allows(s.MeetingRegion, s.HostPlan, d) &&
		(s.Narrow == nil || s.Narrow.Has(int(d)))
}

// Judgement is the slow path's answer: why a DC is not allowed, and for which side.
type Judgement struct {
	Verdict
	Side Side
}

// Judge says whether datacenter d is allowed for both sides of s and, when not, the first
// reason: a rule or dedicated class of the participant's side, then of the meeting's side,
// then the host account's narrowing (ByAccount, on the meeting's side). Invalid indices are
// judged ByRule with Rule -1: what cannot be checked is not allowed.
func (m *Model) Judge(s *Sides, d DCID) Judgement {
	if !m.valid(s) || int(d) < 0 || int(d) >= len(m.DCs) {
		return Judgement{Verdict: Verdict{Reason: ByRule, Rule: -1}}
	}
	for _, side := range [2]struct {
		who Side
		r   RegionID
		p   PlanID
	}{{ParticipantSide, s.ParticipantRegion, s.ParticipantPlan}, {MeetingSide, s.MeetingRegion, s.HostPlan}} {
		if v := m.Check(side.r, side.p, d); !v.Allowed() {
			return Judgement{Verdict: v, Side: side.who}
		}
	}
	if s.Narrow != nil && !s.Narrow.Has(int(d)) {
		return Judgement{Verdict: Verdict{Reason: ByAccount, Rule: -1}, Side: MeetingSide}
	}
	return Judgement{Verdict: Verdict{Reason: Allowed, Rule: -1}}
}

// NarrowTo is the set of DCs located in the given regions, the narrowing of an account whose
// data_regions they are. Nil regions mean no narrowing (nil set); an empty non-nil slice gives
// an empty set that allows nothing.
func (m *Model) NarrowTo(regions []RegionID) Set {
	if regions == nil {
		return nil
	}
	n := NewSet(len(m.DCs))
	if len(n) == 0 {
		n = make(Set, 1) // non-nil even in a model without DCs
	}
	for _, r := range regions {
		if int(r) >= 0 && int(r) < len(m.regionDCs) {
			for i, w := range m.regionDCs[r] {
				n[i] |= w
			}
		}
	}
	return n
}
