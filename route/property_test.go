package route_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/geofence/geofence/config"
	"github.com/geofence/geofence/geo"
	"github.com/geofence/geofence/internal/worldgen"
	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/route"
	"github.com/geofence/geofence/verify"
)

// oracle evaluates DESIGN.md section 5's sentence directly on the parsed config, independently
// of package policy: "A DC is allowed for (region R, plan P) when every rule that applies to R
// and P allows its country (no allow list means any) and none denies it, and the dedicated
// classes match."
type oracle struct {
	c *config.Config
}

func (o oracle) regionOf(country string) string {
	for _, r := range o.c.Regions {
		for _, cc := range r.Countries {
			if cc.Value == country {
				return r.ID
			}
		}
	}
	return o.c.DefaultRegion.Value
}

func names(ns []config.Name) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.Value
	}
	return out
}

func (o oracle) dc(id string) *config.Datacenter {
	for _, d := range o.c.Datacenters {
		if d.ID == id {
			return d
		}
	}
	return nil
}

func (o oracle) plan(id string) *config.Plan {
	for _, p := range o.c.Plans {
		if p.ID == id {
			return p
		}
	}
	return nil
}

// forbiddenByRule reports whether some rule binding (region, plan) forbids the DC's country.
func (o oracle) forbiddenByRule(region, plan, dcID string) bool {
	country := o.dc(dcID).Country.Value
	for _, r := range o.c.Residency {
		applies := slices.Contains(names(r.AppliesTo), region) || slices.Contains(names(r.AppliesTo), "*")
		if slices.Contains(names(r.Except), region) {
			applies = false
		}
		if r.Plans != nil && !slices.Contains(names(r.Plans), plan) {
			applies = false
		}
		if !applies {
			continue
		}
		if r.Allow != nil && !slices.Contains(names(r.Allow), country) {
			return true
		}
		if slices.Contains(names(r.Deny), country) {
			return true
		}
	}
	return false
}

func (o oracle) allowed(region, plan, dcID string) bool {
	return !o.forbiddenByRule(region, plan, dcID) && o.dc(dcID).Dedicated.Value == o.plan(plan).Dedicated.Value
}

func (o oracle) offered(plan, region string) bool {
	p := o.plan(plan)
	return p.Regions == nil || slices.Contains(names(p.Regions), region)
}

// TestSelectionNeverWidens is the I1-I4 property over thousands of random worlds, participants,
// meetings and down/load states: every DC selection returns is allowed for the participant and
// the meeting (I1, I2), of the plan's dedicated class (I3), runs the list's service, is up and
// not full; and a refusal is explicit and of the right kind (I4).
func TestSelectionNeverWidens(t *testing.T) {
	worlds, perWorld := 300, 40
	if testing.Short() {
		worlds = 50
	}
	checked := 0
	for seed := range uint64(worlds) {
		r := rand.New(rand.NewPCG(seed, 7))
		data := worldgen.World(r, worldgen.Options{})
		c, errs := config.Parse("world.yaml", data)
		if len(errs) > 0 {
			t.Fatalf("seed %d: %v", seed, errs)
		}
		m, err := policy.New(c)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		o := oracle{c}
		var out route.Selection
		for range perWorld {
			st := route.State{Down: make([]bool, len(m.DCs)), Utilization: make([]float64, len(m.DCs))}
			for d := range m.DCs {
				st.Down[d] = r.IntN(5) == 0
				st.Utilization[d] = []float64{0, 0.2, 0.5, 0.79, 0.8, 0.95, 1, 1.3}[r.IntN(8)]
			}
			country := geo.Countries()[r.IntN(geo.NumCountries)]
			pp := policy.PlanID(r.IntN(len(m.Plans)))
			hp := pp
			if r.IntN(3) == 0 {
				hp = policy.PlanID(r.IntN(len(m.Plans)))
			}
			p := route.Participant{Region: m.RegionOf(country), Plan: pp, Location: country.Centroid(), Located: r.IntN(4) != 0}
			mt := route.Meeting{Region: policy.RegionID(r.IntN(len(m.Regions))), HostPlan: hp, Home: policy.None}
			var narrow []string
			if r.IntN(3) == 0 {
				var regs []policy.RegionID
				for i := range m.Regions {
					if r.IntN(2) == 0 {
						regs = append(regs, policy.RegionID(i))
						narrow = append(narrow, m.Regions[i].ID)
					}
				}
				mt.Narrow = m.NewAccount("x", hp, mt.Region, regs).Narrowing()
			} else {
				narrow = nil
			}
			if r.IntN(3) == 0 {
				mt.Home = policy.DCID(r.IntN(len(m.DCs)))
			}
			err := route.Select(m, p, mt, st, &out)
			pr, mr := m.Regions[p.Region].ID, m.Regions[mt.Region].ID
			pPlan, hPlan := m.Plans[pp].ID, m.Plans[hp].ID
			ctx := fmt.Sprintf("seed %d: participant %s/%s (%s), meeting %s/%s narrow %v home %d", seed, pr, pPlan, country.Code(), mr, hPlan, narrow, mt.Home)
			ok := func(id policy.DCID, svc config.Service) error {
				dcID := m.DCs[id].ID
				d := o.dc(dcID)
				switch {
				case !o.allowed(pr, pPlan, dcID):
					return fmt.Errorf("%s is forbidden for the participant", dcID)
				case !o.allowed(mr, hPlan, dcID):
					return fmt.Errorf("%s is forbidden for the meeting", dcID)
				case narrow != nil && !slices.Contains(narrow, o.regionOf(d.Country.Value)):
					return fmt.Errorf("%s is outside the host's data_regions", dcID)
				case !d.Runs(svc):
					return fmt.Errorf("%s does not run %s", dcID, svc)
				case st.Down[id]:
					return fmt.Errorf("%s is down", dcID)
				case st.Utilization[id] >= 1:
					return fmt.Errorf("%s is full", dcID)
				}
				return nil
			}
			if err == nil {
				checked++
				for _, l := range [][]policy.DCID{out.Primary, out.Secondary} {
					for _, id := range l {
						if e := ok(id, config.Media); e != nil {
							t.Fatalf("%s: selection returned %v", ctx, e)
						}
					}
				}
				for _, id := range out.KMS {
					if e := ok(id, config.KMS); e != nil {
						t.Fatalf("%s: selection returned key server %v", ctx, e)
					}
				}
				if len(out.Primary) > m.PrimaryCount || len(out.Secondary) > m.SecondaryCount || len(out.KMS) > route.KMSCount {
					t.Fatalf("%s: lists longer than their counts: %v", ctx, out)
				}
				if len(out.Primary)+len(out.Secondary) == 0 || len(out.KMS) == 0 {
					t.Fatalf("%s: success with an empty media or kms list: %v", ctx, out)
				}
				if mt.Home != policy.None && !o.allowed(pr, pPlan, m.DCs[mt.Home].ID) {
					t.Fatalf("%s: joined a meeting homed in forbidden %s", ctx, m.DCs[mt.Home].ID)
				}
				continue
			}
			var ref *route.Refusal
			if !errors.As(err, &ref) {
				t.Fatalf("%s: error %v is not a refusal", ctx, err)
			}
			// A refusal must be warranted: no usable DC in one of the needed lists, a home the
			// participant may not use, or a plan clash.
			usable := func(list []policy.Entry, svc config.Service) bool {
				return slices.ContainsFunc(list, func(e policy.Entry) bool { return ok(e.DC, svc) == nil })
			}
			rt := m.Routes[mt.Region]
			homeForbidden := mt.Home != policy.None && func() bool {
				h := m.DCs[mt.Home].ID
				return !o.allowed(pr, pPlan, h) || !o.allowed(mr, hPlan, h) ||
					narrow != nil && !slices.Contains(narrow, o.regionOf(o.dc(h).Country.Value))
			}()
			warranted := m.Plans[pp].Dedicated != m.Plans[hp].Dedicated || homeForbidden ||
				!usable(rt.Primary, config.Media) && (m.SecondaryCount == 0 || !usable(rt.Secondary, config.Media)) ||
				!usable(rt.KMS, config.KMS)
			if !warranted {
				t.Fatalf("%s: refused (%v) although usable DCs exist; explain: %+v", ctx, err, route.Explain(m, p, mt, st).Excluded)
			}
			if len(out.Primary)+len(out.Secondary)+len(out.KMS) != 0 {
				t.Fatalf("%s: refusal %v with a non-empty selection %v", ctx, err, out)
			}
		}
	}
	if checked < worlds {
		t.Fatalf("only %d successful selections checked; the generator makes too few routable worlds", checked)
	}
	t.Logf("%d worlds, %d successful selections checked", worlds, checked)
}

// TestVerifyResidencyExactly: verify reports a residency error for (region, list, DC) exactly
// when the list holds a DC that the rules forbid for some plan offered in the region that
// shares its dedicated class (I2).
func TestVerifyResidencyExactly(t *testing.T) {
	worlds := 1000
	if testing.Short() {
		worlds = 100
	}
	withErrors := 0
	for seed := range uint64(worlds) {
		r := rand.New(rand.NewPCG(seed, 11))
		c, errs := config.Parse("world.yaml", worldgen.World(r, worldgen.Options{Clean: seed%5 == 0}))
		rep, m := verify.Config(c, errs, verify.Options{})
		if m == nil {
			t.Fatalf("seed %d: no model", seed)
		}
		o := oracle{c}
		type key struct{ region, list, dc string }
		got := map[key][]string{}
		for _, f := range rep.Findings {
			if f.Code == verify.CodeResidency {
				got[key{f.Region, f.List, f.Datacenter}] = f.Plans
			}
		}
		want := map[key][]string{}
		for _, rr := range c.Routing.Regions {
			for _, l := range config.Lists {
				for _, n := range rr.List(l) {
					var plans []string
					for _, p := range c.Plans {
						if o.offered(p.ID, rr.Region.Value) && p.Dedicated.Value == o.dc(n.Value).Dedicated.Value &&
							o.forbiddenByRule(rr.Region.Value, p.ID, n.Value) {
							plans = append(plans, p.ID)
						}
					}
					if plans != nil {
						want[key{rr.Region.Value, string(l), n.Value}] = plans
					}
				}
			}
		}
		if len(want) > 0 {
			withErrors++
		}
		for k, w := range want {
			if g, ok := got[k]; !ok || !slices.Equal(g, w) {
				t.Fatalf("seed %d: %v: got plans %v (reported %v), want %v", seed, k, g, ok, w)
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				t.Fatalf("seed %d: verify reported %v, which no rule forbids", seed, k)
			}
		}
		if rep.OK != (len(rep.Findings) == 0 || !slices.ContainsFunc(rep.Findings, func(f verify.Finding) bool { return f.Severity == verify.Error })) {
			t.Fatalf("seed %d: ok=%v disagrees with the findings", seed, rep.OK)
		}
	}
	if withErrors == 0 || withErrors == worlds {
		t.Fatalf("%d of %d worlds had residency errors; the generator must make both kinds", withErrors, worlds)
	}
}
