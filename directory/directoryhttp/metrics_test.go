package directoryhttp_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestMetricNames lints every directory metric: named geofence_directory_<name>, ending in a
// unit or _total for counters, and documented in docs/metrics.md.
func TestMetricNames(t *testing.T) {
	e := newEnv(t, "../../examples/world.yaml", nil)
	e.report(0, true)
	e.join(e.meeting("acme"), "acme", "US") // so that every vector has a child
	e.join(e.meeting("acme"), "initech", "CN")
	doc, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	families, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile(`^geofence_directory_[a-z][a-z0-9_]*$`)
	if len(families) < 8 {
		t.Fatalf("gathered %d metric families, want at least 8", len(families))
	}
	for _, f := range families {
		n := f.GetName()
		if !name.MatchString(n) {
			t.Errorf("metric %q is not named geofence_directory_<name>", n)
		}
		if f.GetType().String() == "COUNTER" && !strings.HasSuffix(n, "_total") {
			t.Errorf("counter %q does not end in _total", n)
		}
		if f.GetType().String() == "HISTOGRAM" && !strings.HasSuffix(n, "_seconds") {
			t.Errorf("histogram %q does not end in its unit", n)
		}
		if !strings.Contains(string(doc), "`"+n+"`") {
			t.Errorf("metric %q is not documented in docs/metrics.md", n)
		}
	}
}
