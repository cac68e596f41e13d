package dashboard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/geofence/geofence/config"
	"github.com/geofence/geofence/explain"
	"github.com/geofence/geofence/geo"
	"github.com/geofence/geofence/internal/jsonapi"
	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/route"
	"github.com/geofence/geofence/sim"
	"github.com/geofence/geofence/sim/scenario"
	"github.com/geofence/geofence/wire"
)

// Bounds of the what-if endpoints.
const (
	// maxBody bounds a what-if request body: a scenario is YAML of a few KB.
	maxBody = 64 << 10
	// DefaultSimTimeout bounds one simulator run.
	DefaultSimTimeout = 60 * time.Second
	// maxSimDuration is the longest simulated span a run may ask for.
	maxSimDuration = 6 * time.Hour
	// maxSimJoins bounds the joins a run may simulate, which bounds its memory and time: the
	// simulator makes some 40,000 joins a second on one core (docs/dashboard.md).
	maxSimJoins = 1_000_000
	// scenarioHours is the span of the scenario GET /v1/dashboard/scenario proposes.
	scenarioHours = 2
)

func fail(w http.ResponseWriter, status int, code, format string, args ...any) {
	jsonapi.Write(w, status, wire.Error{Error: code, Message: fmt.Sprintf(format, args...)})
}

// refusals is GET /v1/dashboard/refusals: the ring, newest first, filtered by code, rule,
// participant country and region (each optional, exact match).
func (d *Dashboard) refusals(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	code, rule, country, region := q.Get("code"), q.Get("rule"), strings.ToUpper(q.Get("country")), q.Get("region")
	all := d.feed.Refusals(0)
	out := make([]Refusal, 0, len(all))
	for i := len(all) - 1; i >= 0; i-- {
		x := all[i]
		if code != "" && x.Code != code || rule != "" && !slices.Contains(x.Rules, rule) ||
			country != "" && x.Country != country || region != "" && x.Region != region {
			continue
		}
		out = append(out, x)
	}
	jsonapi.Write(w, http.StatusOK, struct {
		Refusals []Refusal `json:"refusals"`
	}{out})
}

// ImpactRequest is the body of POST /v1/dashboard/impact: DCs to treat as down, and
// utilizations to assume, on a copy of the live state.
type ImpactRequest struct {
	Down []string           `json:"down"`
	Load map[string]float64 `json:"load"`
}

// Impact is the answer: for every region and plan offered there, a participant from one of
// its countries joining a meeting of its own region, before (the live state) and after.
type Impact struct {
	Rows []ImpactRow `json:"rows"`
}

// ImpactRow is one region and plan.
type ImpactRow struct {
	Region  string `json:"region"`
	Plan    string `json:"plan"`
	Country string `json:"country"` // the participant's country the row was explained for
	// Outcome is "refused" (refused after, not before), "spilled" (a different first
	// primary, or the primaries moved out of the region), "restored" (refused before, not
	// after), "unchanged" or "still_refused".
	Outcome string   `json:"outcome"`
	Before  Decision `json:"before"`
	After   Decision `json:"after"`
}

// Decision is the gist of an explain answer.
type Decision struct {
	Primary   []string `json:"primary"`
	Secondary []string `json:"secondary"`
	Refusal   string   `json:"refusal,omitempty"` // the refusal code
	Rules     []string `json:"rules,omitempty"`
}

func (d *Dashboard) impact(w http.ResponseWriter, r *http.Request) {
	var req ImpactRequest
	if err := jsonapi.Decode(http.MaxBytesReader(w, r.Body, maxBody), &req); err != nil {
		fail(w, http.StatusBadRequest, wire.CodeBadRequest, "%v", err)
		return
	}
	m, st := d.core.LiveState()
	for _, id := range req.Down {
		if _, ok := m.DC(id); !ok {
			fail(w, http.StatusBadRequest, wire.CodeBadRequest, "down: no datacenter %q", id)
			return
		}
	}
	for id, u := range req.Load {
		if _, ok := m.DC(id); !ok {
			fail(w, http.StatusBadRequest, wire.CodeBadRequest, "load: no datacenter %q", id)
			return
		}
		if math.IsNaN(u) || u < 0 || u > 10 {
			fail(w, http.StatusBadRequest, wire.CodeBadRequest, "load: %s=%v: want a utilization from 0 to 10", id, u)
			return
		}
	}
	jsonapi.Write(w, http.StatusOK, Impacts(m, st, req))
}

// Impacts computes the impact of req on live state st (which it does not change).
func Impacts(m *policy.Model, st route.State, req ImpactRequest) Impact {
	out := Impact{Rows: []ImpactRow{}}
	for ri := range m.Regions {
		reg := policy.RegionID(ri)
		country, ok := representative(m, reg)
		if !ok {
			continue
		}
		for pi := range m.Plans {
			p := &m.Plans[pi]
			if !p.OfferedIn(reg) {
				continue
			}
			q := explain.Query{Country: country, Plan: p.ID, MeetingRegion: m.Regions[ri].ID, HostPlan: p.ID}
			before, err := explain.Run(m, q, cloneState(st))
			if err != nil {
				continue
			}
			q.Down, q.Load = req.Down, req.Load
			after, err := explain.Run(m, q, cloneState(st))
			if err != nil {
				continue
			}
			row := ImpactRow{Region: m.Regions[ri].ID, Plan: p.ID, Country: country, Before: gist(before), After: gist(after)}
			row.Outcome = outcome(m, reg, row.Before, row.After)
			out.Rows = append(out.Rows, row)
		}
	}
	return out
}

func cloneState(st route.State) route.State {
	return route.State{Down: slices.Clone(st.Down), Utilization: slices.Clone(st.Utilization)}
}

// representative is the country a region's row is explained for: the country of one of the
// region's DCs, else the first it lists, else the first country it takes by default.
func representative(m *policy.Model, r policy.RegionID) (string, bool) {
	for _, dc := range m.DCs {
		if dc.Region == r {
			return dc.Country.Code(), true
		}
	}
	if cs := m.Regions[r].Countries; len(cs) > 0 {
		return cs[0].Code(), true
	}
	for _, c := range geo.Countries() {
		if m.RegionOf(c) == r {
			return c.Code(), true
		}
	}
	return "", false
}

func gist(a *explain.Answer) Decision {
	g := Decision{Primary: []string{}, Secondary: []string{}}
	for _, x := range a.Primary {
		g.Primary = append(g.Primary, x.ID)
	}
	for _, x := range a.Secondary {
		g.Secondary = append(g.Secondary, x.ID)
	}
	if a.Refusal != nil {
		g.Refusal, g.Rules = a.Refusal.Error, a.Refusal.Rules
	}
	return g
}

func outcome(m *policy.Model, r policy.RegionID, before, after Decision) string {
	switch {
	case before.Refusal != "" && after.Refusal != "":
		return "still_refused"
	case after.Refusal != "":
		return "refused"
	case before.Refusal != "":
		return "restored"
	}
	first := func(d Decision) string {
		if len(d.Primary) > 0 {
			return d.Primary[0]
		}
		if len(d.Secondary) > 0 {
			return d.Secondary[0]
		}
		return ""
	}
	inRegion := func(d Decision) int {
		n := 0
		for _, id := range d.Primary {
			if x, ok := m.DC(id); ok && m.DCs[x].Region == r {
				n++
			}
		}
		return n
	}
	if first(before) != first(after) || inRegion(after) < inRegion(before) {
		return "spilled"
	}
	return "unchanged"
}

// scenario is GET /v1/dashboard/scenario: a scenario of the next scenarioHours from the live
// state, for the operator to edit and run (see ProposeScenario).
func (d *Dashboard) scenario(w http.ResponseWriter, r *http.Request) {
	m, _ := d.core.LiveState()
	w.Header().Set("Content-Type", "application/yaml; charset=utf-8")
	io.WriteString(w, ProposeScenario(m, d.core.Datacenters(), d.cfg.Now()))
}

// proposedSurge is the largest multiplier of the proposed scenario's surge.
const proposedSurge = 2

// ProposeScenario writes the scenario the dashboard proposes: the next scenarioHours, a flat
// curve, each region with media DCs at the join rate that keeps its participants of now
// (participants over the mean stay; at least 600 joins an hour), doubling over the first
// hour. A volume over what the dashboard runs (maxSimJoins) is scaled down, and the
// scenario says by how much.
func ProposeScenario(m *policy.Model, dcs []wire.Datacenter, now time.Time) string {
	perRegion := map[string]int64{}
	hasDC := map[string]bool{}
	for _, dc := range dcs {
		perRegion[dc.Region] += dc.Participants + dc.Placed
		if slices.Contains(dc.Services, "media") {
			hasDC[dc.Region] = true
		}
	}
	perHour := map[string]float64{}
	var total float64
	for _, reg := range m.Regions {
		if hasDC[reg.ID] {
			perHour[reg.ID] = max(float64(perRegion[reg.ID])/scenario.DefaultStayMean.Hours(), 600)
			total += perHour[reg.ID] * scenarioHours * proposedSurge
		}
	}
	scale := 1.0
	if total > maxSimJoins {
		scale = maxSimJoins / total
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# The next %d hours from the live state of %s. Each region's joins keep its\n", scenarioHours, now.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "# participants of now (participants over the mean stay of %v); joins are per day,\n", scenario.DefaultStayMean)
	fmt.Fprintf(&b, "# spread over a flat curve. The DCs down now stay down for the run.\n")
	if scale < 1 {
		fmt.Fprintf(&b, "# Scaled to %.2g%% of the live rate: the dashboard simulates at most %d joins\n", scale*100, maxSimJoins)
		fmt.Fprintf(&b, "# (run the full volume with geofence sim).\n")
	}
	fmt.Fprintf(&b, "# Edit the volumes, the surge or add events (docs/sim.md), then run.\n")
	fmt.Fprintf(&b, "version: 1\nstart: %s\nduration: %dh\nregions:\n", now.UTC().Truncate(time.Minute).Format(time.RFC3339), scenarioHours)
	for _, reg := range m.Regions {
		if v, ok := perHour[reg.ID]; ok {
			fmt.Fprintf(&b, "  %s:\n    joins: %d\n    curve: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n", reg.ID, int64(v*24*scale))
		}
	}
	if len(perHour) == 0 {
		fmt.Fprintf(&b, "  {}\n")
	}
	fmt.Fprintf(&b, "surge:\n  - {at: 0m, multiplier: 1}\n  - {at: 60m, multiplier: %d}\n", proposedSurge)
	return b.String()
}

// SimRequest is the body of POST /v1/dashboard/sim.
type SimRequest struct {
	// Scenario is the scenario's YAML (docs/sim.md). Required.
	Scenario string `json:"scenario"`
	// Seed seeds the run; 0 is seed 0.
	Seed uint64 `json:"seed"`
}

// SimAnswer is the answer: the summary and the simulator's own SVG plots.
type SimAnswer struct {
	Down    []string `json:"down"` // the DCs down for the whole run (down in the live state)
	Summary any      `json:"summary"`
	Plots   struct {
		Utilization string `json:"utilization"`
		Refusals    string `json:"refusals"`
		Spill       string `json:"spill"`
	} `json:"plots"`
	Violations int `json:"violations"`
}

func (d *Dashboard) runSim(w http.ResponseWriter, r *http.Request) {
	var req SimRequest
	if err := jsonapi.Decode(http.MaxBytesReader(w, r.Body, maxBody), &req); err != nil {
		fail(w, http.StatusBadRequest, wire.CodeBadRequest, "%v", err)
		return
	}
	sc, errs := scenario.Parse("scenario", []byte(req.Scenario))
	if len(errs) > 0 {
		d.metrics.sims.WithLabelValues(simInvalid).Inc()
		fail(w, http.StatusBadRequest, wire.CodeBadRequest, "%v", errs)
		return
	}
	if sc.Duration > maxSimDuration {
		d.metrics.sims.WithLabelValues(simInvalid).Inc()
		fail(w, http.StatusBadRequest, wire.CodeBadRequest, "duration %v: the dashboard runs at most %v (run longer ones with geofence sim)", sc.Duration, maxSimDuration)
		return
	}
	if j := scenarioJoins(sc); j > maxSimJoins {
		d.metrics.sims.WithLabelValues(simInvalid).Inc()
		fail(w, http.StatusBadRequest, wire.CodeBadRequest, "the scenario has about %.0f joins: the dashboard runs at most %d (run bigger ones with geofence sim)", j, maxSimJoins)
		return
	}
	if len(sc.Events) > 0 {
		for _, e := range sc.Events {
			if e.Kind == scenario.Swap {
				d.metrics.sims.WithLabelValues(simInvalid).Inc()
				fail(w, http.StatusBadRequest, wire.CodeBadRequest, "%d:%d: config swaps read files; run them with geofence sim", e.Pos.Line, e.Pos.Col)
				return
			}
		}
	}
	select {
	case d.sim <- struct{}{}:
		defer func() { <-d.sim }()
	default:
		d.metrics.sims.WithLabelValues(simBusy).Inc()
		w.Header().Set("Retry-After", "10")
		fail(w, http.StatusTooManyRequests, wire.CodeLimit, "a simulation is already running; retry when it ends")
		return
	}
	m := d.core.Model()
	var down []string
	for _, dc := range d.core.Datacenters() {
		if dc.Down {
			down = append(down, dc.ID)
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), d.cfg.SimTimeout)
	defer cancel()
	res, err := sim.Run(ctx, sim.Options{Model: m, Scenario: sc, Seed: req.Seed, Down: down})
	if err != nil {
		var el config.ErrorList
		switch {
		case errors.As(err, &el):
			d.metrics.sims.WithLabelValues(simInvalid).Inc()
			fail(w, http.StatusBadRequest, wire.CodeBadRequest, "%v", err)
		case ctx.Err() != nil:
			d.metrics.sims.WithLabelValues(simTimeout).Inc()
			fail(w, http.StatusServiceUnavailable, wire.CodeInternal, "the simulation ran past %v; simulate less (duration, joins) or use geofence sim", d.cfg.SimTimeout)
		default:
			d.metrics.sims.WithLabelValues(simError).Inc()
			d.log.Error("dashboard simulation", "err", err)
			fail(w, http.StatusInternalServerError, wire.CodeInternal, "the simulation failed: %v", err)
		}
		return
	}
	d.metrics.sims.WithLabelValues(simOK).Inc()
	ans := SimAnswer{Down: down, Summary: res.SummaryJSON(), Violations: len(res.Violations)}
	if ans.Down == nil {
		ans.Down = []string{}
	}
	ans.Plots.Utilization, ans.Plots.Refusals, ans.Plots.Spill = res.UtilizationSVG(), res.RefusalsSVG(), res.SpillSVG()
	jsonapi.Write(w, http.StatusOK, ans)
}

// scenarioJoins bounds the joins a scenario makes: each region's daily joins over the run's
// share of the day, at the busiest hour of its curve, times the largest multiplier of its
// surge.
func scenarioJoins(sc *scenario.Scenario) float64 {
	peak := 1.0
	for _, p := range sc.Surge {
		peak = max(peak, p.Multiplier)
	}
	var n float64
	for _, r := range sc.Regions {
		var sum, top float64
		for _, w := range r.Curve {
			sum += w
			top = max(top, w)
		}
		if sum <= 0 {
			continue
		}
		n += r.Joins * min(1, top/sum*sc.Duration.Hours())
	}
	return n * peak * sc.Multiplier
}
