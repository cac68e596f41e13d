// Package route is selection (DESIGN.md section 4): the one pure function of (model,
// participant, meeting, live state) that turns a meeting's routing lists into the ordered
// primary, secondary and key-server datacenters a participant gets, or an explicit refusal.
//
// Every DC it returns is allowed for the participant's region and plan, the meeting's data
// region and host plan, and the host account's narrowing (I1, I2, I3); when none is usable it
// refuses instead of widening (I4). The directory, `geofence explain`, the simulator and the
// tests all call it. It keeps no state: live state (health, load) is an input.
package route

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/geofence/geofence/config"
	"github.com/geofence/geofence/geo"
	"github.com/geofence/geofence/policy"
)

// KMSCount is how many key servers a participant gets.
const KMSCount = 2

// Participant is who is joining: the region of the country its address geolocates to, its
// plan, and where it is.
type Participant struct {
	Region policy.RegionID
	Plan   policy.PlanID
	// Location is used when Located; a participant with no location (an address the GeoIP
	// database does not know) is equally far from every DC, so ties keep list order.
	Location geo.LatLon
	Located  bool
}

// Meeting is what is being joined.
type Meeting struct {
	Region   policy.RegionID // the meeting's data region: its lists are used
	HostPlan policy.PlanID
	Narrow   policy.Set  // the host account's data_regions as a DC set; nil: no narrowing
	Home     policy.DCID // the sticky home DC, or policy.None
	// E2EE meetings get their keys from the leader's client, never from a server (I5): no
	// key server is selected for them, and none is needed.
	E2EE bool
}

// State is the live state of the DCs, indexed by policy.DCID. Missing entries mean up and
// empty.
type State struct {
	Down        []bool
	Utilization []float64 // participants over capacity
}

func (s *State) down(d policy.DCID) bool { return int(d) < len(s.Down) && s.Down[d] }

func (s *State) util(d policy.DCID) float64 {
	if int(d) < len(s.Utilization) {
		return s.Utilization[d]
	}
	return 0
}

// Selection is a participant's datacenters, best first.
type Selection struct {
	Primary, Secondary, KMS []policy.DCID
}

// Reason says why a listed DC is not in a selection (the `reason` of `geofence explain`).
type Reason string

// The reasons, in the order they are checked.
const (
	ReasonRule      Reason = "rule"      // a residency rule forbids its country (I1)
	ReasonDedicated Reason = "dedicated" // dedicated class mismatch (I3)
	ReasonAccount   Reason = "account"   // outside the host account's data_regions
	ReasonService   Reason = "service"   // does not run the list's service
	ReasonDown      Reason = "down"
	ReasonFull      Reason = "full"  // utilization >= 1
	ReasonCount     Reason = "count" // usable, but past the list's count
)

// Exclusion is a listed DC left out of a selection and why.
type Exclusion struct {
	DC     policy.DCID
	List   config.List
	Reason Reason
	Rule   string // the forbidding rule, for ReasonRule
}

// Refusal codes (DESIGN.md section 7).
const (
	CodeResidencyConflict = policy.CodeResidencyConflict
	CodePlanConflict      = policy.CodePlanConflict
	CodeNoCapacity        = "no_capacity"
)

// Sentinels a caller branches on with errors.Is; Select returns a *Refusal matching one.
var (
	ErrResidencyConflict = errors.New(CodeResidencyConflict)
	ErrPlanConflict      = errors.New(CodePlanConflict)
	ErrNoCapacity        = errors.New(CodeNoCapacity)
)

// Refusal is an explicit refusal to route (I4).
type Refusal struct {
	Code    string   // one of the Code constants
	Message string   // for the user: what is wrong
	Rules   []string // the rules that exclude the DCs, for residency conflicts
}

func (r *Refusal) Error() string { return r.Code + ": " + r.Message }

// Is matches the sentinel of the refusal's code.
func (r *Refusal) Is(target error) bool {
	switch target {
	case ErrResidencyConflict:
		return r.Code == CodeResidencyConflict
	case ErrPlanConflict:
		return r.Code == CodePlanConflict
	case ErrNoCapacity:
		return r.Code == CodeNoCapacity
	}
	return false
}

// Select computes the selection into out, reusing its slices: in steady state it does not
// allocate. On a refusal it returns a *Refusal and out's lists are empty.
func Select(m *policy.Model, p Participant, mt Meeting, st State, out *Selection) error {
	s := newSelector(m, p, mt, &st)
	return s.run(out)
}

// Explanation is a selection with what was left out and why.
type Explanation struct {
	Selection
	Excluded []Exclusion
	Refusal  *Refusal
}

// Explain computes the same selection as Select and records every listed DC it leaves out.
func Explain(m *policy.Model, p Participant, mt Meeting, st State) *Explanation {
	e := &Explanation{}
	s := newSelector(m, p, mt, &st)
	s.explain = &e.Excluded
	if err := s.run(&e.Selection); err != nil {
		e.Refusal = err.(*Refusal)
	}
	return e
}

type selector struct {
	m       *policy.Model
	p       Participant
	mt      Meeting
	sides   policy.Sides
	st      *State
	explain *[]Exclusion // nil on the fast path
	at      geo.Point    // p.Location on the sphere, when Located
}

func newSelector(m *policy.Model, p Participant, mt Meeting, st *State) selector {
	s := selector{m: m, p: p, mt: mt, st: st, sides: policy.Sides{
		ParticipantRegion: p.Region, ParticipantPlan: p.Plan,
		MeetingRegion: mt.Region, HostPlan: mt.HostPlan, Narrow: mt.Narrow,
	}}
	if p.Located {
		s.at = p.Location.Point()
	}
	return s
}

// allowed is I1 and I3 for one DC: policy's one residency check, the one admission makes.
func (s *selector) allowed(d policy.DCID) bool { return s.m.AllowsSides(&s.sides, d) }

// why is the slow path: the first reason d is not usable for a list needing svc, or "" when
// it is usable.
func (s *selector) why(d policy.DCID, svc config.Service) (Reason, string) {
	switch j := s.m.Judge(&s.sides, d); j.Reason {
	case policy.ByRule:
		if j.Rule < 0 {
			return ReasonRule, ""
		}
		return ReasonRule, s.m.Rules[j.Rule].ID
	case policy.Dedicated:
		return ReasonDedicated, ""
	case policy.ByAccount:
		return ReasonAccount, ""
	}
	switch {
	case !s.m.DCs[d].Runs(svc):
		return ReasonService, ""
	case s.st.down(d):
		return ReasonDown, ""
	case s.st.util(d) >= 1:
		return ReasonFull, ""
	}
	return "", ""
}

func (s *selector) usable(d policy.DCID, svc config.Service) bool {
	return s.allowed(d) && s.m.DCs[d].Runs(svc) && !s.st.down(d) && s.st.util(d) < 1
}

func (s *selector) exclude(d policy.DCID, l config.List, r Reason, rule string) {
	*s.explain = append(*s.explain, Exclusion{DC: d, List: l, Reason: r, Rule: rule})
}

// candidate is a usable DC with its sort key.
type candidate struct {
	dc    policy.DCID
	over  bool    // at or over the high watermark
	key   float64 // under: haversine term to the participant; over: -free capacity
	index int     // position on the list, for stable ties
}

func less(a, b *candidate) bool {
	if a.over != b.over {
		return !a.over
	}
	if a.key != b.key {
		return a.key < b.key
	}
	return a.index < b.index
}

const stackCandidates = 32

// order fills buf with the usable DCs of list, in section 4's order: under the watermark
// nearest first, then at or over it most free capacity first; ties keep list order.
func (s *selector) order(list []policy.Entry, svc config.Service, buf []candidate) []candidate {
	cs := buf[:0]
	wm := s.m.HighWatermark
	for i, e := range list {
		if !s.usable(e.DC, svc) {
			continue
		}
		c := candidate{dc: e.DC, index: i}
		u := s.st.util(e.DC)
		if u >= wm {
			c.over = true
			c.key = -float64(s.m.DCs[e.DC].Capacity) * (1 - u)
		} else if s.p.Located {
			c.key = geo.HaversineOf(s.at, s.m.DCs[e.DC].Point)
		}
		cs = append(cs, c)
	}
	// Insertion sort: lists are short, it is stable and it does not allocate.
	for i := 1; i < len(cs); i++ {
		for j := i; j > 0 && less(&cs[j], &cs[j-1]); j-- {
			cs[j], cs[j-1] = cs[j-1], cs[j]
		}
	}
	return cs
}

func (s *selector) run(out *Selection) error {
	m := s.m
	if pc, sc := m.PrimaryCount, m.SecondaryCount; cap(out.Primary) < pc || cap(out.Secondary) < sc || cap(out.KMS) < KMSCount {
		// One backing array for the three lists: a fresh Selection costs one allocation.
		buf := make([]policy.DCID, pc+sc+KMSCount)
		out.Primary, out.Secondary, out.KMS = buf[:0:pc], buf[pc:pc:pc+sc], buf[pc+sc:pc+sc]
	}
	out.Primary, out.Secondary, out.KMS = out.Primary[:0], out.Secondary[:0], out.KMS[:0]
	if int(s.mt.Region) < 0 || int(s.mt.Region) >= len(m.Routes) || int(s.p.Region) < 0 || int(s.p.Region) >= len(m.Regions) ||
		int(s.p.Plan) < 0 || int(s.p.Plan) >= len(m.Plans) || int(s.mt.HostPlan) < 0 || int(s.mt.HostPlan) >= len(m.Plans) {
		return &Refusal{Code: CodeResidencyConflict, Message: "unknown region or plan"}
	}
	// I3: a participant and a host of different dedicated classes cannot meet.
	if pc, hc := m.Plans[s.p.Plan].Dedicated, m.Plans[s.mt.HostPlan].Dedicated; pc != hc {
		return &Refusal{Code: CodePlanConflict, Message: fmt.Sprintf(
			"plan %s (%s) cannot join a meeting hosted on plan %s (%s)",
			m.Plans[s.p.Plan].ID, className(pc), m.Plans[s.mt.HostPlan].ID, className(hc))}
	}
	// The home DC carries every participant's media (through a bridge if need be), so a
	// participant whose rules forbid it cannot join at all (I1).
	home := s.mt.Home
	if home != policy.None && (int(home) < 0 || int(home) >= len(m.DCs)) {
		home = policy.None
	}
	if home != policy.None && !s.allowed(home) {
		r, rule := s.why(home, config.Media)
		ref := &Refusal{Code: CodeResidencyConflict, Message: fmt.Sprintf(
			"the meeting is homed in %s (%s), which is not allowed for this participant (%s)",
			m.DCs[home].ID, m.DCs[home].Country.Code(), describe(r, rule))}
		if rule != "" {
			ref.Rules = []string{rule}
		}
		return ref
	}

	route := &m.Routes[s.mt.Region]
	var stack [stackCandidates]candidate
	buf := stack[:]
	if n := max(len(route.Primary), len(route.Secondary), len(route.KMS)); n > len(buf) {
		buf = make([]candidate, 0, n)
	}

	prim := s.order(route.Primary, config.Media, buf)
	if home != policy.None {
		for i := range prim {
			if prim[i].dc == home {
				h := prim[i]
				copy(prim[1:i+1], prim[:i])
				prim[0] = h
				break
			}
		}
	}
	for i := range prim {
		if len(out.Primary) == m.PrimaryCount {
			break
		}
		out.Primary = append(out.Primary, prim[i].dc)
	}
	if s.explain != nil {
		s.excluded(route.Primary, config.Primary, out.Primary)
	}

	sec := s.order(route.Secondary, config.Media, buf)
	for i := range sec {
		if len(out.Secondary) == m.SecondaryCount {
			break
		}
		if !slices.Contains(out.Primary, sec[i].dc) {
			out.Secondary = append(out.Secondary, sec[i].dc)
		}
	}
	if s.explain != nil {
		s.excluded(route.Secondary, config.Secondary, out.Secondary)
	}

	if len(out.Primary) == 0 && len(out.Secondary) == 0 {
		return s.refuse(out, route.Primary, route.Secondary, config.Media, "media server")
	}

	if s.mt.E2EE {
		return nil
	}
	// Key servers: nearest to the first primary (to the participant when there is none).
	from, located := s.at, s.p.Located
	if len(out.Primary) > 0 {
		from, located = m.DCs[out.Primary[0]].Point, true
	}
	ks := buf[:0]
	for i, e := range route.KMS {
		if s.usable(e.DC, config.KMS) {
			c := candidate{dc: e.DC, index: i}
			if located {
				c.key = geo.HaversineOf(from, m.DCs[e.DC].Point)
			}
			ks = append(ks, c)
		}
	}
	for i := 1; i < len(ks); i++ {
		for j := i; j > 0 && less(&ks[j], &ks[j-1]); j-- {
			ks[j], ks[j-1] = ks[j-1], ks[j]
		}
	}
	for i := range ks {
		if len(out.KMS) == KMSCount {
			break
		}
		out.KMS = append(out.KMS, ks[i].dc)
	}
	if s.explain != nil {
		s.excluded(route.KMS, config.KMSList, out.KMS)
	}
	if len(out.KMS) == 0 {
		return s.refuse(out, route.KMS, nil, config.KMS, "key server")
	}
	return nil
}

// excluded records why each DC of list is not in chosen.
func (s *selector) excluded(list []policy.Entry, l config.List, chosen []policy.DCID) {
	for _, e := range list {
		if slices.Contains(chosen, e.DC) {
			continue
		}
		r, rule := s.why(e.DC, l.Service())
		if r == "" {
			r = ReasonCount
		}
		s.exclude(e.DC, l, r, rule)
	}
}

// refuse builds the refusal when no DC of the lists is usable: a residency (or plan) conflict
// when none is even allowed, no capacity when allowed ones are down or full.
func (s *selector) refuse(out *Selection, a, b []policy.Entry, svc config.Service, what string) error {
	out.Primary, out.Secondary, out.KMS = out.Primary[:0], out.Secondary[:0], out.KMS[:0]
	var rules []string
	allowedAny, dedicatedOnly, listed := false, true, 0
	for _, list := range [2][]policy.Entry{a, b} {
		for _, e := range list {
			listed++
			r, rule := s.why(e.DC, svc)
			switch r {
			case "", ReasonDown, ReasonFull:
				allowedAny = true
			case ReasonService:
			default:
				if r != ReasonDedicated {
					dedicatedOnly = false
				}
				if rule != "" && !slices.Contains(rules, rule) {
					rules = append(rules, rule)
				}
			}
		}
	}
	switch {
	case allowedAny:
		return &Refusal{Code: CodeNoCapacity, Message: fmt.Sprintf(
			"every allowed %s for this meeting is down or full; retry shortly", what)}
	case listed > 0 && dedicatedOnly:
		return &Refusal{Code: CodePlanConflict, Message: fmt.Sprintf(
			"no %s of the meeting's region serves plan %s", what, s.m.Plans[s.p.Plan].ID)}
	}
	msg := fmt.Sprintf("no %s of the meeting's region %s is allowed for this participant", what, s.m.Regions[s.mt.Region].ID)
	if len(rules) > 0 {
		msg += " (rules: " + strings.Join(rules, ", ") + ")"
	}
	return &Refusal{Code: CodeResidencyConflict, Message: msg, Rules: rules}
}

func className(c string) string {
	if c == "" {
		return "no dedicated class"
	}
	return "dedicated class " + c
}

func describe(r Reason, rule string) string {
	switch r {
	case ReasonRule:
		return "rule " + rule
	case ReasonDedicated:
		return "dedicated class mismatch"
	case ReasonAccount:
		return "outside the host account's data_regions"
	}
	return string(r)
}
