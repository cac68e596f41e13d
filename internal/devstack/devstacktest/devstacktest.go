// Package devstacktest starts the in-process system of package devstack for a test: the
// model of a config (the example world unless told otherwise), the stack running on loopback,
// and its stop, with any error it ends on reported, when the test ends.
package devstacktest

import (
	"context"
	"errors"
	"testing"

	"github.com/geofence/geofence/config"
	"github.com/geofence/geofence/examples"
	"github.com/geofence/geofence/internal/devstack"
	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/verify"
)

// Model is the model of the config world (YAML), checked by verify; nil is examples.World.
func Model(t testing.TB, world []byte) *policy.Model {
	t.Helper()
	if world == nil {
		world = examples.World
	}
	c, errs := config.Parse("world.yaml", world)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	_, m := verify.Config(c, nil, verify.Options{})
	return m
}

// Start runs a stack of cfg (cfg.Model nil: the example world's) until the test ends. The
// stack's stop is a cleanup of t, so it runs before the cleanups registered earlier (a leak
// check, an etcd cluster).
func Start(t testing.TB, cfg devstack.Config) *devstack.Stack {
	t.Helper()
	if cfg.Model == nil {
		cfg.Model = Model(t, nil)
	}
	st, err := devstack.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("stack: %v", err)
		}
	})
	return st
}
