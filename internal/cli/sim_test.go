package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/geofence/geofence/internal/cli"
)

const (
	twoDC      = "../../sim/testdata/two-dc.yaml"
	cycle      = "../../sim/testdata/cycle.yaml"
	failover   = "../../sim/testdata/failover.yaml"
	aprilDay   = "../../examples/april-2020-day.yaml"
	badSimFile = "testdata/sim/bad-scenario.yaml"
)

// TestSimGolden compares geofence sim's output with testdata/sim/*.golden (go test -update
// rewrites them).
func TestSimGolden(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
	}{
		{"cycle", []string{"sim", "--config", twoDC, "--scenario", cycle}, cli.ExitOK},
		{"cycle-json", []string{"sim", "--config", twoDC, "--scenario", cycle, "--json"}, cli.ExitOK},
		{"failover-seed-7", []string{"sim", "--config", twoDC, "--scenario", failover, "--seed", "7"}, cli.ExitOK},
		{"april-unverified", []string{"sim", "--config", april, "--scenario", aprilDay}, cli.ExitFinding},
		{"april-forced", []string{"sim", "--config", april, "--scenario", aprilDay, "--force", "--multiplier", "0.0002"}, cli.ExitOK},
		{"bad-scenario", []string{"sim", "--config", twoDC, "--scenario", badSimFile}, cli.ExitUsage},
		{"scenario-not-in-config", []string{"sim", "--config", twoDC, "--scenario", aprilDay}, cli.ExitUsage},
		{"find-peak-failures-1", []string{"sim", "--config", twoDC, "--scenario", cycle, "--find-peak", "--failures", "1"}, cli.ExitOK},
		{"find-peak-json", []string{"sim", "--config", twoDC, "--scenario", cycle, "--find-peak", "--max-refusal-rate", "0.1", "--json"}, cli.ExitOK},
		{"compare", []string{"sim", "--config", twoDC, "--scenario", cycle, "--compare", "../../sim/testdata/two-dc-more.yaml"}, cli.ExitOK},
		{"compare-april-unverified", []string{"sim", "--config", world, "--scenario", aprilDay, "--compare", april}, cli.ExitFinding},
		{"no-scenario", []string{"sim", "--config", twoDC}, cli.ExitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := run(tt.args...)
			if code != tt.wantCode {
				t.Errorf("got exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, stdout, stderr)
			}
			if tt.name == "no-scenario" {
				stderr = strings.SplitN(stderr, "\n", 2)[0] + "\n" // the flag listing is not pinned
			}
			got := transcript(tt.args, code, stdout, stderr)
			path := filepath.Join("testdata", "sim", tt.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("output differs from %s (run go test -update to accept it)\ngot:\n%s\nwant:\n%s", path, got, want)
			}
		})
	}
}

func TestSimOut(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := run("sim", "--config", twoDC, "--scenario", failover, "--out", dir)
	if code != cli.ExitOK {
		t.Fatalf("got exit %d: %s", code, stderr)
	}
	for _, f := range []string{"series.csv", "series.json", "refusals.csv", "spill.csv", "summary.txt", "summary.json", "utilization.svg", "refusals.svg", "spill.svg", "report.html"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: missing or empty (%v)", f, err)
		}
	}
}

// TestSimReplay: a trace written by --trace replays against a dev stack with every answer
// the same, also a trace with config swaps and capacity changes; --replay wants no scenario.
func TestSimReplay(t *testing.T) {
	trace := filepath.Join(t.TempDir(), "trace.csv")
	if code, _, stderr := run("sim", "--config", world, "--scenario", "../../sim/replay/testdata/replay.yaml", "--trace", trace); code != cli.ExitOK {
		t.Fatalf("sim --trace: exit %d\n%s", code, stderr)
	}
	code, stdout, stderr := run("sim", "--config", world, "--replay", trace)
	if code != cli.ExitOK || !strings.Contains(stdout, "answers compared, 0 differ") {
		t.Errorf("sim --replay: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	swap := filepath.Join(t.TempDir(), "swap.csv")
	if code, _, stderr := run("sim", "--config", twoDC, "--scenario", failover, "--trace", swap); code != cli.ExitOK {
		t.Fatalf("sim --trace: exit %d\n%s", code, stderr)
	}
	if code, stdout, stderr := run("sim", "--config", twoDC, "--replay", swap); code != cli.ExitOK || !strings.Contains(stdout, "answers compared, 0 differ") ||
		strings.Contains(stdout, " 0 swaps") {
		t.Errorf("replay of a run with swaps: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	// A swap to a config that does not verify (the April 2020 whitelist) is refused: the
	// replay's directory never serves it (I2).
	bad := filepath.Join(t.TempDir(), "bad-swap.csv")
	if err := os.WriteFile(bad, []byte("2020-04-15T14:00:00Z,model,"+april+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := run("sim", "--config", world, "--replay", bad); code == cli.ExitOK || !strings.Contains(stderr, "does not verify") {
		t.Errorf("replay of a swap to %s: exit %d\n%s", april, code, stderr)
	}
	if code, _, _ := run("sim", "--config", world, "--scenario", cycle, "--replay", trace); code != cli.ExitUsage {
		t.Errorf("--replay with --scenario: exit %d, want %d", code, cli.ExitUsage)
	}
}
