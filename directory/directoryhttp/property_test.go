package directoryhttp_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"testing"

	"github.com/geofence/geofence/policy"
)

// TestTicketsNeverWiden drives the directory with random load reports, health, accounts,
// meetings and participants on both example worlds (april-2020.yaml is served
// --allow-unverified) and checks every answer: a ticket names only DCs that the rules allow
// for the participant and the meeting and that the host's narrowing allows (I1, I2), of the
// right dedicated class (I3), with a truthful rule context; and when nothing allowed is
// usable the answer is an explicit refusal, never a ticket (I4).
func TestTicketsNeverWiden(t *testing.T) {
	for _, world := range []string{"../../examples/world.yaml", "../../examples/april-2020.yaml"} {
		t.Run(world, func(t *testing.T) {
			e := newEnv(t, world, nil)
			r := rand.New(rand.NewPCG(1, 2))
			countries := []string{"US", "CA", "CN", "DE", "BR", "JP", "ZZ"} // ZZ: unknown address
			accounts := []string{"acme", "globex", "initech", "us-treasury", "tsinghua-media"}
			plans := []string{"basic", "pro", "enterprise", "government"}
			regions := []string{"na", "latam", "eu", "in", "apac", "cn", "row"}
			for i := range 10 {
				body := map[string]any{"plan": plans[r.IntN(len(plans))]}
				if r.IntN(2) == 0 {
					body["home_region"] = regions[r.IntN(len(regions))]
				}
				if r.IntN(2) == 0 {
					body["data_regions"] = []string{regions[r.IntN(len(regions))], regions[r.IntN(len(regions))]}
				}
				id := fmt.Sprintf("api%d", i)
				if st, _ := e.do("PUT", "/v1/accounts/"+id, "", body, nil); st != http.StatusCreated {
					t.Fatalf("PUT account: %d", st)
				}
				accounts = append(accounts, id)
			}
			var meetings []string
			var hosts []string
			outcomes := map[int]int{}
			for step := range 3000 {
				if step%50 == 0 {
					for _, d := range e.model.DCs {
						load := []float64{0, 0.3, 0.79, 0.85, 0.99, 1, 1.2}[r.IntN(7)]
						e.report(int64(load*float64(d.Capacity)), r.IntN(6) != 0, d.ID)
					}
				}
				if len(meetings) < 5 || r.IntN(8) == 0 {
					host := accounts[r.IntN(len(accounts))]
					var m struct{ ID string }
					if st, _ := e.do("POST", "/v1/meetings", ipOf(countries[r.IntN(len(countries))]), map[string]string{"host_account": host}, &m); st != 201 {
						t.Fatalf("create meeting: %d", st)
					}
					meetings, hosts = append(meetings, m.ID), append(hosts, host)
				}
				k := r.IntN(len(meetings))
				acct := accounts[r.IntN(len(accounts))]
				cc := countries[r.IntN(len(countries))]
				st, a, _ := e.join(meetings[k], acct, cc)
				outcomes[st]++
				switch st {
				case http.StatusOK:
					e.checkTicket(a, cc, acct, hosts[k])
				case http.StatusForbidden, http.StatusServiceUnavailable:
					if a.Token != "" || len(a.Primary)+len(a.Secondary)+len(a.KMS) > 0 {
						t.Fatalf("refusal %q carries a ticket", a.Error)
					}
					if a.Error == "" || a.Message == "" {
						t.Fatalf("refusal without a code or message: %+v", a)
					}
				default:
					t.Fatalf("join: unexpected status %d %+v", st, a)
				}
			}
			if outcomes[200] == 0 || outcomes[403] == 0 || outcomes[503] == 0 {
				t.Fatalf("outcomes %v: the mix should produce tickets and both kinds of refusal", outcomes)
			}
			t.Logf("outcomes: %v", outcomes)
		})
	}
}

// checkTicket checks one ticket against the truth the test knows.
func (e *env) checkTicket(a joinAnswer, country, account, host string) {
	e.t.Helper()
	m := e.model
	c, err := e.keys.Verify(a.Token)
	if err != nil {
		e.t.Fatalf("ticket does not verify: %v", err)
	}
	// The context must be the truth: the participant's region from its country, its plan from
	// its account, the host's plan and narrowing from the host's account.
	wantRegion := m.Regions[m.DefaultRegion].ID
	if k, ok := lookupCountry(country); ok {
		wantRegion = m.Regions[m.RegionOf(k)].ID
	}
	if c.Context.ParticipantRegion != wantRegion {
		e.t.Fatalf("ticket says participant region %s, want %s", c.Context.ParticipantRegion, wantRegion)
	}
	var pa, ha struct {
		Plan        string   `json:"plan"`
		DataRegions []string `json:"data_regions"`
	}
	e.do("GET", "/v1/accounts/"+account, "", nil, &pa)
	e.do("GET", "/v1/accounts/"+host, "", nil, &ha)
	if c.Context.ParticipantPlan != pa.Plan || c.Context.HostPlan != ha.Plan || !slices.Equal(c.Context.HostDataRegions, ha.DataRegions) {
		e.t.Fatalf("ticket context %+v, want participant plan %s host plan %s narrowing %v", c.Context, pa.Plan, ha.Plan, ha.DataRegions)
	}
	party := policy.Party{ParticipantCountry: c.Context.ParticipantCountry, ParticipantRegion: wantRegion, ParticipantPlan: pa.Plan, MeetingRegion: c.Region, HostPlan: ha.Plan, HostDataRegions: ha.DataRegions}
	for _, d := range slices.Concat(c.Primary, c.Secondary, c.KMS) {
		id, ok := m.DC(d.ID)
		if !ok {
			e.t.Fatalf("ticket names unknown DC %s", d.ID)
		}
		if err := m.Admit(party, id); err != nil {
			e.t.Fatalf("ticket names a forbidden DC: %v", err)
		}
		// The product's own exceptions, stated independently of the rules engine.
		inChina := m.DCs[id].Country.Code() == "CN"
		if (wantRegion == "cn") != inChina || (c.Region == "cn") != inChina {
			e.t.Fatalf("China exception broken: participant %s meeting %s got %s", wantRegion, c.Region, d.ID)
		}
		if (pa.Plan == "government") != (m.DCs[id].Dedicated == "government") {
			e.t.Fatalf("dedicated isolation broken: plan %s got %s", pa.Plan, d.ID)
		}
	}
	if len(c.Primary)+len(c.Secondary) == 0 || len(c.KMS) == 0 {
		e.t.Fatalf("ticket without media or key servers: %+v", c)
	}
}
