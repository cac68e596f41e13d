package replay_test

import (
	"bytes"
	"context"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/sim"
	"github.com/geofence/geofence/sim/replay"
	"github.com/geofence/geofence/sim/scenario"
	"github.com/geofence/geofence/verify"
)

// trace runs testdata/replay.yaml on the example world and returns the model, the result and
// the trace.
func trace(t *testing.T) (*policy.Model, *sim.Result, []byte) {
	t.Helper()
	rep, m, err := verify.File("../../examples/world.yaml", verify.Options{})
	if err != nil || !rep.OK {
		t.Fatalf("example world: %v %v", err, rep)
	}
	sc, err := scenario.Load("testdata/replay.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	res, err := sim.Run(context.Background(), sim.Options{Model: m, Scenario: sc, Seed: 3, Trace: &buf})
	if err != nil {
		t.Fatal(err)
	}
	return m, res, buf.Bytes()
}

// TestReplayMatchesTheDirectory: every meeting and every join of a simulated run, replayed in
// order over the HTTP API of a dev stack without agents (tickets signed and verified) with the
// same load reports at the same simulated times, gets the answer the simulator got: the
// same region, the same primary and secondary lists and home, or the same refusal.
func TestReplayMatchesTheDirectory(t *testing.T) {
	m, res, data := trace(t)
	tr, err := replay.Parse(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	got, err := replay.Dev(context.Background(), tr, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("replayed %d calls: %d meetings, %d joins, %d load reports; %d answers compared, %d differ", got.Calls, got.Meetings, got.Joins, got.Reports, got.Compared, got.Differ)
	for _, x := range got.Mismatches {
		t.Errorf("%s\n\tdirectory said: %s", x, x.Directory)
	}
	if got.Differ > len(got.Mismatches) {
		t.Errorf("and %d more mismatches", got.Differ-len(got.Mismatches))
	}
	s := res.Summary
	if int64(got.Joins) != s.Joins || int64(got.Meetings) != s.Meetings {
		t.Errorf("replayed %d meetings and %d joins; the run had %d meetings, %d joins", got.Meetings, got.Joins, s.Meetings, s.Joins)
	}
	if got.Compared != got.Meetings+got.Joins {
		t.Errorf("compared %d answers of %d meetings and %d joins", got.Compared, got.Meetings, got.Joins)
	}
	// The run must exercise what matters: refusals by rule, rejoins after a DC went down,
	// re-homed meetings, secondaries.
	if s.Refused == 0 || s.Dropped == 0 || s.Rehomes == 0 || s.Secondaries == 0 {
		t.Errorf("the scenario no longer exercises refusals (%d), drops (%d), re-homing (%d) and secondaries (%d)", s.Refused, s.Dropped, s.Rehomes, s.Secondaries)
	}
}

// TestReplayFindsADifference: a trace whose answer was changed is reported, line and all.
func TestReplayFindsADifference(t *testing.T) {
	m, _, data := trace(t)
	lines := strings.Split(string(data), "\n")
	changed := 0
	for i, l := range lines {
		f := strings.Split(l, ",")
		if len(f) == 12 && f[1] == "join" && f[9] != "" && strings.Contains(f[10], " ") {
			f[10] = f[10][strings.Index(f[10], " ")+1:] + " " + f[10][:strings.Index(f[10], " ")] // swap the first primary away
			lines[i] = strings.Join(f, ",")
			changed = i + 1
			break
		}
	}
	if changed == 0 {
		t.Fatal("no join with two primaries in the trace")
	}
	tr, err := replay.Parse(strings.NewReader(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	got, err := replay.Dev(context.Background(), tr, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Differ != 1 || got.Mismatches[0].Line != changed {
		t.Fatalf("got %d mismatches %v, want the one at line %d", got.Differ, got.Mismatches, changed)
	}
}

// TestReplaySwaps: a run whose capacities change and whose config is swapped replays with
// every answer the same, the directory's model swapped as the simulator's was; without the
// capacity changes the same trace differs, so the replay does apply them.
func TestReplaySwaps(t *testing.T) {
	_, m, err := verify.File("../../examples/world.yaml", verify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := scenario.Load("testdata/replay-swaps.yaml")
	if err != nil {
		t.Fatal(err)
	}
	load := func(path string) (*policy.Model, error) {
		rep, m, err := verify.File(path, verify.Options{})
		if err != nil || !rep.OK {
			t.Fatalf("swap in %s: %v %v", path, err, rep)
		}
		return m, nil
	}
	var buf bytes.Buffer
	res, err := sim.Run(context.Background(), sim.Options{Model: m, Scenario: sc, Seed: 5, Trace: &buf,
		LoadConfig: func(path string) (*policy.Model, error) { return load(filepath.Join("testdata", path)) }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Summary.Spilled == 0 || res.Summary.ConfigSwaps != 2 {
		t.Fatalf("the run spilled %d joins and swapped %d models; the scenario should spill some and swap 2", res.Summary.Spilled, res.Summary.ConfigSwaps)
	}
	tr, err := replay.Parse(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	got, err := replay.Dev(context.Background(), tr, m, load)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range got.Mismatches {
		t.Errorf("%s\n\tdirectory said: %s", x, x.Directory)
	}
	if got.Swaps != 3 || int64(got.Joins) != res.Summary.Joins {
		t.Errorf("replayed %d swaps and %d joins, want 3 (two capacity lines, one config) and %d", got.Swaps, got.Joins, res.Summary.Joins)
	}

	var kept []string
	for _, l := range strings.Split(buf.String(), "\n") {
		if !strings.Contains(l, ",capacity,") {
			kept = append(kept, l)
		}
	}
	tr, err = replay.Parse(strings.NewReader(strings.Join(kept, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	if got, err = replay.Dev(context.Background(), tr, m, load); err != nil {
		t.Fatal(err)
	}
	if got.Differ == 0 {
		t.Error("the trace without its capacity changes replayed without a difference")
	}

	// Over a URL, without a directory to swap models into, a swap is refused.
	tr, err = replay.Parse(strings.NewReader("2020-04-15T14:03:00Z,capacity,us-den,20\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := replay.Run(context.Background(), tr, replay.Options{URL: "http://127.0.0.1:1"}); err == nil || !strings.Contains(err.Error(), "swaps cannot be replayed") {
		t.Errorf("a replay over a URL of a trace that swaps: %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tt := range []struct{ name, trace, want string }{
		{"no kind", "2020-04-15T00:00:00Z\n", "line 1: want a time and a kind"},
		{"bad time", "yesterday,end,m\n", `line 1: time "yesterday"`},
		{"unknown", "2020-04-15T00:00:00Z,teleport,x\n", `line 1: unknown call "teleport"`},
		{"arity", "2020-04-15T00:00:00Z,end\n", "line 1: end has 0 fields, want 1"},
		{"country", "2020-04-15T00:00:00Z,create,m,a,XX,1,2,managed,na\n", `line 1: country "XX"`},
		{"latitude", "2020-04-15T00:00:00Z,create,m,a,US,91,2,managed,na\n", `line 1: latitude "91"`},
		{"report", "\n2020-04-15T00:00:00Z,report,a,-x,true\n", `line 2: participants "-x"`},
		{"capacity", "2020-04-15T00:00:00Z,capacity,us-den,0\n", `line 1: capacity "0"`},
		{"quote", "2020-04-15T00:00:00Z,end,\"m\n", "line 1:"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := replay.Parse(strings.NewReader(tt.trace))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add("2020-04-15T00:00:00Z,account,sim-basic,basic\n2020-04-15T00:00:01Z,create,M,sim-basic,US,40.71,-74.01,managed,na\n")
	f.Add("2020-04-15T00:00:01Z,join,M,p1,acme,DE,51.1657,10.4515,eu-fra,eu-fra,eu-fra eu-ams,us-nyc\n")
	f.Add("2020-04-15T00:00:02Z,report,us-sjc,12,false\n2020-04-15T00:00:03Z,end,M\n")
	f.Fuzz(func(t *testing.T, data string) {
		tr, err := replay.Parse(strings.NewReader(data))
		if err != nil {
			return
		}
		for _, c := range tr.Calls {
			if c.Kind == "" || c.Line < 1 {
				t.Fatalf("call without a kind or a line: %+v", c)
			}
		}
		// The trace's first point is at the first address of the prefix; no other is found.
		for _, a := range []string{"2001:db8::1", "2001:db8::ffff:ffff", "127.0.0.1"} {
			res, err := tr.Locator().Lookup(netip.MustParseAddr(a))
			if err != nil || res.Found && (res.Country == "" || !res.HasLocation) {
				t.Fatalf("lookup %s: %+v, %v", a, res, err)
			}
		}
	})
}
