package policy

import (
	"errors"
	"fmt"

	"github.com/geofence/geofence/geo"
)

// The refusal codes every layer answers with (DESIGN.md section 7): a datacenter the rules
// forbid (I1), or a dedicated-class clash (I3).
const (
	CodeResidencyConflict = "residency_conflict"
	CodePlanConflict      = "plan_conflict"
)

// ErrNotAdmitted is what Admit's refusals match with errors.Is.
var ErrNotAdmitted = errors.New("not admitted")

// Party is who a datacenter is asked to serve, in config ids: the rule context a directory
// ticket carries, so each later layer (media server, key server, client) re-checks I1 and I3
// with its own copy of the policy instead of trusting the directory.
type Party struct {
	// ParticipantCountry, when set, must be a country this model places in ParticipantRegion:
	// otherwise a directory with another config (or a bug) could put a participant in a region
	// whose rules let it in.
	ParticipantCountry string
	ParticipantRegion  string
	ParticipantPlan    string
	MeetingRegion      string
	HostPlan           string
	HostDataRegions    []string // nil: no narrowing; empty: no DC allowed
}

// Refusal is Admit's answer when a DC may not serve a party; Rule names the forbidding rule
// when a rule is the reason.
type Refusal struct {
	DC     string
	Reason Reason
	Rule   string
	Msg    string
}

func (r *Refusal) Error() string { return r.Msg }

// Code is the refusal code a server answers with: plan_conflict for a dedicated-class clash
// (I3), residency_conflict otherwise (I1).
func (r *Refusal) Code() string {
	if r.Reason == Dedicated {
		return CodePlanConflict
	}
	return CodeResidencyConflict
}

// Is makes a Refusal match ErrNotAdmitted.
func (r *Refusal) Is(target error) bool { return target == ErrNotAdmitted }

// Admit says whether datacenter d may serve the party: the same check selection makes
// ([Model.Judge] on the party's [Sides]), from the config ids a ticket carries. Ids this model
// does not know are refused: a layer never serves what it cannot check.
func (m *Model) Admit(p Party, d DCID) error {
	if int(d) < 0 || int(d) >= len(m.DCs) {
		return &Refusal{Reason: ByRule, Msg: "unknown datacenter"}
	}
	dc := &m.DCs[d]
	refuse := func(reason Reason, rule, format string, args ...any) error {
		return &Refusal{DC: dc.ID, Reason: reason, Rule: rule, Msg: fmt.Sprintf(format, args...)}
	}
	if p.ParticipantCountry != "" {
		k, ok := geo.LookupCountry(p.ParticipantCountry)
		if !ok {
			return refuse(ByRule, "", "datacenter %s does not know the participant's country %q", dc.ID, p.ParticipantCountry)
		}
		if got := m.Regions[m.RegionOf(k)].ID; got != p.ParticipantRegion {
			return refuse(ByRule, "", "the ticket puts a participant from %s in region %s, but datacenter %s's policy puts %s in region %s",
				p.ParticipantCountry, p.ParticipantRegion, dc.ID, p.ParticipantCountry, got)
		}
	}
	s, err := m.SidesOf(p)
	if err != nil {
		return refuse(ByRule, "", "datacenter %s cannot check this ticket: %v; its policy differs from the directory's", dc.ID, err)
	}
	j := m.Judge(&s, d)
	switch j.Reason {
	case ByRule:
		rule := m.Rules[j.Rule].ID
		r, plan := s.ParticipantRegion, s.ParticipantPlan
		if j.Side == MeetingSide {
			r, plan = s.MeetingRegion, s.HostPlan
		}
		return refuse(ByRule, rule, "datacenter %s in %s is forbidden for the %s (region %s, plan %s) by rule %s",
			dc.ID, dc.Country.Code(), j.Side, m.Regions[r].ID, m.Plans[plan].ID, rule)
	case Dedicated:
		plan := s.ParticipantPlan
		if j.Side == MeetingSide {
			plan = s.HostPlan
		}
		return refuse(Dedicated, "", "datacenter %s (class %q) does not serve plan %s (class %q)",
			dc.ID, dc.Dedicated, m.Plans[plan].ID, m.Plans[plan].Dedicated)
	case ByAccount:
		return refuse(ByAccount, "", "datacenter %s is in region %s, outside the host account's data regions %v",
			dc.ID, m.Regions[dc.Region].ID, p.HostDataRegions)
	}
	return nil
}

// SidesOf turns a party's config ids into this model's indices. Every id must be known.
func (m *Model) SidesOf(p Party) (Sides, error) {
	pr, ok1 := m.Region(p.ParticipantRegion)
	pp, ok2 := m.Plan(p.ParticipantPlan)
	mr, ok3 := m.Region(p.MeetingRegion)
	hp, ok4 := m.Plan(p.HostPlan)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return Sides{}, fmt.Errorf("unknown regions or plans (participant %s/%s, meeting %s/%s)",
			p.ParticipantRegion, p.ParticipantPlan, p.MeetingRegion, p.HostPlan)
	}
	s := Sides{ParticipantRegion: pr, ParticipantPlan: pp, MeetingRegion: mr, HostPlan: hp}
	if p.HostDataRegions != nil {
		rs := make([]RegionID, 0, len(p.HostDataRegions))
		for _, id := range p.HostDataRegions {
			r, ok := m.Region(id)
			if !ok {
				return Sides{}, fmt.Errorf("unknown region %q in the host's data regions", id)
			}
			rs = append(rs, r)
		}
		s.Narrow = m.NarrowTo(rs)
	}
	return s, nil
}
