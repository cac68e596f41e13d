package cli_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/geofence/geofence/internal/cli"
	"go.yaml.in/yaml/v3"
)

// flagsOf is the set of flags `geofence help CMD` documents.
func flagsOf(t *testing.T, cmd string) map[string]bool {
	t.Helper()
	code, stdout, _ := run("help", cmd)
	if code != cli.ExitOK {
		t.Fatalf("geofence help %s: exit %d", cmd, code)
	}
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`).FindAllStringSubmatch(stdout, -1) {
		flags[m[1]] = true
	}
	return flags
}

// checkArgs checks a command line of the binary: a known command, and only flags it has.
func checkArgs(t *testing.T, where string, args []string) {
	t.Helper()
	if len(args) == 0 {
		t.Fatalf("%s: no command", where)
	}
	flags := flagsOf(t, args[0])
	if len(flags) == 0 {
		t.Fatalf("%s: command %q has no flags documented", where, args[0])
	}
	for _, a := range args[1:] {
		if !strings.HasPrefix(a, "--") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !flags[name] {
			t.Errorf("%s: geofence %s has no flag --%s", where, args[0], name)
		}
	}
}

// TestDeployFiles: the systemd units and Kubernetes manifests of docs/deploy.md parse, and
// every command line in them names a real command with real flags, so they cannot drift
// from the binary.
func TestDeployFiles(t *testing.T) {
	units, _ := filepath.Glob("../../deploy/systemd/*.service")
	manifests, _ := filepath.Glob("../../deploy/kubernetes/*.yaml")
	if len(units) < 3 || len(manifests) < 2 {
		t.Fatalf("found %d units and %d manifests, want the directory, dc and kms of docs/deploy.md", len(units), len(manifests))
	}
	for _, u := range units {
		b, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		var exec string
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "ExecStart="); ok {
				exec = v
			}
		}
		f := strings.Fields(exec)
		if len(f) < 2 || !strings.HasSuffix(f[0], "/geofence") {
			t.Fatalf("%s: ExecStart %q does not run geofence", u, exec)
		}
		checkArgs(t, u, f[1:])
	}
	for _, mf := range manifests {
		b, err := os.ReadFile(mf)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		docs := 0
		for {
			var doc struct {
				Kind string `yaml:"kind"`
				Spec struct {
					Template struct {
						Spec struct {
							Containers []struct {
								Name string   `yaml:"name"`
								Args []string `yaml:"args"`
							} `yaml:"containers"`
						} `yaml:"spec"`
					} `yaml:"template"`
				} `yaml:"spec"`
			}
			if err := dec.Decode(&doc); err != nil {
				if err.Error() == "EOF" {
					break
				}
				t.Fatalf("%s: %v", mf, err)
			}
			docs++
			for _, c := range doc.Spec.Template.Spec.Containers {
				checkArgs(t, mf+" container "+c.Name, c.Args)
			}
		}
		if docs == 0 {
			t.Errorf("%s: no document", mf)
		}
	}
}
