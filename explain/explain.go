// Package explain answers "which datacenters would this participant get, and why not the
// others?": it turns a query in the user's terms (a country, a plan, an account, DCs down or
// loaded) into selection's inputs, runs route.Explain, and renders the answer as text or as
// the JSON of DESIGN.md section 6. `geofence explain` and the directory's GET /v1/explain both
// use it, so they give the same answer.
package explain

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/geofence/geofence/geo"
	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/route"
)

// Query is an explain request. Empty fields take their defaults.
type Query struct {
	Country string      // the participant's country, ISO 3166-1 alpha-2 (required)
	From    *geo.LatLon // the participant's location; default the country's centroid
	Plan    string      // the participant's plan; default the account's plan, else "basic", else the first plan
	// Account is the host account: its plan is the default host plan, its home region (when
	// it has one) the default meeting region, and its data_regions narrow the allowed set.
	Account       string
	MeetingRegion string             // default the account's home region, else the participant's region
	HostPlan      string             // default the account's plan, else the participant's plan
	Home          string             // the meeting's home DC, if it has one
	Down          []string           // DCs to treat as down
	Load          map[string]float64 // DC id -> utilization to assume
}

// DC is one selected datacenter.
type DC struct {
	ID      string `json:"id"`
	Country string `json:"country"`
	// DistanceKm is the great-circle distance selection ranked the DC by: from the
	// participant for primaries and secondaries, from Answer.KMSFrom for key servers.
	DistanceKm  float64 `json:"distance_km"`
	Utilization float64 `json:"utilization"`
}

// Excluded is a listed datacenter that was left out.
type Excluded struct {
	ID     string `json:"id"`
	List   string `json:"list"`
	Reason string `json:"reason"`
	Rule   string `json:"rule"`
}

// Refusal is the refusal selection made, if any.
type Refusal struct {
	Error   string   `json:"error"`
	Message string   `json:"message"`
	Rules   []string `json:"rules"`
}

// Answer is the explanation (the JSON of `geofence explain --json`).
type Answer struct {
	Country       string     `json:"country"`
	Region        string     `json:"region"`
	Plan          string     `json:"plan"`
	MeetingRegion string     `json:"meeting_region"`
	HostPlan      string     `json:"host_plan"`
	Account       string     `json:"account,omitempty"`
	Location      [2]float64 `json:"location"`
	Primary       []DC       `json:"primary"`
	Secondary     []DC       `json:"secondary"`
	KMS           []DC       `json:"kms"`
	// KMSFrom is where the key servers' distances are measured from, as selection ranks
	// them (DESIGN.md section 4): the first primary's id, or "" for the participant's
	// location when there is no primary.
	KMSFrom  string     `json:"kms_from"`
	Excluded []Excluded `json:"excluded"`
	Refusal  *Refusal   `json:"refusal,omitempty"`
}

// QueryError is a query naming something the model does not have.
type QueryError struct{ Msg string }

func (e *QueryError) Error() string { return e.Msg }

func queryErr(format string, args ...any) error { return &QueryError{fmt.Sprintf(format, args...)} }

// Run explains q on model m with live state st (which q.Down and q.Load override).
func Run(m *policy.Model, q Query, st route.State) (*Answer, error) {
	country, ok := geo.LookupCountry(strings.ToUpper(strings.TrimSpace(q.Country)))
	if !ok {
		return nil, queryErr("unknown country %q: give an ISO 3166-1 alpha-2 code such as US", q.Country)
	}
	var acct *policy.Account
	if q.Account != "" {
		if acct = m.Accounts[q.Account]; acct == nil {
			return nil, queryErr("unknown account %q", q.Account)
		}
	}
	plan, err := pickPlan(m, q.Plan, acct)
	if err != nil {
		return nil, err
	}
	hostPlan := plan
	if acct != nil {
		hostPlan = acct.Plan
	}
	if q.HostPlan != "" {
		if hostPlan, ok = m.Plan(q.HostPlan); !ok {
			return nil, queryErr("unknown host plan %q", q.HostPlan)
		}
	}
	p := route.Participant{Region: m.RegionOf(country), Plan: plan, Location: country.Centroid(), Located: true}
	if q.From != nil {
		if !q.From.Valid() {
			return nil, queryErr("location %g,%g is out of range", q.From.Lat, q.From.Lon)
		}
		p.Location = *q.From
	}
	mt := route.Meeting{Region: p.Region, HostPlan: hostPlan, Home: policy.None}
	if acct != nil {
		// An account without a home region has its meetings in its host's country's
		// region; explain has no host country, so the participant's own region stands in
		// (as --meeting-region documents).
		if acct.HomeRegion != policy.None {
			mt.Region = acct.HomeRegion
		}
		mt.Narrow = acct.Narrowing()
	}
	if q.MeetingRegion != "" {
		if mt.Region, ok = m.Region(q.MeetingRegion); !ok {
			return nil, queryErr("unknown meeting region %q", q.MeetingRegion)
		}
	}
	if q.Home != "" {
		if mt.Home, ok = m.DC(q.Home); !ok {
			return nil, queryErr("unknown home datacenter %q", q.Home)
		}
	}
	st, err = overlay(m, st, q.Down, q.Load)
	if err != nil {
		return nil, err
	}
	e := route.Explain(m, p, mt, st)
	// Key servers are ranked by distance from the first primary (from the participant when
	// there is none), so that is where their distances are measured from.
	kmsFrom, kmsFromID := p.Location, ""
	if len(e.Primary) > 0 {
		kmsFrom, kmsFromID = m.DCs[e.Primary[0]].Location, m.DCs[e.Primary[0]].ID
	}
	a := &Answer{
		Country: country.Code(), Region: m.Regions[p.Region].ID, Plan: m.Plans[plan].ID,
		MeetingRegion: m.Regions[mt.Region].ID, HostPlan: m.Plans[hostPlan].ID, Account: q.Account,
		Location:  [2]float64{p.Location.Lat, p.Location.Lon},
		Primary:   dcs(m, p.Location, st, e.Primary),
		Secondary: dcs(m, p.Location, st, e.Secondary),
		KMS:       dcs(m, kmsFrom, st, e.KMS),
		KMSFrom:   kmsFromID,
		Excluded:  []Excluded{},
	}
	for _, x := range e.Excluded {
		a.Excluded = append(a.Excluded, Excluded{ID: m.DCs[x.DC].ID, List: string(x.List), Reason: string(x.Reason), Rule: x.Rule})
	}
	if e.Refusal != nil {
		a.Refusal = &Refusal{Error: e.Refusal.Code, Message: e.Refusal.Message, Rules: e.Refusal.Rules}
		if a.Refusal.Rules == nil {
			a.Refusal.Rules = []string{}
		}
	}
	return a, nil
}

func pickPlan(m *policy.Model, name string, acct *policy.Account) (policy.PlanID, error) {
	if name != "" {
		p, ok := m.Plan(name)
		if !ok {
			return 0, queryErr("unknown plan %q", name)
		}
		return p, nil
	}
	if acct != nil {
		return acct.Plan, nil
	}
	if p, ok := m.Plan("basic"); ok {
		return p, nil
	}
	if len(m.Plans) == 0 {
		return 0, queryErr("the config has no plans")
	}
	return 0, nil
}

// overlay copies st and applies the query's DCs down and loads.
func overlay(m *policy.Model, st route.State, down []string, load map[string]float64) (route.State, error) {
	out := route.State{Down: make([]bool, len(m.DCs)), Utilization: make([]float64, len(m.DCs))}
	copy(out.Down, st.Down)
	copy(out.Utilization, st.Utilization)
	for _, id := range down {
		d, ok := m.DC(id)
		if !ok {
			return out, queryErr("unknown datacenter %q in --down", id)
		}
		out.Down[d] = true
	}
	for id, u := range load {
		d, ok := m.DC(id)
		if !ok {
			return out, queryErr("unknown datacenter %q in --load", id)
		}
		if u < 0 || math.IsNaN(u) || math.IsInf(u, 0) {
			return out, queryErr("load %g of %s must be a utilization >= 0 (1 is full)", u, id)
		}
		out.Utilization[d] = u
	}
	return out, nil
}

// dcs describes the selected DCs ids, with their distances from.
func dcs(m *policy.Model, from geo.LatLon, st route.State, ids []policy.DCID) []DC {
	out := make([]DC, 0, len(ids))
	for _, d := range ids {
		dc := &m.DCs[d]
		out = append(out, DC{
			ID: dc.ID, Country: dc.Country.Code(),
			DistanceKm:  math.Round(geo.DistanceKm(from, dc.Location)*10) / 10,
			Utilization: st.Utilization[d],
		})
	}
	return out
}

// ParseLoad parses "dc=0.9,dc2=1" as given to --load.
func ParseLoad(s string) (map[string]float64, error) {
	out := map[string]float64{}
	for _, kv := range SplitList(s) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("load %q: want DC=UTILIZATION, e.g. us-sjc=0.9", kv)
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return nil, fmt.Errorf("load %q: %q is not a number", kv, v)
		}
		out[strings.TrimSpace(k)] = f
	}
	return out, nil
}

// ParseLatLon parses "LAT,LON".
func ParseLatLon(s string) (geo.LatLon, error) {
	a, b, ok := strings.Cut(s, ",")
	lat, err1 := strconv.ParseFloat(strings.TrimSpace(a), 64)
	lon, err2 := strconv.ParseFloat(strings.TrimSpace(b), 64)
	p := geo.LatLon{Lat: lat, Lon: lon}
	if !ok || err1 != nil || err2 != nil || !p.Valid() {
		return geo.LatLon{}, fmt.Errorf("location %q: want LAT,LON in degrees, e.g. 37.34,-121.89", s)
	}
	return p, nil
}

// SplitList splits a comma-separated flag value, dropping empty items.
func SplitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// WriteText renders a for people.
func WriteText(w io.Writer, a *Answer) {
	fmt.Fprintf(w, "participant  %s (region %s, plan %s) at %.2f,%.2f\n", a.Country, a.Region, a.Plan, a.Location[0], a.Location[1])
	acct := ""
	if a.Account != "" {
		acct = ", host account " + a.Account
	}
	fmt.Fprintf(w, "meeting      region %s, host plan %s%s\n", a.MeetingRegion, a.HostPlan, acct)
	if a.Refusal != nil {
		fmt.Fprintf(w, "refused      %s: %s\n", a.Refusal.Error, a.Refusal.Message)
	}
	kms := "kms"
	if a.KMSFrom != "" && len(a.KMS) > 0 {
		kms = fmt.Sprintf("kms (distances from %s, the first primary)", a.KMSFrom)
	}
	for _, l := range []struct {
		name string
		dcs  []DC
	}{{"primary", a.Primary}, {"secondary", a.Secondary}, {kms, a.KMS}} {
		fmt.Fprintf(w, "%s\n", l.name)
		if len(l.dcs) == 0 {
			fmt.Fprintf(w, "  (none)\n")
		}
		for i, d := range l.dcs {
			fmt.Fprintf(w, "  %d. %-14s %s %8.0f km  utilization %.2f\n", i+1, d.ID, d.Country, d.DistanceKm, d.Utilization)
		}
	}
	if len(a.Excluded) > 0 {
		fmt.Fprintf(w, "excluded\n")
		for _, x := range a.Excluded {
			why := x.Reason
			if x.Rule != "" {
				why += " " + x.Rule
			}
			fmt.Fprintf(w, "  %-14s %-9s %s\n", x.ID, x.List, why)
		}
	}
}
