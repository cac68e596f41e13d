package cli

import (
	"testing"

	"github.com/geofence/geofence/internal/etcdtest"
)

// TestMain lets the test binary serve as an etcd member for the tests of the clustered
// directory (package etcdtest runs members as child processes of the test).
func TestMain(m *testing.M) { etcdtest.Main(m) }
