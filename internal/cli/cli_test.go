package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/geofence/geofence/internal/cli"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ with the current output")

// The configs the commands read, relative to this directory, so that the file names in the
// output (and so the golden files) are the same on every machine.
const (
	world   = "../../examples/world.yaml"
	april   = "../../examples/april-2020.yaml"
	noDeny  = "testdata/april-2020-no-deny.yaml"
	missing = "testdata/no-such-file.yaml"
	noModel = "testdata/no-default-region.yaml"
)

// run runs the command line in-process and returns its exit status, stdout and stderr.
func run(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := cli.Main(context.Background(), args, cli.Env{
		Stdout: &stdout, Stderr: &stderr,
		Getenv: func(string) string { return "" },
	})
	return code, stdout.String(), stderr.String()
}

// transcript is what a golden file holds: the command, its exit status and both outputs.
func transcript(args []string, code int, stdout, stderr string) string {
	return fmt.Sprintf("$ geofence %s\nexit %d\n-- stdout --\n%s-- stderr --\n%s", strings.Join(args, " "), code, stdout, stderr)
}

func TestGolden(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
	}{
		// verify
		{"verify-world", []string{"verify", world}, cli.ExitOK},
		{"verify-world-json", []string{"verify", world, "--json"}, cli.ExitOK},
		{"verify-world-failures-2", []string{"verify", "--failures", "2", world}, cli.ExitOK},
		{"verify-april", []string{"verify", april}, cli.ExitFinding},
		{"verify-april-json", []string{"verify", "--json", april}, cli.ExitFinding},
		{"verify-no-deny", []string{"verify", noDeny}, cli.ExitOK},

		// explain, on the world example
		{"explain-us", []string{"explain", world, "--country", "US"}, cli.ExitOK},
		{"explain-us-json", []string{"explain", world, "--country", "US", "--json"}, cli.ExitOK},
		{"explain-us-from", []string{"explain", world, "--country", "US", "--from", "40.71,-74.01"}, cli.ExitOK},
		{"explain-cn", []string{"explain", world, "--country", "CN"}, cli.ExitOK},
		{"explain-cn-json", []string{"explain", world, "--country", "CN", "--json"}, cli.ExitOK},
		{"explain-cn-meeting-na", []string{"explain", world, "--country", "CN", "--meeting-region", "na"}, cli.ExitFinding},
		{"explain-cn-meeting-na-json", []string{"explain", world, "--country", "CN", "--meeting-region", "na", "--json"}, cli.ExitFinding},
		{"explain-government", []string{"explain", world, "--country", "US", "--plan", "government"}, cli.ExitOK},
		{"explain-government-json", []string{"explain", world, "--country", "US", "--plan", "government", "--json"}, cli.ExitOK},
		{"explain-government-host-basic", []string{"explain", world, "--country", "US", "--plan", "government", "--host-plan", "basic"}, cli.ExitFinding},
		{"explain-government-canada", []string{"explain", world, "--country", "CA", "--plan", "government"}, cli.ExitOK},
		{"explain-meeting-region-eu", []string{"explain", world, "--country", "US", "--meeting-region", "eu"}, cli.ExitOK},
		{"explain-account-acme", []string{"explain", world, "--country", "DE", "--account", "acme"}, cli.ExitOK},
		{"explain-account-acme-json", []string{"explain", world, "--country", "DE", "--account", "acme", "--json"}, cli.ExitOK},
		{"explain-account-treasury-ca", []string{"explain", world, "--country", "CA", "--account", "us-treasury"}, cli.ExitOK},
		{"explain-down", []string{"explain", world, "--country", "US", "--down", "us-den,us-sjc"}, cli.ExitOK},
		{"explain-down-all-cn", []string{"explain", world, "--country", "CN", "--down", "cn-pek", "--down", "cn-sha"}, cli.ExitFinding},
		{"explain-load", []string{"explain", world, "--country", "US", "--load", "us-den=0.9,ca-yyz=1"}, cli.ExitOK},
		{"explain-load-json", []string{"explain", world, "--country", "US", "--load", "us-den=0.9,ca-yyz=1", "--json"}, cli.ExitOK},
		{"explain-april", []string{"explain", april, "--country", "US"}, cli.ExitOK},

		// diff
		{"diff-same", []string{"diff", world, world}, cli.ExitOK},
		{"diff-world-april", []string{"diff", world, april}, cli.ExitOK},
		{"diff-world-april-json", []string{"diff", "--json", world, april}, cli.ExitOK},
		// April 2020's lists name datacenters the rules forbid: nobody can reach them, so
		// nothing widens, but the new config does not verify, and the gate says so.
		{"diff-world-april-fail-on-widen", []string{"diff", world, april, "--fail-on-widen"}, cli.ExitFinding},
		{"diff-world-april-json-fail-on-widen", []string{"diff", "--json", "--fail-on-widen", world, april}, cli.ExitFinding},
		// Fixing April 2020 passes the gate: the old config's errors are only pointed out.
		{"diff-april-world-fail-on-widen", []string{"diff", april, world, "--fail-on-widen"}, cli.ExitOK},
		// A config without a model cannot be compared: its errors, then exit 2.
		{"diff-world-no-default-region", []string{"diff", world, noModel, "--fail-on-widen"}, cli.ExitUsage},
		{"diff-world-no-deny", []string{"diff", world, noDeny}, cli.ExitOK},
		{"diff-world-no-deny-fail-on-widen", []string{"diff", world, noDeny, "--fail-on-widen"}, cli.ExitFinding},
		{"diff-world-no-deny-json", []string{"diff", "--fail-on-widen", "--json", world, noDeny}, cli.ExitFinding},
		{"diff-no-deny-world-fail-on-widen", []string{"diff", noDeny, world, "--fail-on-widen"}, cli.ExitOK},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		if seen[tt.name] {
			t.Fatalf("two cases named %s", tt.name)
		}
		seen[tt.name] = true
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := run(tt.args...)
			if code != tt.wantCode {
				t.Errorf("got exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, stdout, stderr)
			}
			got := transcript(tt.args, code, stdout, stderr)
			path := filepath.Join("testdata", tt.name+".golden")
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

	// Every golden file belongs to a case, so a renamed case leaves nothing stale behind.
	if !*update {
		files, _ := filepath.Glob(filepath.Join("testdata", "*.golden"))
		for _, f := range files {
			if name := strings.TrimSuffix(filepath.Base(f), ".golden"); !seen[name] {
				t.Errorf("%s belongs to no test case; delete it", f)
			}
		}
	}
}

// TestUsageErrors checks the exit status and the first line of stderr of commands given
// wrong arguments or an unreadable file. They are no golden files: the flag listing that
// follows a usage error grows with every new flag.
func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		wantCode  int
		wantFirst string // the first line of stderr
		wantUsage bool   // the command's usage follows
	}{
		{"verify help", []string{"verify", "-h"}, cli.ExitOK, "usage: geofence verify CONFIG [--json] [--failures K]", true},
		{"verify without a config", []string{"verify"}, cli.ExitUsage, "geofence verify: want exactly one CONFIG file, got 0 arguments", true},
		{"verify two configs", []string{"verify", world, april}, cli.ExitUsage, "geofence verify: want exactly one CONFIG file, got 2 arguments", true},
		{"verify unknown flag", []string{"verify", world, "--strict"}, cli.ExitUsage, "flag provided but not defined: -strict", true},
		{"verify bad --failures", []string{"verify", world, "--failures", "0"}, cli.ExitUsage, "geofence verify: --failures must be between 1 and 16, got 0", true},
		{"verify --failures over the maximum", []string{"verify", world, "--failures", "17"}, cli.ExitUsage, "geofence verify: --failures must be between 1 and 16, got 17", true},
		{"verify huge --failures", []string{"verify", world, "--failures", "9223372036854775807"}, cli.ExitUsage, "geofence verify: --failures must be between 1 and 16, got 9223372036854775807", true},
		{"verify --failures not a number", []string{"verify", world, "--failures", "two"}, cli.ExitUsage, `invalid value "two" for flag -failures: parse error`, true},
		{"verify missing file", []string{"verify", missing}, cli.ExitUsage, "geofence verify: read config: stat testdata/no-such-file.yaml: no such file or directory", false},
		{"verify a directory", []string{"verify", "testdata"}, cli.ExitUsage, "geofence verify: read config: testdata is a directory, not a regular file", false},
		// A device is refused before it is read: /dev/zero would never end.
		{"verify a device", []string{"verify", "/dev/zero"}, cli.ExitUsage, "geofence verify: read config: /dev/zero is a device, not a regular file", false},
		// After "--" every argument is a file, even one that looks like a flag.
		{"verify after --", []string{"verify", "--", "-world.yaml"}, cli.ExitUsage, "geofence verify: read config: stat -world.yaml: no such file or directory", false},
		{"explain without a config", []string{"explain", "--country", "US"}, cli.ExitUsage, "geofence explain: want exactly one CONFIG file, got 0 arguments", true},
		{"explain without --country", []string{"explain", world}, cli.ExitUsage, "geofence explain: --country is required", true},
		{"explain unknown flag", []string{"explain", world, "--country", "US", "--region", "na"}, cli.ExitUsage, "flag provided but not defined: -region", true},
		{"explain unknown country", []string{"explain", world, "--country", "XX"}, cli.ExitUsage, `geofence explain: unknown country "XX": give an ISO 3166-1 alpha-2 code such as US`, false},
		{"explain unknown plan", []string{"explain", world, "--country", "US", "--plan", "platinum"}, cli.ExitUsage, `geofence explain: unknown plan "platinum"`, false},
		{"explain unknown account", []string{"explain", world, "--country", "US", "--account", "initrode"}, cli.ExitUsage, `geofence explain: unknown account "initrode"`, false},
		{"explain unknown meeting region", []string{"explain", world, "--country", "US", "--meeting-region", "mars"}, cli.ExitUsage, `geofence explain: unknown meeting region "mars"`, false},
		{"explain unknown datacenter down", []string{"explain", world, "--country", "US", "--down", "us-lax"}, cli.ExitUsage, `geofence explain: unknown datacenter "us-lax" in --down`, false},
		{"explain bad --load", []string{"explain", world, "--country", "US", "--load", "us-den"}, cli.ExitUsage, `geofence explain: --load: load "us-den": want DC=UTILIZATION, e.g. us-sjc=0.9`, true},
		{"explain negative --load", []string{"explain", world, "--country", "US", "--load", "us-den=-1"}, cli.ExitUsage, "geofence explain: load -1 of us-den must be a utilization >= 0 (1 is full)", false},
		{"explain bad --from", []string{"explain", world, "--country", "US", "--from", "91,0"}, cli.ExitUsage, `geofence explain: --from: location "91,0": want LAT,LON in degrees, e.g. 37.34,-121.89`, true},
		{"explain missing file", []string{"explain", missing, "--country", "US"}, cli.ExitUsage, "geofence explain: read config: stat testdata/no-such-file.yaml: no such file or directory", false},
		{"diff one config", []string{"diff", world}, cli.ExitUsage, "geofence diff: want OLD and NEW config files, got 1 arguments", true},
		{"diff unknown flag", []string{"diff", world, april, "--fail-on-narrow"}, cli.ExitUsage, "flag provided but not defined: -fail-on-narrow", true},
		{"diff missing file", []string{"diff", world, missing}, cli.ExitUsage, "geofence diff: read config: stat testdata/no-such-file.yaml: no such file or directory", false},
		{"diff after --", []string{"diff", "--", world, "-new.yaml"}, cli.ExitUsage, "geofence diff: read config: stat -new.yaml: no such file or directory", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := run(tt.args...)
			if code != tt.wantCode {
				t.Errorf("got exit status %d, want %d\nstderr:\n%s", code, tt.wantCode, stderr)
			}
			if stdout != "" {
				t.Errorf("got stdout %q, want nothing", stdout)
			}
			first, rest, _ := strings.Cut(stderr, "\n")
			if first != tt.wantFirst {
				t.Errorf("got first line of stderr %q, want %q", first, tt.wantFirst)
			}
			usage := "usage: geofence " + tt.args[0] + " "
			if gotUsage := strings.HasPrefix(first, usage) || strings.HasPrefix(rest, usage); gotUsage != tt.wantUsage {
				t.Errorf("got usage %v, want %v; stderr:\n%s", gotUsage, tt.wantUsage, stderr)
			}
		})
	}
}

// TestUsage checks the top-level usage. It is no golden file: the list of commands grows.
func TestUsage(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout bool // usage on stdout, else on stderr
		wantErr    string
	}{
		{"no arguments", nil, cli.ExitUsage, false, ""},
		{"help", []string{"help"}, cli.ExitOK, true, ""},
		{"-h", []string{"-h"}, cli.ExitOK, true, ""},
		{"--help", []string{"--help"}, cli.ExitOK, true, ""},
		{"unknown command", []string{"frobnicate", world}, cli.ExitUsage, false, `geofence: unknown command "frobnicate"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := run(tt.args...)
			if code != tt.wantCode {
				t.Errorf("got exit status %d, want %d", code, tt.wantCode)
			}
			usage, other := stdout, stderr
			if !tt.wantStdout {
				usage, other = stderr, stdout
			}
			if !strings.HasPrefix(strings.TrimPrefix(usage, tt.wantErr+"\n\n"), "usage: geofence COMMAND [ARGS]\n") {
				t.Errorf("got %q, want the usage", usage)
			}
			if tt.wantErr != "" && !strings.HasPrefix(usage, tt.wantErr) {
				t.Errorf("got %q, want it to start with %q", usage, tt.wantErr)
			}
			for _, cmd := range []string{"verify", "explain", "diff"} {
				if !strings.Contains(usage, "\n  "+cmd+" ") {
					t.Errorf("got usage %q, want it to list %s", usage, cmd)
				}
			}
			if other != "" {
				t.Errorf("got %q on the other stream, want nothing", other)
			}
		})
	}
}

// TestJSON checks the JSON outputs against the shapes of DESIGN.md section 6, beyond the
// golden files: the fields other tools read are there, with the right types.
func TestJSON(t *testing.T) {
	t.Run("verify", func(t *testing.T) {
		code, stdout, _ := run("verify", april, "--json")
		var rep struct {
			OK       bool `json:"ok"`
			Findings []struct {
				Severity, Code, Region, List, Datacenter, Rule, File, Message string
				Plans                                                         []string
				Line, Column                                                  int
			} `json:"findings"`
		}
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
			t.Fatalf("got invalid JSON: %v\n%s", err, stdout)
		}
		if code != cli.ExitFinding || rep.OK || len(rep.Findings) != 13 {
			t.Fatalf("got exit %d, ok %v, %d findings; want 1, false, 13", code, rep.OK, len(rep.Findings))
		}
		f := rep.Findings[0]
		if f.Severity != "error" || f.Code != "residency" || f.Region != "na" || f.List != "secondary" || f.Datacenter != "cn-pek" ||
			f.Rule != "nothing-else-enters-china" || f.File != april || f.Line != 195 || f.Column != 43 || strings.Join(f.Plans, ",") != "basic,pro,enterprise" {
			t.Errorf("got first finding %+v, want na secondary cn-pek at %s:195:43", f, april)
		}
	})
	t.Run("explain", func(t *testing.T) {
		code, stdout, _ := run("explain", world, "--country", "US", "--down", "us-den", "--json")
		var a struct {
			Country, Region, Plan string
			MeetingRegion         string `json:"meeting_region"`
			Primary               []struct {
				ID, Country string
				DistanceKm  float64 `json:"distance_km"`
				Utilization float64
			}
			Secondary, KMS []json.RawMessage
			Excluded       []struct{ ID, List, Reason, Rule string }
		}
		if err := json.Unmarshal([]byte(stdout), &a); err != nil {
			t.Fatalf("got invalid JSON: %v\n%s", err, stdout)
		}
		if code != cli.ExitOK || a.Country != "US" || a.Region != "na" || a.Plan != "basic" || a.MeetingRegion != "na" {
			t.Errorf("got exit %d, %+v; want 0, US in na on basic, meeting in na", code, a)
		}
		if len(a.Primary) != 3 || len(a.Secondary) != 2 || len(a.KMS) != 2 {
			t.Errorf("got %d primaries, %d secondaries, %d kms; want 3, 2, 2", len(a.Primary), len(a.Secondary), len(a.KMS))
		}
		reasons := map[string]bool{}
		for _, x := range a.Excluded {
			reasons[x.Reason] = true
			if x.ID == "us-den" && x.Reason != "down" {
				t.Errorf("got us-den excluded for %q, want down", x.Reason)
			}
		}
		for _, r := range []string{"down", "dedicated", "count"} {
			if !reasons[r] {
				t.Errorf("got no exclusion for reason %q, want one", r)
			}
		}
	})
	t.Run("diff", func(t *testing.T) {
		code, stdout, _ := run("diff", world, noDeny, "--json", "--fail-on-widen")
		var res struct {
			Widened bool
			Changes []struct {
				Region, Plan, List string
				AddedDatacenters   []string `json:"added_datacenters"`
				AddedCountries     []string `json:"added_countries"`
			}
		}
		if err := json.Unmarshal([]byte(stdout), &res); err != nil {
			t.Fatalf("got invalid JSON: %v\n%s", err, stdout)
		}
		if code != cli.ExitFinding || !res.Widened || len(res.Changes) != 21 {
			t.Fatalf("got exit %d, widened %v, %d changes; want 1, true, 21", code, res.Widened, len(res.Changes))
		}
		for _, c := range res.Changes {
			if strings.Join(c.AddedCountries, ",") != "CN" {
				t.Errorf("%s/%s %s: got added countries %v, want [CN]", c.Region, c.Plan, c.List, c.AddedCountries)
			}
		}
	})
}

// TestFixtures checks that testdata/april-2020-no-deny.yaml is the April 2020 example without
// the nothing-else-enters-china rule (and its own header comment), so that the diff golden
// files follow the examples.
func TestFixtures(t *testing.T) {
	body := func(path string) []string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(b), "\n")
		for len(lines) > 0 && strings.HasPrefix(lines[0], "#") {
			lines = lines[1:]
		}
		return lines
	}
	want := body(april)
	for i, l := range want {
		if l == "  nothing-else-enters-china:" {
			want = append(want[:i:i], want[i+4:]...)
			break
		}
	}
	if got := body(noDeny); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s is not %s without the nothing-else-enters-china rule; regenerate it", noDeny, april)
	}
}

// TestHelp: `geofence help CMD` prints exactly what `geofence CMD -h` prints, for every
// command the usage lists, and both exit 0. help's text goes to stdout (it was asked for);
// -h's goes to stderr, as the flag package does.
func TestHelp(t *testing.T) {
	code, usage, _ := run("help")
	if code != cli.ExitOK {
		t.Fatalf("got exit status %d for help, want 0", code)
	}
	_, list, _ := strings.Cut(usage, "commands:\n")
	list, _, _ = strings.Cut(list, "\n\n")
	var names []string
	for _, line := range strings.Split(list, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	if len(names) < 9 || !slices.Contains(names, "version") {
		t.Fatalf("got commands %v from the usage, want every command and version", names)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			hCode, hOut, hErr := run(name, "-h")
			code, stdout, stderr := run("help", name)
			if hCode != cli.ExitOK || code != cli.ExitOK {
				t.Errorf("got exit status %d for %s -h and %d for help %s, want 0 and 0", hCode, name, code, name)
			}
			if hOut != "" || stderr != "" {
				t.Errorf("got %q on stdout of -h and %q on stderr of help, want nothing", hOut, stderr)
			}
			if !strings.HasPrefix(stdout, "usage: geofence "+name) {
				t.Errorf("got help %q, want the command's usage", stdout)
			}
			if stdout != hErr {
				t.Errorf("got help %s:\n%s\nwant what %s -h prints:\n%s", name, stdout, name, hErr)
			}
		})
	}
	tests := []struct {
		name      string
		args      []string
		wantCode  int
		wantOut   string // prefix of stdout
		wantFirst string // first line of stderr
	}{
		{"no command", []string{"help"}, cli.ExitOK, "usage: geofence COMMAND [ARGS]\n", ""},
		{"help help", []string{"help", "help"}, cli.ExitOK, "usage: geofence COMMAND [ARGS]\n", ""},
		{"unknown command", []string{"help", "frobnicate"}, cli.ExitUsage, "", `geofence help: unknown command "frobnicate"`},
		{"two commands", []string{"help", "verify", "diff"}, cli.ExitUsage, "", "geofence help: want at most one COMMAND, got 2 arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := run(tt.args...)
			first, _, _ := strings.Cut(stderr, "\n")
			if code != tt.wantCode || !strings.HasPrefix(stdout, tt.wantOut) || tt.wantOut == "" && stdout != "" || first != tt.wantFirst {
				t.Errorf("got exit %d, stdout %q, stderr %q; want %d, stdout starting %q, first line of stderr %q", code, stdout, stderr, tt.wantCode, tt.wantOut, tt.wantFirst)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	code, stdout, stderr := run("version")
	if code != cli.ExitOK || stderr != "" {
		t.Errorf("got exit %d and stderr %q, want 0 and nothing", code, stderr)
	}
	first, rest, _ := strings.Cut(stdout, "\n")
	if !strings.HasPrefix(first, "geofence ") || !strings.Contains(rest, runtime.Version()) {
		t.Errorf("got %q, want geofence's version, then the Go version %s", stdout, runtime.Version())
	}
	if code, _, stderr := run("version", "extra"); code != cli.ExitUsage || !strings.HasPrefix(stderr, "geofence version: want no arguments, got 1\n") {
		t.Errorf("got exit %d, stderr %q for version extra; want 2 and a usage error", code, stderr)
	}
}
