package agent

import (
	"os"
	"strings"
	"testing"

	"github.com/geofence/geofence/config"
	"github.com/geofence/geofence/policy"
)

// TestSetModel: a pushed config is served from then on (here: us-sjc's capacity changed); one
// in which this datacenter no longer runs media is refused and the agent keeps its model.
func TestSetModel(t *testing.T) {
	m := loadModel(t, "../examples/world.yaml")
	a := newAgent(t, Config{ID: "us-sjc", Model: m, Keys: staticKeys{}})
	src, err := os.ReadFile("../examples/world.yaml")
	if err != nil {
		t.Fatal(err)
	}
	parse := func(s string) *policy.Model {
		t.Helper()
		// Problems are allowed: a config can be pushed around the checks (and is modelled
		// from its well-formed parts).
		c, _ := config.Parse("world.yaml", []byte(s))
		pm, err := policy.New(c)
		if err != nil {
			t.Fatal(err)
		}
		return pm
	}
	d, _ := m.DC("us-sjc")
	old := m.DCs[d].Capacity
	bigger := parse(strings.Replace(string(src), "capacity: 1200000", "capacity: 1200001", 1))
	a.SetModel(bigger)
	if got := a.capacity.Load(); got == old || a.model.Load() != bigger {
		t.Fatalf("capacity %d after the swap (was %d), model swapped %v", got, old, a.model.Load() == bigger)
	}
	// A config where us-sjc serves keys only.
	kmsOnly := parse(strings.Replace(string(src), "services: [media, kms]", "services: [kms]", 1))
	if dd, _ := kmsOnly.DC("us-sjc"); kmsOnly.DCs[dd].Media {
		t.Skip("the edit did not reach us-sjc; the example world changed")
	}
	a.SetModel(kmsOnly)
	if a.model.Load() != bigger {
		t.Error("a config without this datacenter's media service was swapped in")
	}
}
