package scenario_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/geofence/geofence/sim/scenario"
)

// FuzzParse: a scenario is input from whoever runs the simulator. Parse must never panic,
// must return either a scenario or errors, and every error must point inside the input.
//
//	go test ./sim/scenario -run '^$' -fuzz FuzzParse -fuzztime 60s
func FuzzParse(f *testing.F) {
	for _, p := range []string{"../../examples/april-2020-day.yaml", "../testdata/cycle.yaml", "../testdata/failover.yaml"} {
		b, err := os.ReadFile(filepath.FromSlash(p))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte(""))
	f.Add([]byte("a: &a [*a, *a, *a]\nb: &b [*a, *a]\n"))
	f.Add([]byte("version: 1\nregions: {na: {joins: 1, countries: {US: {weight: 1, points: [[1, 2], [3]]}}}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, errs := scenario.Parse("fuzz.yaml", data)
		if (s == nil) == (len(errs) == 0) {
			t.Fatalf("got scenario %v and %d errors: want exactly one of them", s != nil, len(errs))
		}
		lines := 1
		for _, c := range data {
			if c == '\n' {
				lines++
			}
		}
		for _, e := range errs {
			if e.Pos.Line < 1 || e.Pos.Col < 1 || e.Pos.Line > lines+1 {
				t.Fatalf("error %v: position %d:%d outside the %d-line input", e, e.Pos.Line, e.Pos.Col, lines)
			}
		}
		if s != nil {
			for _, r := range s.Regions {
				if r.Joins < 0 || r.Timezone == nil {
					t.Fatalf("region %s: joins %g, zone %v", r.ID, r.Joins, r.Timezone)
				}
			}
			_ = s.MultiplierAt(s.Duration / 2)
		}
	})
}
