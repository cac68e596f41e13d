package policy_test

import (
	"errors"
	"testing"

	"github.com/geofence/geofence/policy"
)

func TestAdmit(t *testing.T) {
	_, m := exampleWorld(t)
	na := policy.Party{ParticipantRegion: "na", ParticipantPlan: "basic", MeetingRegion: "na", HostPlan: "basic"}
	tests := []struct {
		name     string
		party    policy.Party
		dc       string
		wantOK   bool
		wantRule string
	}{
		{"us participant in us dc", na, "us-sjc", true, ""},
		{"us participant in beijing", na, "cn-pek", false, "nothing-else-enters-china"},
		{"chinese participant in us meeting", policy.Party{ParticipantRegion: "cn", ParticipantPlan: "basic", MeetingRegion: "na", HostPlan: "basic"}, "us-sjc", false, "china-stays-in-china"},
		{"chinese meeting in beijing", policy.Party{ParticipantRegion: "cn", ParticipantPlan: "basic", MeetingRegion: "cn", HostPlan: "basic"}, "cn-pek", true, ""},
		{"basic in government dc", na, "us-gov-east", false, ""},
		{"government in government dc", policy.Party{ParticipantRegion: "na", ParticipantPlan: "government", MeetingRegion: "na", HostPlan: "government"}, "us-gov-east", true, ""},
		{"narrowed to na, dc in eu", policy.Party{ParticipantRegion: "na", ParticipantPlan: "enterprise", MeetingRegion: "na", HostPlan: "enterprise", HostDataRegions: []string{"na"}}, "eu-ams", false, ""},
		{"country in the region this policy gives it", policy.Party{ParticipantCountry: "US", ParticipantRegion: "na", ParticipantPlan: "basic", MeetingRegion: "na", HostPlan: "basic"}, "us-sjc", true, ""},
		{"country placed in another region", policy.Party{ParticipantCountry: "CN", ParticipantRegion: "na", ParticipantPlan: "basic", MeetingRegion: "na", HostPlan: "basic"}, "us-sjc", false, ""},
		{"unknown country", policy.Party{ParticipantCountry: "XK", ParticipantRegion: "na", ParticipantPlan: "basic", MeetingRegion: "na", HostPlan: "basic"}, "us-sjc", false, ""},
		{"unknown plan", policy.Party{ParticipantRegion: "na", ParticipantPlan: "platinum", MeetingRegion: "na", HostPlan: "basic"}, "us-sjc", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, ok := m.DC(tt.dc)
			if !ok {
				t.Fatalf("no dc %s", tt.dc)
			}
			err := m.Admit(tt.party, d)
			if (err == nil) != tt.wantOK {
				t.Fatalf("Admit = %v, want ok %v", err, tt.wantOK)
			}
			if err == nil {
				return
			}
			if !errors.Is(err, policy.ErrNotAdmitted) {
				t.Errorf("error %v does not match ErrNotAdmitted", err)
			}
			var r *policy.Refusal
			if !errors.As(err, &r) || r.Rule != tt.wantRule {
				t.Errorf("refusal rule = %q, want %q", r.Rule, tt.wantRule)
			}
		})
	}
}

func TestRefusalCode(t *testing.T) {
	for _, tt := range []struct {
		reason policy.Reason
		want   string
	}{{policy.ByRule, policy.CodeResidencyConflict}, {policy.ByAccount, policy.CodeResidencyConflict}, {policy.Dedicated, policy.CodePlanConflict}} {
		if got := (&policy.Refusal{Reason: tt.reason}).Code(); got != tt.want {
			t.Errorf("Code() for %v = %q, want %q", tt.reason, got, tt.want)
		}
	}
}
