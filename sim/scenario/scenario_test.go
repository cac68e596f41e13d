package scenario_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/geofence/geofence/sim/scenario"
)

func TestParseExample(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "april-2020-day.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s, errs := scenario.Parse("april-2020-day.yaml", b)
	if len(errs) > 0 {
		t.Fatalf("got errors %v, want none", errs)
	}
	if got, want := len(s.Regions), 7; got != want {
		t.Errorf("got %d regions, want %d", got, want)
	}
	if got, want := s.Regions[0].Joins, 0.40*300e6; got != want {
		t.Errorf("na joins: got %g, want %g", got, want)
	}
	if got := s.Regions[0].TZName; got != "America/New_York" {
		t.Errorf("na time zone: got %s", got)
	}
	if got := len(s.Regions[0].Countries[0].Points); got != 12 {
		t.Errorf("US points: got %d, want 12", got)
	}
	if got, want := s.Meetings.StayMean, 18*time.Minute; got != want {
		t.Errorf("stay mean: got %s, want %s", got, want)
	}
	for _, c := range []struct {
		at   time.Duration
		want float64
	}{{0, 1}, {13 * time.Hour, 1}, {13*time.Hour + 30*time.Minute, 1.15}, {14 * time.Hour, 1.3}, {20 * time.Hour, 1}} {
		if got := s.MultiplierAt(c.at); got < c.want-1e-9 || got > c.want+1e-9 {
			t.Errorf("multiplier at %s: got %g, want %g", c.at, got, c.want)
		}
	}
}

func TestDefaults(t *testing.T) {
	s, errs := scenario.Parse("s.yaml", []byte("version: 1\nregions: {na: {joins: 100}}\n"))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	m := s.Meetings
	if s.Duration != 24*time.Hour || s.ReportInterval != 2*time.Second || m.StayMean != 18*time.Minute ||
		m.SizeDist != scenario.Geometric || m.SizeMean != 4 || m.Arrivals != scenario.Poisson || s.Regions[0].Curve != scenario.DefaultCurve {
		t.Errorf("defaults not applied: %+v", s)
	}
}

// TestErrors: every problem is reported at once, with file:line:col and the path.
func TestErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown key", "version: 1\nregions: {na: {joins: 1}}\nsurprise: 1\n", []string{`s.yaml:3:1: surprise: unknown key "surprise"`}},
		{"missing regions", "version: 1\n", []string{`s.yaml:1:1: regions: missing required key "regions"`}},
		{"bad version", "version: 2\nregions: {na: {joins: 1}}\n", []string{"s.yaml:1:10: version: unsupported scenario version 2"}},
		{"joins and share", "version: 1\njoins: 10\nregions:\n  na: {joins: 1, share: 0.5}\n", []string{"s.yaml:4:3: regions.na: give the region's joins or its share"}},
		{"share without global", "version: 1\nregions:\n  na: {share: 0.5}\n", []string{"s.yaml:3:3: regions.na.share: share needs the global joins"}},
		{"bad duration", "version: 1\nduration: 10 minutes\nregions: {na: {joins: 1}}\n", []string{`s.yaml:2:11: duration: "10 minutes" is not a duration`}},
		{"bad zone", "version: 1\nregions: {na: {joins: 1, timezone: Mars/Olympus}}\n", []string{`s.yaml:2:36: regions.na.timezone: "Mars/Olympus" is not an IANA time zone`}},
		{"short curve", "version: 1\nregions: {na: {joins: 1, curve: [1, 2]}}\n", []string{"s.yaml:2:33: regions.na.curve: curve must be a list of 24 numbers"}},
		{"bad country", "version: 1\nregions: {na: {joins: 1, countries: {XX: 1}}}\n", []string{`s.yaml:2:38: regions.na.countries.XX: "XX" is not an assigned ISO 3166-1 alpha-2 country code`}},
		{"bad point", "version: 1\nregions: {na: {joins: 1, countries: {US: {weight: 1, points: [[100, 0]]}}}}\n", []string{"regions.na.countries.US.points[0]: latitude must be in [-90, 90]"}},
		{"two kinds", "version: 1\nregions: {na: {joins: 1}}\nevents:\n  - {at: 1h, down: [a], up: [a]}\n", []string{"s.yaml:4:5: events[0]: an event does exactly one thing"}},
		{"event after end", "version: 1\nduration: 1h\nregions: {na: {joins: 1}}\nevents:\n  - {at: 2h, down: [a]}\n", []string{"s.yaml:5:5: events: event at 2h0m0s is after the scenario's end"}},
		{"surge order", "version: 1\nregions: {na: {joins: 1}}\nsurge:\n  - {at: 2h, multiplier: 1}\n  - {at: 1h, multiplier: 2}\n", []string{"s.yaml:5:5: surge[1]: surge points must be in increasing time order"}},
		{"negative joins", "version: 1\nregions: {na: {joins: -5}}\n", []string{"s.yaml:2:23: regions.na.joins: must not be negative"}},
		{"bad distribution", "version: 1\nregions: {na: {joins: 1}}\nmeetings: {size: {distribution: zipf}}\n", []string{`s.yaml:3:33: meetings.size.distribution: "zipf" is not one of fixed, geometric`}},
		{"bad capacity", "version: 1\nregions: {na: {joins: 1}}\nevents: [{at: 1h, capacity: {a: 0}}]\n", []string{"s.yaml:3:33: events[0].capacity.a: capacity must be a positive whole number"}},
		{"many at once", "version: 1\nregions: {na: {joins: x}}\nmeetings: {cross_region: 2}\n", []string{"s.yaml:2:23: regions.na.joins: expected a number", "s.yaml:3:26: meetings.cross_region: must be between 0 and 1"}},
		{"not yaml", "version: [\n", []string{"s.yaml:"}},
		{"empty", "", []string{"s.yaml:1:1: scenario is empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, errs := scenario.Parse("s.yaml", []byte(tt.yaml))
			if s != nil || len(errs) == 0 {
				t.Fatalf("got no error, want %q", tt.want)
			}
			if len(errs) < len(tt.want) {
				t.Fatalf("got %d errors %v, want at least %d", len(errs), errs, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(errs[i].Error(), w) {
					t.Errorf("error %d: got %q, want it to contain %q", i, errs[i].Error(), w)
				}
			}
		})
	}
}
