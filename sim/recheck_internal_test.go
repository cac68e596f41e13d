package sim

import (
	"testing"

	"github.com/geofence/geofence/directory"
	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/route"
	"github.com/geofence/geofence/verify"
	"github.com/geofence/geofence/wire"
)

// TestRecheckReportsAViolation: a ticket that hands a US participant a Chinese DC (which the
// directory never does) is caught by the admission re-check and reported, memo or not.
func TestRecheckReportsAViolation(t *testing.T) {
	_, m, err := verify.File("../examples/world.yaml", verify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pek, _ := m.DC("cn-pek")
	sjc, _ := m.DC("us-sjc")
	claims := wire.Claims{Meeting: "m1", Participant: "p1", Account: "sim-basic", Mode: wire.ModeManaged, Region: "na", Home: "us-sjc",
		Primary:   []wire.DC{{ID: "us-sjc", Country: "US"}},
		Secondary: []wire.DC{{ID: "cn-pek", Country: "CN"}},
		KMS:       []wire.DC{{ID: "us-sjc", Country: "US"}},
		Context: wire.Context{ParticipantCountry: "US", ParticipantRegion: "na", ParticipantPlan: "basic", MeetingRegion: "na",
			HostAccount: "sim-basic", HostPlan: "basic"}}
	res := &directory.JoinResult{Claims: claims, Model: m, Placement: route.Placement{
		Selection: route.Selection{Primary: []policy.DCID{sjc}, Secondary: []policy.DCID{pek}, KMS: []policy.DCID{sjc}}, Home: sjc, First: sjc}}
	for _, every := range []bool{false, true} {
		s := &sim{opts: Options{RecheckEvery: every}, admitted: map[admitKey][]uint8{}}
		for range 2 {
			s.recheck(m, res, fastKey{model: m, country: 1, acct: 1, home: 1})
		}
		if s.nviol != 2 || len(s.viol) != 2 || s.viol[0].Datacenter != "cn-pek" || s.viol[0].Rule != "nothing-else-enters-china" {
			t.Errorf("recheck every %v: got %d violations %+v, want 2 at cn-pek by nothing-else-enters-china", every, s.nviol, s.viol)
		}
	}
}

// The first index of the memo is only an index: a ticket whose rule context differs from the
// one an entry was made for (a core that wrote another context for the same participant) is
// checked on its own context. Here a Chinese participant's ticket lists us-sjc under the key
// of a US participant for whom us-sjc was admitted.
func TestRecheckFastKeyIsVerified(t *testing.T) {
	_, m, err := verify.File("../examples/world.yaml", verify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sjc, _ := m.DC("us-sjc")
	us := wire.Claims{Meeting: "m1", Participant: "p1", Account: "sim-basic", Mode: wire.ModeManaged, Region: "na", Home: "us-sjc",
		Primary: []wire.DC{{ID: "us-sjc", Country: "US"}}, KMS: []wire.DC{{ID: "us-sjc", Country: "US"}},
		Context: wire.Context{ParticipantCountry: "US", ParticipantRegion: "na", ParticipantPlan: "basic", MeetingRegion: "na",
			HostAccount: "sim-basic", HostPlan: "basic"}}
	cn := us
	cn.Context.ParticipantCountry, cn.Context.ParticipantRegion = "CN", "cn"
	pl := route.Placement{Selection: route.Selection{Primary: []policy.DCID{sjc}, KMS: []policy.DCID{sjc}}, Home: sjc, First: sjc}
	s := &sim{admitted: map[admitKey][]uint8{}}
	fk := fastKey{model: m, country: 1, acct: 1, home: 1}
	s.recheck(m, &directory.JoinResult{Claims: us, Model: m, Placement: pl}, fk)
	if s.nviol != 0 {
		t.Fatalf("the US participant's ticket: %d violations %+v", s.nviol, s.viol)
	}
	s.recheck(m, &directory.JoinResult{Claims: cn, Model: m, Placement: pl}, fk)
	if s.nviol == 0 || s.viol[0].Datacenter != "us-sjc" || s.viol[0].ParticipantCountry != "CN" {
		t.Fatalf("the Chinese participant's ticket under the same first key: violations %+v, want us-sjc refused", s.viol)
	}
}
