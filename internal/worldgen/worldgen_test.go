package worldgen

import (
	"math/rand/v2"
	"testing"

	"github.com/geofence/geofence/config"
)

// TestWorldsParse checks the generator writes configs the loader accepts without structure or
// reference errors, so property tests exercise the model rather than the parser.
func TestWorldsParse(t *testing.T) {
	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, 1))
		data := World(r, Options{Clean: seed%2 == 0})
		if _, errs := config.Parse("world.yaml", data); len(errs) > 0 {
			t.Fatalf("seed %d: generated world does not parse: %v\n%s", seed, errs, data)
		}
	}
}
