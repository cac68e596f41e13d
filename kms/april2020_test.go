package kms

import (
	"errors"
	"fmt"
	"github.com/geofence/geofence/wire"
	"net/http"
	"strings"
	"testing"

	"github.com/geofence/geofence/crypto/keywrap"
	"github.com/geofence/geofence/geo"
	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/route"
)

// TestApril2020KeyServer replays the key half of the April 2020 incident: keys for calls
// between the US and Canada handed out from Beijing. Here a directory running
// examples/april-2020.yaml (Beijing on North America's key-server list) has signed a valid
// ticket that lists cn-pek as a key server; the Beijing key server refuses anyway, naming the
// rule, because its own policy forbids China to a North American meeting (I1). The same ticket
// gets its key from a North American key server.
func TestApril2020KeyServer(t *testing.T) {
	pek := newEnv(t, "cn-pek", nil)
	sjc := newEnv(t, "us-sjc", nil)
	tests := []struct {
		name     string
		country  string
		plan     string
		hostPlan string
	}{
		{"US participant, basic host", "US", "basic", "basic"},
		{"CA participant, basic host", "CA", "basic", "basic"},
		{"US participant, enterprise host", "US", "basic", "enterprise"},
		{"CA participant, pro plan", "CA", "pro", "basic"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newParty(t, fmt.Sprintf("p-%d", i), keywrap.X25519)
			c := naClaims(fmt.Sprintf("na-meeting-%d", i), p)
			c.Context.ParticipantCountry = tt.country
			c.Context.ParticipantPlan = tt.plan
			c.Context.HostPlan = tt.hostPlan
			if got := c.Lists("cn-pek"); len(got) != 1 || got[0] != "kms" {
				t.Fatalf("the ticket lists cn-pek in %v, want [kms]", got)
			}

			a := pek.key(c.Meeting, wire.KeyRequest{Token: pek.sign(c)})
			if a.status != http.StatusForbidden || a.err.Error != wire.CodeResidencyConflict {
				t.Fatalf("Beijing key server: got %d %s (%s), want 403 %s", a.status, a.err.Error, a.err.Message, wire.CodeResidencyConflict)
			}
			if len(a.err.Rules) != 1 || a.err.Rules[0] != "nothing-else-enters-china" {
				t.Errorf("got rules %q, want [nothing-else-enters-china]", a.err.Rules)
			}
			for _, want := range []string{"cn-pek", "nothing-else-enters-china", "CN"} {
				if !strings.Contains(a.err.Message, want) {
					t.Errorf("got message %q, want it to name %s", a.err.Message, want)
				}
			}
			if strings.Contains(string(a.body), `"wrapped":`) {
				t.Errorf("refusal carries a wrapped key: %s", a.body)
			}

			// The same ticket, at an allowed key server on its list.
			b := sjc.key(c.Meeting, wire.KeyRequest{Token: sjc.sign(c)})
			if b.status != http.StatusOK {
				t.Fatalf("San Jose key server: got %d %s (%s), want 200", b.status, b.err.Error, b.err.Message)
			}
			if b.key.KMS != "us-sjc" || b.key.Epoch != 1 {
				t.Errorf("got kms %q epoch %d, want us-sjc epoch 1", b.key.KMS, b.key.Epoch)
			}
			open(t, p, b.key)
		})
	}
	if got, want := value(t, pek.reg, "geofence_kms_refusals_total",
		map[string]string{"datacenter": "cn-pek", "reason": wire.CodeResidencyConflict, "rule": "nothing-else-enters-china"}), float64(len(tests)); got != want {
		t.Errorf("got %v residency refusals counted, want %v", got, want)
	}
	if got := value(t, pek.reg, "geofence_kms_issuances_total", map[string]string{"datacenter": "cn-pek", "suite": "x25519"}); got != 0 {
		t.Errorf("Beijing issued %v keys, want 0", got)
	}
	if got := pek.srv.Meetings(); got != 0 {
		t.Errorf("Beijing holds keys for %d meetings, want 0: a refused request must not create a key", got)
	}
}

// TestApril2020WhateverKeyServersFail checks the directory's half on the same config: for
// every subset of North America's key servers being down (2^7 subsets, Beijing's up and down
// included), the selection the directory signs into tickets never names a key server in
// China, for participants from the US and Canada on every plan offered there. When no allowed
// key server is left, the answer is an explicit refusal (I4), never Beijing.
func TestApril2020WhateverKeyServersFail(t *testing.T) {
	m := loadApril(t)
	na, ok := m.Region("na")
	if !ok {
		t.Fatal("no region na")
	}
	kms := m.Routes[na].KMS
	var pek policy.DCID = policy.None
	for _, e := range kms {
		if m.DCs[e.DC].Country.Code() == "CN" {
			pek = e.DC
		}
	}
	if pek == policy.None {
		t.Fatalf("April 2020 config: na's kms list has no Chinese key server; the scenario is gone")
	}
	type plans struct{ participant, host string }
	var planPairs []plans
	for _, p := range []string{"basic", "pro", "enterprise"} {
		planPairs = append(planPairs, plans{p, "basic"}, plans{p, "enterprise"})
	}
	planPairs = append(planPairs, plans{"government", "government"})

	selections, refusals := 0, 0
	for _, cc := range []string{"US", "CA"} {
		country, ok := geo.LookupCountry(cc)
		if !ok {
			t.Fatalf("unknown country %s", cc)
		}
		for _, pp := range planPairs {
			pplan, _ := m.Plan(pp.participant)
			hplan, _ := m.Plan(pp.host)
			p := route.Participant{Region: m.RegionOf(country), Plan: pplan, Location: country.Centroid(), Located: true}
			mt := route.Meeting{Region: na, HostPlan: hplan, Home: policy.None}
			for mask := range 1 << len(kms) {
				st := route.State{Down: make([]bool, len(m.DCs))}
				var down []string
				for i, e := range kms {
					if mask&(1<<i) != 0 {
						st.Down[e.DC] = true
						down = append(down, m.DCs[e.DC].ID)
					}
				}
				var sel route.Selection
				err := route.Select(m, p, mt, st, &sel)
				name := fmt.Sprintf("%s %s/%s, down %v", cc, pp.participant, pp.host, down)
				if err != nil {
					var ref *route.Refusal
					if !errors.As(err, &ref) {
						t.Fatalf("%s: got error %v, want a selection or a *route.Refusal", name, err)
					}
					refusals++
					continue
				}
				selections++
				if len(sel.KMS) == 0 {
					t.Errorf("%s: a selection with no key server, want a refusal", name)
				}
				for _, d := range sel.KMS {
					if m.DCs[d].Country.Code() == "CN" {
						t.Errorf("%s: selected key server %s in China", name, m.DCs[d].ID)
					}
				}
			}
		}
	}
	// Both outcomes must occur, or the loop proved nothing: some subsets leave an allowed
	// key server up, and the one where only Beijing is up must be refused.
	t.Logf("%d selections, %d refusals, none naming a key server in China", selections, refusals)
	if selections == 0 || refusals == 0 {
		t.Errorf("got %d selections and %d refusals, want some of each", selections, refusals)
	}
}
