// Package agenttest runs DC agents on loopback for the tests of the packages that talk to
// them (the client SDK, the command line). It is for tests only.
package agenttest

import (
	"context"
	"net"
	"testing"

	"github.com/geofence/geofence/agent"
)

// Start serves a on a loopback port until t ends, and returns its base URL. The agent's Serve
// must return without error when the test ends.
func Start(t testing.TB, a *agent.Agent) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent %s: %v", a.ID(), err)
		}
	})
	return "http://" + ln.Addr().String()
}
