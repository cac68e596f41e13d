package sim_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/geofence/geofence/internal/browsertest"
	"github.com/geofence/geofence/sim"
	"github.com/geofence/geofence/sim/scenario"
	"github.com/geofence/geofence/verify"
)

func run(t *testing.T, configPath, scenarioPath string, seed uint64) *sim.Result {
	t.Helper()
	_, m, err := verify.File(configPath, verify.Options{})
	if err != nil || m == nil {
		t.Fatalf("load %s: %v", configPath, err)
	}
	sc, err := scenario.Load(scenarioPath)
	if err != nil {
		t.Fatal(err)
	}
	res, err := sim.Run(context.Background(), sim.Options{Model: m, Scenario: sc, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestCycleByHand checks testdata/cycle.yaml on testdata/two-dc.yaml by arithmetic. A
// one-person meeting starts every 3 s (at 1.5 s, 4.5 s, ...) and stays 9 min 58 s.
// DC a (primary, 100) takes the first 100 joins, minutes 0-5; then b (secondary, 50) the next
// 50, minutes 5-7.5; joins are refused until a's first participants leave at minute 10. A
// leave comes 2 s before a join and is seen at the 2 s report in between, so from minute 10
// every freed seat is taken again: each 10-minute cycle places 100 at a, 50 at b and refuses
// 50 (no_capacity). Three cycles: 300, 150, 150. Tickets name b as a secondary while b is not
// full: 100 (minutes 0-5) + 50 + 50 + 50 (b's own joins) = 250.
func TestCycleByHand(t *testing.T) {
	res := run(t, "testdata/two-dc.yaml", "testdata/cycle.yaml", 1)
	s := res.Summary
	for _, c := range []struct {
		name      string
		got, want int64
	}{
		{"joins", s.Joins, 600},
		{"placed", s.Placed, 450},
		{"refused", s.Refused, 150},
		{"no_capacity", s.RefusedByCode["no_capacity"], 150},
		{"placements at a", s.Datacenters[0].Placements, 300},
		{"placements at b", s.Datacenters[1].Placements, 150},
		{"spill a->b", spill(s, "a", "b"), 150},
		{"spilled", s.Spilled, 150},
		{"secondaries", s.Secondaries, 250},
		{"rehomes", s.Rehomes, 0},
		{"violations", s.Violations, 0},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %d, want %d", c.name, c.got, c.want)
		}
	}
	// Minute by minute: a full from minute 5 to 10 (its seats all taken), refusals only in
	// minutes 7.5-10, 17.5-20 and 27.5-30.
	for _, m := range res.Series {
		want := int64(0)
		switch m.Minute % 10 {
		case 7:
			want = 10 // half of the minute
		case 8, 9:
			want = 20
		}
		if got := m.Refused["no_capacity"]; got != want {
			t.Errorf("minute %d: got %d refused, want %d", m.Minute, got, want)
		}
	}
	if got := s.Datacenters[0].PeakUtilization; got != 1 {
		t.Errorf("peak utilization of a: got %g, want 1", got)
	}
}

func spill(s sim.Summary, from, to string) int64 {
	for _, c := range s.Spill {
		if c.From == from && c.To == to {
			return c.Participants
		}
	}
	return 0
}

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ with the current output")

// TestGoldenSummaries runs small scenarios and compares their summaries with testdata/golden:
// the output is deterministic for a seed.
func TestGoldenSummaries(t *testing.T) {
	tests := []struct {
		name, config, scenario string
		seed                   uint64
		multiplier             float64
	}{
		{"cycle", "testdata/two-dc.yaml", "testdata/cycle.yaml", 1, 1},
		{"failover", "testdata/two-dc.yaml", "testdata/failover.yaml", 7, 1},
		{"april-world", "../examples/world.yaml", "../examples/april-2020-day.yaml", 1, 0.0005},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runOpts(t, tt.config, tt.scenario, tt.seed, tt.multiplier, false)
			var b bytes.Buffer
			res.WriteSummary(&b)
			path := filepath.Join("testdata", "golden", tt.name+".txt")
			if *update {
				os.MkdirAll(filepath.Dir(path), 0o755)
				if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if b.String() != string(want) {
				t.Errorf("summary differs from %s (run go test -update to accept it)\ngot:\n%s\nwant:\n%s", path, b.String(), want)
			}
		})
	}
}

func runOpts(t *testing.T, configPath, scenarioPath string, seed uint64, mult float64, force bool) *sim.Result {
	t.Helper()
	rep, m, err := verify.File(configPath, verify.Options{})
	if err != nil || m == nil {
		t.Fatalf("load %s: %v", configPath, err)
	}
	sc, err := scenario.Load(scenarioPath)
	if err != nil {
		t.Fatal(err)
	}
	sc.Multiplier = mult
	res, err := sim.Run(context.Background(), sim.Options{Model: m, Scenario: sc, Seed: seed, Widening: force && !rep.OK})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestDeterministic(t *testing.T) {
	summary := func(seed uint64) string {
		res := runOpts(t, "testdata/two-dc.yaml", "testdata/failover.yaml", seed, 1, false)
		var b bytes.Buffer
		if err := res.WriteSeriesCSV(&b); err != nil {
			t.Fatal(err)
		}
		res.WriteSummary(&b)
		return b.String()
	}
	a, b, c := summary(3), summary(3), summary(4)
	if a != b {
		t.Errorf("two runs with seed 3 differ")
	}
	if a == c {
		t.Errorf("seeds 3 and 4 gave the same output")
	}
}

// TestFailover: a DC going down drops its participants, who rejoin elsewhere; meetings homed
// there move (home moves); admission accepts every placement.
func TestFailover(t *testing.T) {
	res := runOpts(t, "testdata/two-dc.yaml", "testdata/failover.yaml", 7, 1, false)
	s := res.Summary
	if s.Dropped == 0 || s.Rehomes == 0 {
		t.Errorf("got %d dropped and %d home moves, want both > 0", s.Dropped, s.Rehomes)
	}
	if s.Violations != 0 {
		t.Errorf("got %d violations, want 0", s.Violations)
	}
	for _, m := range res.Series[21:40] {
		if m.Placements[0] != 0 || m.Participants[0] != 0 {
			t.Errorf("minute %d: got %d placements and %d participants on a while it is down, want 0", m.Minute, m.Placements[0], m.Participants[0])
		}
	}
	if got := res.Datacenters[1].Capacity; got != 80 {
		t.Errorf("capacity of b at the end: got %d, want 80", got)
	}
	var joins, placed, refused int64
	for _, m := range res.Series {
		joins += m.Joins
		placed += m.Placed
		for _, v := range m.Refused {
			refused += v
		}
	}
	if joins != s.Joins || placed+refused != joins {
		t.Errorf("series: %d joins = %d placed + %d refused; summary %d joins", joins, placed, refused, s.Joins)
	}
}

// TestAprilOnTheWorld: the April 2020 day on the verified world refuses instead of widening:
// participants of mainland China and of elsewhere never share a DC; the refusals name the rules.
func TestAprilOnTheWorld(t *testing.T) {
	res := runOpts(t, "../examples/world.yaml", "../examples/april-2020-day.yaml", 1, 0.0005, false)
	checkFenced(t, res)
	if len(res.Summary.WouldUse) != 0 {
		t.Errorf("got would-use %v on a verified config, want none", res.Summary.WouldUse)
	}
	if got := res.Summary.RefusedByRule["residency_conflict/china-stays-in-china"]; got == 0 {
		t.Errorf("got no china-stays-in-china refusals, want the cross-border joins of Chinese participants refused")
	}
}

// TestAprilForced: on april-2020.yaml (which does not verify, run with --force) the core still
// never places anyone in a forbidden DC, and the run reports the Chinese DCs the lists would
// have handed out.
func TestAprilForced(t *testing.T) {
	res := runOpts(t, "../examples/april-2020.yaml", "../examples/april-2020-day.yaml", 1, 0.0005, true)
	checkFenced(t, res)
	cn := map[string]int64{}
	for _, u := range res.Summary.WouldUse {
		if u.Country == "CN" {
			for r, n := range u.Regions {
				if r != "cn" {
					cn[u.Datacenter+"/"+u.List] += n
				}
			}
		}
	}
	for _, want := range []string{"cn-pek/secondary", "cn-sha/secondary"} {
		if cn[want] == 0 {
			t.Errorf("would-use %s for participants outside China: got 0, want > 0 (all: %v)", want, res.Summary.WouldUse)
		}
	}
}

func checkFenced(t *testing.T, res *sim.Result) {
	t.Helper()
	if res.Summary.Violations != 0 {
		t.Fatalf("got %d residency violations: %v", res.Summary.Violations, res.Violations)
	}
	for _, g := range res.Summary.Regions {
		for i, d := range res.Datacenters {
			if n := g.Placements[i]; n > 0 && (g.ID == "cn") != (d.Country == "CN") {
				t.Errorf("%d participants of region %s placed at %s (%s)", n, g.ID, d.ID, d.Country)
			}
		}
	}
}

// TestReportInChromium renders the HTML report in headless Chromium: the plots are there and
// the page needs nothing from the network.
func TestReportInChromium(t *testing.T) {
	res := runOpts(t, "testdata/two-dc.yaml", "testdata/failover.yaml", 7, 1, false)
	dir := t.TempDir()
	if err := res.WriteDir(dir, "failover"); err != nil {
		t.Fatal(err)
	}
	page, err := filepath.Abs(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	dom := browsertest.DOM(t, "file://"+page, 2*time.Second)
	for _, want := range []string{`id="utilization"`, `id="refusals"`, `id="spill"`, "<svg", "<polyline", "No residency violation",
		fmt.Sprintf(`<span id="refused">%d</span>`, res.Summary.Refused)} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered report lacks %q", want)
		}
	}
	for _, f := range []string{"series.csv", "series.json", "refusals.csv", "spill.csv", "summary.json", "summary.txt", "utilization.svg", "refusals.svg", "spill.svg"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: missing or empty (%v)", f, err)
		}
	}
	browsertest.Screenshot(t, "file://"+page, filepath.Join(dir, "report.png"), 1200, 1600)
}

// TestFindPeakByHand: on cycle.yaml a participant stays 598 s and 20x arrive a minute, so
// about 199.3x are present at once (x the multiplier). Both DCs (150) carry it up to
// x = 150/199.3 = 0.75; with a (the largest) down, b alone (50) up to 0.25.
func TestFindPeakByHand(t *testing.T) {
	_, m, _ := verify.File("testdata/two-dc.yaml", verify.Options{})
	sc, err := scenario.Load("testdata/cycle.yaml")
	if err != nil {
		t.Fatal(err)
	}
	peaks, err := sim.FindPeak(context.Background(), sim.Options{Model: m, Scenario: sc, Seed: 1}, sim.PeakOptions{Failures: 1})
	if err != nil {
		t.Fatal(err)
	}
	p := peaks[0]
	if p.Multiplier < 0.735 || p.Multiplier > 0.7526 {
		t.Errorf("peak with every DC up: got %g, want 0.75 (within 2%%)", p.Multiplier)
	}
	if p.MultiplierDown < 0.245 || p.MultiplierDown > 0.2509 || len(p.Down) != 1 || p.Down[0] != "a" {
		t.Errorf("peak with a down: got %g with %v down, want 0.25 with [a]", p.MultiplierDown, p.Down)
	}
	// Within the rate found, the run refuses nothing; 5% above it, it refuses.
	for _, c := range []struct {
		x       float64
		refuses bool
	}{{p.Multiplier, false}, {p.Multiplier * 1.05, true}} {
		res := runOpts(t, "testdata/two-dc.yaml", "testdata/cycle.yaml", 1, c.x, false)
		if got := res.Summary.RefusedByCode["no_capacity"] > 0; got != c.refuses {
			t.Errorf("multiplier %g: got refusals %v, want %v", c.x, got, c.refuses)
		}
	}
}

// TestCompare: the same demand on two-dc-more.yaml (b doubled, c added on the backup list)
// refuses nothing (225 seats for about 200 participants) and newly uses c.
func TestCompare(t *testing.T) {
	base := runOpts(t, "testdata/two-dc.yaml", "testdata/cycle.yaml", 1, 1, false)
	next := runOpts(t, "testdata/two-dc-more.yaml", "testdata/cycle.yaml", 1, 1, false)
	c := sim.Compare(base, next)
	if c.Refused != -150 || c.New.Refused != 0 {
		t.Errorf("refused: got %+d to %d, want -150 to 0", c.Refused, c.New.Refused)
	}
	if len(c.NewlyUsed) != 1 || c.NewlyUsed[0] != "c" || len(c.NoLongerUsed) != 0 {
		t.Errorf("got newly used %v, no longer used %v; want [c], []", c.NewlyUsed, c.NoLongerUsed)
	}
	if base.Summary.Joins != next.Summary.Joins {
		t.Errorf("joins differ: %d and %d, want the same demand", base.Summary.Joins, next.Summary.Joins)
	}
}

// TestTrace: the trace has one line per call to the core, and its join answers add up to the
// summary.
func TestTrace(t *testing.T) {
	_, m, _ := verify.File("testdata/two-dc.yaml", verify.Options{})
	sc, err := scenario.Load("testdata/cycle.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	res, err := sim.Run(context.Background(), sim.Options{Model: m, Scenario: sc, Seed: 1, Trace: &b})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	answers := map[string]int{}
	for line := range strings.Lines(b.String()) {
		f := strings.Split(strings.TrimSpace(line), ",")
		kinds[f[1]]++
		if f[1] == "join" {
			answers[f[8]]++
		}
	}
	if kinds["create"] != 600 || kinds["join"] != 600 || kinds["report"] != 2*900 {
		t.Errorf("got %v lines, want 600 create, 600 join, 1800 report", kinds)
	}
	if answers["a"] != 300 || answers["b"] != 150 || answers["no_capacity"] != 150 {
		t.Errorf("got answers %v, want a 300, b 150, no_capacity 150", answers)
	}
	if int64(kinds["join"]) != res.Summary.Joins {
		t.Errorf("got %d join lines, want %d", kinds["join"], res.Summary.Joins)
	}
}
