package policy_test

import (
	"strings"
	"testing"

	"github.com/geofence/geofence/config"
	"github.com/geofence/geofence/policy"
)

// TestWithCapacities: the new model has the changed capacities and everything else of the old;
// the old model and its config are left as they were; an unknown DC is an error.
func TestWithCapacities(t *testing.T) {
	c, m := exampleWorld(t)
	den, _ := m.DC("us-den")
	nyc, _ := m.DC("us-nyc")
	was := m.DCs[den].Capacity
	n, err := m.WithCapacities(map[string]int64{"us-den": 7})
	if err != nil {
		t.Fatal(err)
	}
	if got := n.DCs[den].Capacity; got != 7 {
		t.Errorf("us-den capacity %d in the new model, want 7", got)
	}
	if n.DCs[nyc].Capacity != m.DCs[nyc].Capacity || len(n.DCs) != len(m.DCs) || len(n.Regions) != len(m.Regions) {
		t.Error("the new model differs from the old beyond the capacity changed")
	}
	for _, d := range c.Datacenters {
		if d.ID == "us-den" && d.Capacity != was || m.DCs[den].Capacity != was {
			t.Errorf("the old model's capacity changed (config %d, model %d), want %d", d.Capacity, m.DCs[den].Capacity, was)
		}
	}
	if _, err := m.WithCapacities(map[string]int64{"xx-nowhere": 7}); err == nil || !strings.Contains(err.Error(), "xx-nowhere") {
		t.Errorf("an unknown DC: %v, want an error naming it", err)
	}
}

// exampleWorld is the config and model of examples/world.yaml.
func exampleWorld(t *testing.T) (*config.Config, *policy.Model) {
	t.Helper()
	c, err := config.Load("../examples/world.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m, err := policy.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return c, m
}
